"""Windows Prefetch (.pf) files -> :class:`Execution` records.

Why libscca (pyscca): it reads every format version in the wild (17 XP/2003, 23 Vista/7, 26 8.x,
30 Windows 10/11, 31 Windows 11 24H2+) and decompresses the Windows 10+ "MAM" (LZXpress Huffman)
container itself through libfwnt, on any OS; the Python-only readers need Windows' own
RtlDecompressBufferEx to do that. The file is handed to pyscca as an in-memory stream (prefetch files
are small and capped here), so no temporary copy of evidence is written.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyscca

from triage.model import Execution, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.mam import MAM_SIGNATURE, MAX_DECOMPRESSED_SIZE, mam_size
from triage.timeconv import filetime_utc

SCCA_SIGNATURE = b"SCCA"
# Real prefetch files are tens to hundreds of KiB (a few MiB at worst, decompressed). Anything far
# bigger is not a prefetch file or is built to exhaust memory.
MAX_FILE_SIZE = 16 * 1024 * 1024
MAX_LAST_RUNS = 8
# The executable name in the header is cut to 29 characters (60 bytes of UTF-16 with its NUL).
EXECUTABLE_NAME_CHARS = 29


def read_capped(fh, limit: int, chunk: int = 256 * 1024) -> bytes:
    """Up to ``limit`` bytes, read in chunks: ``read(limit)`` would allocate ``limit`` bytes up front."""
    parts, got = [], 0
    while got < limit:
        block = fh.read(min(chunk, limit - got))
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


def executable_full_path(executable: str, filenames: list[str]) -> str | None:
    """The referenced file whose last path component is the executable (first one in load order).

    A name cut to 29 characters in the header matches the start of the full name.
    """
    want = executable.upper()
    truncated = len(executable) >= EXECUTABLE_NAME_CHARS
    for name in filenames:
        base = name.rsplit("\\", 1)[-1].upper()
        if base == want or (truncated and base.startswith(want)):
            return name
    return None


class PrefetchParser(Parser):
    """One Execution per readable .pf file; an Issue for anything pyscca cannot open."""

    name = "prefetch"
    patterns = ("windows/prefetch/*.pf",)
    signatures = ((4, SCCA_SIGNATURE), (0, MAM_SIGNATURE))

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        try:
            with item.open() as fh:
                data = read_capped(fh, MAX_FILE_SIZE + 1)
        except OSError as exc:
            yield item.issue(f"cannot read prefetch file: {exc}")
            return
        if len(data) > MAX_FILE_SIZE:
            yield item.issue(f"larger than {MAX_FILE_SIZE} bytes: not parsed as prefetch", severity="warning")
            return
        if data[:4] == MAM_SIGNATURE:
            size, why = mam_size(data, MAX_DECOMPRESSED_SIZE)
            if size is None:
                yield item.issue(f"MAM-compressed prefetch: {why}")
                return
        elif data[4:8] != SCCA_SIGNATURE:
            yield item.issue(f"not a prefetch file (signature {data[:8].hex()})")
            return
        yield from self._parse_bytes(item, data)

    def _parse_bytes(self, item: ParseInput, data: bytes) -> Iterator[Record | Issue]:
        scca = pyscca.file()
        try:
            scca.open_file_object(io.BytesIO(data))
        except (OSError, OverflowError, ValueError, MemoryError) as exc:
            yield item.issue(f"unreadable prefetch file: {_short(exc)}")
            return
        try:
            yield from self._records(item, scca)
        finally:
            scca.close()

    def _records(self, item: ParseInput, scca) -> Iterator[Record | Issue]:
        try:
            version = scca.format_version
            executable = scca.executable_filename or ""
            prefetch_hash = f"{scca.prefetch_hash:08X}"
            run_count = scca.run_count
        except (OSError, OverflowError, ValueError) as exc:
            yield item.issue(f"prefetch header unreadable: {_short(exc)}")
            return

        last_runs = []
        for index in range(MAX_LAST_RUNS):
            try:
                value = scca.get_last_run_time_as_integer(index)
            except (OSError, IndexError, ValueError):
                break  # fewer slots in this version (1 before v26)
            when = filetime_utc(value)
            if when is not None:
                last_runs.append(when)

        filenames: list[str] = []
        try:
            for index in range(scca.number_of_filenames):
                filenames.append(scca.get_filename(index) or "")
        except (OSError, ValueError, UnicodeError) as exc:
            yield item.issue(f"referenced file names cut at {len(filenames)}: {_short(exc)}",
                             severity="warning")

        volumes = []
        try:
            for index in range(scca.number_of_volumes):
                vol = scca.get_volume_information(index)
                volumes.append({
                    "serial_number": f"{vol.serial_number:08X}" if vol.serial_number is not None else None,
                    "device_path": vol.device_path,
                    "creation_time": filetime_utc(vol.get_creation_time_as_integer()),
                })
        except (OSError, ValueError, UnicodeError) as exc:
            yield item.issue(f"volume information cut at {len(volumes)}: {_short(exc)}", severity="warning")

        yield Execution(
            source=item.source(),
            kind="prefetch",
            executable=executable,
            path=executable_full_path(executable, filenames) if executable else None,
            run_count=run_count,
            # Slot order as written by Windows (slot 0 = latest run). Slots are not re-sorted: a clock
            # change can make them non-monotonic and that is itself worth seeing.
            last_runs=tuple(last_runs),
            prefetch_hash=prefetch_hash,
            prefetch_version=version,
            referenced_files=tuple(filenames),
            volumes=tuple(volumes),
        )


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
