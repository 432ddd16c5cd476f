"""PE files (executables, DLLs, drivers) present in a bundle -> :class:`PEInfo`.

Why pefile with ``fast_load``: a full pefile parse walks resources, relocations, debug and TLS data
and can take seconds (or far longer on crafted files); the facts triage needs are the headers, the
section table, the import table (for the imphash) and whether a security (Authenticode) directory
exists, so only the import directory is parsed. Input is capped (64 MiB by default): bigger files
are reported, not parsed. Hashes are computed from the exact bytes read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pefile

from triage.model import Issue, PEInfo, Record
from triage.parsers.base import ParseInput, Parser
from triage.timeconv import unix_utc

DEFAULT_MAX_PE_SIZE = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
MACHINES = {
    0x14C: "i386", 0x8664: "amd64", 0x1C0: "arm", 0x1C4: "armnt", 0xAA64: "arm64", 0x200: "ia64",
    0x166: "r4000", 0x1F0: "powerpc", 0xEBC: "ebc", 0x0: "unknown",
}
# PE appeared with Windows NT 3.1 (1993); earlier stamps are garbage or forged.
_EARLIEST_COMPILE = datetime(1992, 1, 1, tzinfo=UTC)
_IMPORT = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]
_SECURITY = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]


def machine_name(value: int) -> str:
    if value in MACHINES:
        return MACHINES[value]
    name = pefile.MACHINE_TYPE.get(value)
    return name.removeprefix("IMAGE_FILE_MACHINE_").lower() if name else f"0x{value:04x}"


def plausible_compile_time(stamp: int, now: datetime | None = None) -> datetime | None:
    """TimeDateStamp -> UTC, or None when 0 or absurd (before 1992, or after now + 1 day: reproducible
    builds store a hash there, and forgers store anything)."""
    when = unix_utc(stamp)
    if when is None:
        return None
    now = now or datetime.now(UTC)
    return when if _EARLIEST_COMPILE <= when <= now + timedelta(days=1) else None


class PEParser(Parser):
    """Any member starting with 'MZ' among the usual PE extensions."""

    name = "pe"
    patterns = ("*.exe", "*.dll", "*.sys", "*.scr", "*.com", "*.cpl", "*.ocx")
    signatures = ((0, b"MZ"),)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        cap = int(item.options.get("max_pe_size", DEFAULT_MAX_PE_SIZE))
        md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
        buf = bytearray()
        size = 0
        try:
            with item.open() as fh:
                while chunk := fh.read(_CHUNK):
                    md5.update(chunk)
                    sha1.update(chunk)
                    sha256.update(chunk)
                    size += len(chunk)
                    if size <= cap:
                        buf += chunk
                    else:
                        buf = bytearray()  # over the cap: keep hashing, stop holding
        except OSError as exc:
            yield item.issue(f"cannot read file: {exc}")
            return
        if size > cap:
            yield item.issue(f"PE not parsed: {size} bytes is over the {cap}-byte cap "
                             f"(sha256 {sha256.hexdigest()})", severity="info")
            return
        data = bytes(buf)
        if data[:2] != b"MZ":
            yield item.issue(f"not a PE file (starts {data[:4].hex() or 'empty'})", severity="info")
            return
        try:
            pe = pefile.PE(data=data, fast_load=True)
        except pefile.PEFormatError as exc:
            yield item.issue(f"not a valid PE: {exc}")
            return
        except Exception as exc:  # pefile on hostile input can fail in many ways; report, do not crash
            yield item.issue(f"PE headers unreadable: {type(exc).__name__}: {exc}")
            return
        try:
            yield from self._info(item, pe, data, size, md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest())
        finally:
            pe.close()

    def _info(self, item, pe: pefile.PE, data: bytes, size: int, md5: str, sha1: str,
              sha256: str) -> Iterator[Record | Issue]:
        imphash = None
        try:
            pe.parse_data_directories(directories=[_IMPORT])
            imphash = pe.get_imphash() or None
        except Exception as exc:  # a broken import table loses the imphash only
            yield item.issue(f"import table unreadable: {type(exc).__name__}: {exc}", severity="warning")

        sections = []
        truncated = []
        for sec in pe.sections:
            name = sec.Name.rstrip(b"\x00").decode("latin-1")
            raw_end = sec.PointerToRawData + sec.SizeOfRawData
            complete = raw_end <= len(data)
            if not complete:
                truncated.append(name)
            sections.append({
                "name": name,
                "virtual_address": sec.VirtualAddress,
                "virtual_size": sec.Misc_VirtualSize,
                "raw_size": sec.SizeOfRawData,
                "entropy": round(sec.get_entropy(), 4) if complete and sec.SizeOfRawData else None,
                "characteristics": sec.Characteristics,
            })
        if truncated:
            yield item.issue(f"section data beyond end of file (truncated copy?): {', '.join(truncated)}",
                             severity="warning")

        signed = False
        try:
            sec_dir = pe.OPTIONAL_HEADER.DATA_DIRECTORY[_SECURITY]
            signed = bool(sec_dir.VirtualAddress and sec_dir.Size)
        except (AttributeError, IndexError):
            pass

        stamp = pe.FILE_HEADER.TimeDateStamp
        compile_time = plausible_compile_time(stamp)
        if stamp and compile_time is None:
            yield item.issue(f"implausible compile timestamp 0x{stamp:08x} ignored", severity="info")

        yield PEInfo(
            source=item.source(),
            path=item.entry.path,
            size=size,
            md5=md5, sha1=sha1, sha256=sha256,
            imphash=imphash,
            compile_time=compile_time,
            machine=machine_name(pe.FILE_HEADER.Machine),
            is_dll=bool(pe.FILE_HEADER.Characteristics & 0x2000),
            signed=signed,
            sections=tuple(sections),
        )
