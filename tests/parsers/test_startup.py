"""startup_folder parser: shortcuts built here byte by byte per [MS-SHLLINK] (ANSI and Unicode LinkInfo,
StringData, EnvironmentVariableDataBlock), plain scripts, the common folder, and broken shortcuts."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.model import Autorun, Issue
from triage.parsers.base import input_from_file
from triage.parsers.lnk import LNK_HEADER, read_link
from triage.parsers.startup import StartupFolderParser

LNK_CLSID = LNK_HEADER[4:]

USER_STARTUP = "Users/tony/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup"
COMMON_STARTUP = "ProgramData/Microsoft/Windows/Start Menu/Programs/Startup"
WRITE_TIME = datetime(2023, 11, 18, 15, 40, 22, 512588, tzinfo=UTC)


def _filetime(dt: datetime) -> int:
    delta = dt - datetime(1601, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _link_info(target: str, unicode: bool) -> bytes:
    """LinkInfo with a VolumeID and LocalBasePath (+ the Unicode offsets when unicode)."""
    header = 0x24 if unicode else 0x1C
    volume = struct.pack("<IIII", 0x11, 3, 0x1234ABCD, 0x10) + b"\x00"
    base_ansi = target.encode("cp1252", errors="replace") + b"\x00"
    suffix_ansi = b"\x00"
    vol_off = header
    base_off = vol_off + len(volume)
    suffix_off = base_off + len(base_ansi)
    body = volume + base_ansi + suffix_ansi
    extra_hdr = b""
    if unicode:
        ubase_off = suffix_off + len(suffix_ansi)
        ubase = target.encode("utf-16-le") + b"\x00\x00"
        usuffix_off = ubase_off + len(ubase)
        body += ubase + b"\x00\x00"
        extra_hdr = struct.pack("<II", ubase_off, usuffix_off)
    size = header + len(body)
    return struct.pack("<7I", size, header, 1, vol_off, base_off, 0, suffix_off) + extra_hdr + body


def _string(s: str) -> bytes:
    return struct.pack("<H", len(s)) + s.encode("utf-16-le")


def make_lnk(target: str | None, arguments: str | None = None, working_dir: str | None = None,
             description: str | None = None, *, unicode_info: bool = False, env_target: str | None = None) -> bytes:
    flags = 0x80  # IsUnicode
    flags |= 0x2 if target else 0
    flags |= 0x4 if description else 0
    flags |= 0x10 if working_dir else 0
    flags |= 0x20 if arguments else 0
    flags |= 0x200 if env_target else 0  # HasExpString
    ft = _filetime(WRITE_TIME)
    header = (struct.pack("<I", 0x4C) + LNK_CLSID + struct.pack("<II", flags, 0x20)
              + struct.pack("<QQQ", ft, ft, ft) + struct.pack("<IiIHHII", 1024, 0, 7, 0, 0, 0, 0))
    assert len(header) == 0x4C
    out = header + (_link_info(target, unicode_info) if target else b"")
    for s in (description, working_dir, arguments):
        if s:
            out += _string(s)
    if env_target:
        ansi = env_target.encode("cp1252").ljust(260, b"\x00")
        uni = env_target.encode("utf-16-le").ljust(520, b"\x00")
        out += struct.pack("<II", 0x314, 0xA0000001) + ansi + uni
    return out + struct.pack("<I", 0)


def _parse(path: Path, rel: str, modified: str | None = "2024-01-02T03:04:05Z", **kw) -> list:
    item = input_from_file(path, rel, **kw)
    if modified:
        item.entry.times = {"modified": modified}
    return list(StartupFolderParser().parse(item))


def test_user_shortcut_target_and_arguments(tmp_path):
    p = tmp_path / "Updater.lnk"
    p.write_bytes(make_lnk("C:\\Users\\Public\\u.exe", "-silent -k", "C:\\Users\\Public", "Updater"))
    (a,) = _parse(p, f"{USER_STARTUP}/Updater.lnk")
    assert isinstance(a, Autorun) and a.category == "startup_folder"
    assert a.command == "C:\\Users\\Public\\u.exe -silent -k"
    assert a.user == "tony" and a.name == "Updater.lnk"
    assert a.location == "C:\\" + USER_STARTUP.replace("/", "\\")
    assert a.last_write == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    d = a.details
    assert d["lnk_working_dir"] == "C:\\Users\\Public" and d["lnk_description"] == "Updater"
    assert d["lnk_target_modified"] == "2023-11-18T15:40:22.512588Z" and d["lnk_show_command"] == "minimized"
    assert d["scope"] == "user"


def test_unicode_link_info_and_env_block():
    link = read_link(make_lnk("C:\\Users\\Zoë\\ü.exe", unicode_info=True))
    assert link.target == "C:\\Users\\Zoë\\ü.exe"
    env = read_link(make_lnk(None, "/c start", env_target="%APPDATA%\\evil\\run.cmd"))
    assert env.target == "%APPDATA%\\evil\\run.cmd" and env.arguments == "/c start"


def test_common_folder_script_and_desktop_ini(tmp_path):
    bat = tmp_path / "sync.bat"
    bat.write_bytes(b"@echo off\r\nstart C:\\ProgramData\\s.exe\r\n")
    (a,) = _parse(bat, f"{COMMON_STARTUP}/sync.bat")
    assert a.command == "C:\\" + f"{COMMON_STARTUP}/sync.bat".replace("/", "\\")
    assert a.user is None and a.details["scope"] == "all_users"
    ini = tmp_path / "desktop.ini"
    ini.write_bytes(b"[.ShellClassInfo]\r\n")
    assert _parse(ini, f"{USER_STARTUP}/desktop.ini") == []


@pytest.mark.parametrize("data, command", [
    (b"", None), (b"MZ" + bytes(100), None), (make_lnk("C:\\x.exe", "-a")[:90], None),
    # liblnk refuses the cut string; LnkParse3 keeps the 6 characters that are there (the Issue says so)
    (make_lnk("C:\\x.exe", "a" * 10)[:-12], "C:\\x.exe aaaaaa"),
    # LinkInfo claiming to be far larger than the file
    (make_lnk("C:\\x.exe")[:0x4C] + struct.pack("<7I", 0xFFFFFF, 0x1C, 1, 0x1C, 0x2D, 0, 0x2E), None),
], ids=["empty", "not-lnk", "truncated-linkinfo", "truncated-strings", "huge-linkinfo"])
def test_broken_shortcuts_give_issue_and_still_an_autorun(tmp_path, data, command):
    p = tmp_path / "bad.lnk"
    p.write_bytes(data)
    out = _parse(p, f"{USER_STARTUP}/bad.lnk")
    issues = [o for o in out if isinstance(o, Issue)]
    autoruns = [o for o in out if isinstance(o, Autorun)]
    assert issues and len(autoruns) == 1
    if command is None:   # nothing readable: the command is the shortcut file itself
        assert autoruns[0].command.endswith("bad.lnk")
    else:
        assert autoruns[0].command == command and "LnkParse3" in issues[0].message


def test_patterns():
    assert StartupFolderParser.matches(f"{USER_STARTUP}/x.lnk")
    assert StartupFolderParser.matches(f"{COMMON_STARTUP}/x.vbs")
    assert not StartupFolderParser.matches("Users/tony/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/x.lnk")
