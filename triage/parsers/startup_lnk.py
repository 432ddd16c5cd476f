"""A small, bounded Shell Link (.lnk) reader: target path, arguments, working directory, description,
icon, and the header's target times, per [MS-SHLLINK].

Why not a library: only these few fields are needed for startup-folder triage, and a reader that
checks every length against the buffer (which is capped by the caller) cannot loop or over-read on a
hostile file. Layout used:
  ShellLinkHeader (0x4C bytes, CLSID 00021401-0000-0000-C000-000000000046; LinkFlags at 0x14,
  FileAttributes 0x18, Creation/Access/Write FILETIMEs 0x1C/0x24/0x2C, FileSize 0x34, ShowCommand 0x3C);
  LinkTargetIDList if HasLinkTargetIDList (u16 size + items, skipped);
  LinkInfo if HasLinkInfo (u32 size, u32 header size, u32 flags, volume-id / local-base-path / network /
  suffix offsets, Unicode offsets when header size >= 0x24);
  StringData NAME, RELATIVE_PATH, WORKING_DIR, COMMAND_LINE_ARGUMENTS, ICON_LOCATION, each present by its
  flag (u16 character count, UTF-16LE when IsUnicode else the ANSI code page);
  ExtraData blocks (u32 size, u32 signature) until a size < 4: EnvironmentVariableDataBlock 0xA0000001
  gives the target when it is written with environment variables.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime

from triage.parsers.registry_hive import from_filetime

LNK_CLSID = bytes.fromhex("0114020000000000c000000000000046")
HEADER_SIZE = 0x4C

HAS_ID_LIST, HAS_LINK_INFO, HAS_NAME, HAS_RELATIVE_PATH = 0x1, 0x2, 0x4, 0x8
HAS_WORKING_DIR, HAS_ARGUMENTS, HAS_ICON_LOCATION, IS_UNICODE = 0x10, 0x20, 0x40, 0x80
ENV_BLOCK = 0xA0000001
SHOW_COMMANDS = {1: "normal", 3: "maximized", 7: "minimized"}


class LnkError(ValueError):
    pass


@dataclass
class ShellLink:
    target: str | None = None
    arguments: str | None = None
    working_dir: str | None = None
    description: str | None = None
    relative_path: str | None = None
    icon_location: str | None = None
    env_target: str | None = None
    show_command: str | None = None
    target_created: datetime | None = None
    target_accessed: datetime | None = None
    target_modified: datetime | None = None
    target_size: int | None = None
    warnings: list[str] = field(default_factory=list)


def _cstring(data: bytes, off: int, unicode: bool, codepage: str = "cp1252") -> str:
    if off <= 0 or off >= len(data):
        raise LnkError(f"string offset {off} outside the structure")
    if unicode:
        end = off
        while end + 1 < len(data) and data[end:end + 2] != b"\x00\x00":
            end += 2
        return data[off:end].decode("utf-16-le", errors="replace")
    end = data.find(b"\x00", off)
    return data[off:end if end >= 0 else len(data)].decode(codepage, errors="replace")


def parse_lnk(data: bytes, codepage: str = "cp1252") -> ShellLink:
    """Parse a .lnk held in memory (the caller caps its size). Raises LnkError if it is not one."""
    if len(data) < HEADER_SIZE or struct.unpack_from("<I", data)[0] != HEADER_SIZE or data[4:20] != LNK_CLSID:
        raise LnkError("not a Shell Link file (bad header size or CLSID)")
    flags = struct.unpack_from("<I", data, 0x14)[0]
    created, accessed, written = struct.unpack_from("<QQQ", data, 0x1C)
    size, _icon, show = struct.unpack_from("<IiI", data, 0x34)
    link = ShellLink(target_created=from_filetime(created), target_accessed=from_filetime(accessed),
                     target_modified=from_filetime(written), target_size=size,
                     show_command=SHOW_COMMANDS.get(show, str(show)))
    pos = HEADER_SIZE
    if flags & HAS_ID_LIST:
        if pos + 2 > len(data):
            raise LnkError("truncated LinkTargetIDList")
        pos += 2 + struct.unpack_from("<H", data, pos)[0]
    if flags & HAS_LINK_INFO:
        if pos + 28 > len(data):
            raise LnkError("truncated LinkInfo")
        size_li, hdr, li_flags, _vol, base_off, _net, suffix_off = struct.unpack_from("<7I", data, pos)
        if size_li < 28 or pos + size_li > len(data):
            raise LnkError(f"LinkInfo size {size_li} does not fit the file")
        li = data[pos:pos + size_li]
        try:
            base = suffix = ""
            if hdr >= 0x24 and len(li) >= 36:
                ubase, usuffix = struct.unpack_from("<II", li, 28)
                if li_flags & 1 and ubase:
                    base = _cstring(li, ubase, True)
                if usuffix:
                    suffix = _cstring(li, usuffix, True)
            if not base and li_flags & 1:
                base = _cstring(li, base_off, False, codepage)
            if not suffix and suffix_off:
                suffix = _cstring(li, suffix_off, False, codepage)
            if base:
                link.target = base + suffix
        except LnkError as exc:
            link.warnings.append(f"LinkInfo: {exc}")
        pos += size_li
    unicode = bool(flags & IS_UNICODE)
    for flag, attr in ((HAS_NAME, "description"), (HAS_RELATIVE_PATH, "relative_path"),
                       (HAS_WORKING_DIR, "working_dir"), (HAS_ARGUMENTS, "arguments"),
                       (HAS_ICON_LOCATION, "icon_location")):
        if not flags & flag:
            continue
        if pos + 2 > len(data):
            raise LnkError(f"truncated StringData ({attr})")
        count = struct.unpack_from("<H", data, pos)[0]
        nbytes = count * (2 if unicode else 1)
        if pos + 2 + nbytes > len(data):
            raise LnkError(f"StringData {attr} of {count} characters runs past the end")
        raw = data[pos + 2:pos + 2 + nbytes]
        setattr(link, attr, raw.decode("utf-16-le" if unicode else codepage, errors="replace"))
        pos += 2 + nbytes
    for _ in range(64):  # ExtraData blocks
        if pos + 8 > len(data):
            break
        bsize, sig = struct.unpack_from("<II", data, pos)
        if bsize < 8 or pos + bsize > len(data):
            break
        if sig == ENV_BLOCK and bsize >= 0x314:
            u = data[pos + 8 + 260:pos + 8 + 260 + 520]
            text = u.decode("utf-16-le", errors="replace").split("\x00", 1)[0]
            if not text:
                text = data[pos + 8:pos + 8 + 260].split(b"\x00", 1)[0].decode(codepage, errors="replace")
            link.env_target = text or None
        pos += bsize
    if not link.target:
        link.target = link.env_target or link.relative_path
    return link
