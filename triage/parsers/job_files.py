"""Legacy Task Scheduler 1.0 ``.job`` files (``Windows\\Tasks\\*.job``) -> one ``Autorun(category='task')``.

Why: ``at.exe``-era jobs still run on current Windows, are created by old tooling and by attackers who
know defenders read only the XML tasks, and record the last run time and exit code. The format is fixed
(MS-TSCH ".JOB File Format"; libyal dtformats "Job file format"): a 68-byte FIXDLEN_DATA block
(product/format version, job UUID, offsets, priority, max run time, exit code, status, flags, last run
time as a SYSTEMTIME) then a variable part: running instance count, then application name, parameters,
working directory, author and comment as (u16 character count incl. NUL, UTF-16LE), user data and
reserved data (u16 size + bytes), and the triggers (u16 count, 48 bytes each).

The last run SYSTEMTIME is the host's LOCAL time (the Task Scheduler 1.0 API takes and returns local
times): it is kept as zone-less text in ``details['last_run_local']``, not converted. Every read is
bounded; a file that does not fit is one Issue with whatever was decoded kept.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from typing import Any

from triage.model import Autorun, Issue, Record
from triage.parsers.base import ParseInput, Parser, read_small
from triage.parsers.tasks import manifest_time, windows_path

MAX_JOB_BYTES = 1 << 20
MAX_TRIGGERS = 64
FIXED_SIZE = 68
STATUS = {0x41300: "ready", 0x41301: "running", 0x41302: "disabled", 0x41303: "has_not_run",
          0x41304: "no_more_runs", 0x41305: "not_scheduled", 0x41306: "terminated", 0x41307: "no_valid_triggers",
          0x41308: "event_trigger"}
FLAGS = {0x1: "interactive", 0x2: "delete_when_done", 0x4: "disabled", 0x10: "start_only_if_idle",
         0x20: "kill_on_idle_end", 0x40: "dont_start_if_on_batteries", 0x80: "kill_if_going_on_batteries",
         0x200: "hidden", 0x800: "restart_on_idle_resume", 0x1000: "system_required",
         0x2000: "run_only_if_logged_on"}
TRIGGER_TYPES = {0: "once", 1: "daily", 2: "weekly", 3: "monthly_date", 4: "monthly_dow", 5: "on_idle",
                 6: "at_system_start", 7: "at_logon"}


def systemtime_text(data: bytes, offset: int = 0) -> str | None:
    """A SYSTEMTIME as 'YYYY-MM-DD HH:MM:SS.mmm' (zone-less, as stored); None when zero or impossible."""
    if len(data) < offset + 16:
        return None
    year, month, _wd, day, hour, minute, second, ms = struct.unpack_from("<8H", data, offset)
    if year == 0 or not (1601 <= year <= 30827 and 1 <= month <= 12 and 1 <= day <= 31 and hour < 24
                         and minute < 60 and second < 60 and ms < 1000):
        return None
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}.{ms:03d}"


class _Cursor:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def u16(self) -> int:
        if self.pos + 2 > len(self.data):
            raise ValueError(f"truncated at offset {self.pos}")
        (v,) = struct.unpack_from("<H", self.data, self.pos)
        self.pos += 2
        return v

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"{n} bytes at offset {self.pos} run past the end")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self) -> str:
        chars = self.u16()
        return self.take(chars * 2).decode("utf-16-le", errors="replace").split("\x00", 1)[0]


def decode_job(data: bytes) -> tuple[dict[str, Any], str | None]:
    """Fields of a .job file and the problem that stopped decoding (None when all was read)."""
    if len(data) < FIXED_SIZE:
        return {}, f"{len(data)} bytes: shorter than the 68-byte fixed section"
    (product, fmt, raw_uuid, app_off, trig_off, _retry, _retry_int, _idle_dl, _idle_wait, priority, max_run,
     exit_code, status, flags) = struct.unpack_from("<HH16sHHHHHHIIIII", data, 0)
    job: dict[str, Any] = {
        "product_version": f"0x{product:04x}", "format_version": fmt,
        "job_id": "{" + str(uuid.UUID(bytes_le=raw_uuid)).upper() + "}", "priority": priority,
        "max_run_time_ms": max_run, "exit_code": exit_code, "status": STATUS.get(status, f"0x{status:08x}"),
        "flags": [name for bit, name in FLAGS.items() if flags & bit],
        "last_run_local": systemtime_text(data, 52),
    }
    cur = _Cursor(data, FIXED_SIZE)
    try:
        job["running_instances"] = cur.u16()
        if app_off and app_off != cur.pos:
            job["note"] = f"application name offset {app_off} differs from {cur.pos}; offset used"
            cur.pos = app_off
        for name in ("application", "parameters", "working_directory", "author", "comment"):
            job[name] = cur.string()
        cur.take(cur.u16())  # user data
        reserved = cur.take(cur.u16())
        if len(reserved) >= 4:
            job["start_error"] = f"0x{struct.unpack_from('<I', reserved)[0]:08x}"
        if trig_off and trig_off != cur.pos:
            cur.pos = trig_off
        count = cur.u16()
        triggers = []
        for _ in range(min(count, MAX_TRIGGERS)):
            t = cur.take(48)
            (size, _r, sy, sm, sd, ey, em, ed, hh, mm, duration, interval, tflags, ttype) = struct.unpack_from(
                "<10HIIII", t)
            triggers.append({"type": TRIGGER_TYPES.get(ttype, str(ttype)), "start_local":
                             f"{sy:04d}-{sm:02d}-{sd:02d} {hh:02d}:{mm:02d}",
                             "end_date_local": f"{ey:04d}-{em:02d}-{ed:02d}" if tflags & 1 else None,
                             "duration_minutes": duration, "interval_minutes": interval,
                             "disabled": bool(tflags & 4)})
        job["triggers"] = triggers
    except ValueError as exc:
        return job, str(exc)
    return job, None


class JobFileParser(Parser):
    """Task Scheduler 1.0 jobs as autostarts: command = application + parameters."""

    name = "task_job"
    patterns = ("windows/tasks/*.job", "windows/syswow64/tasks/*.job")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        data = read_small(item, MAX_JOB_BYTES, ".job file")
        if isinstance(data, Issue):
            yield data
            return
        job, problem = decode_job(data)
        if problem:
            yield item.issue(f".job file not fully decodable: {problem}", "error" if "application" not in job
                             else "warning", locator="variable-length section")
        if "application" not in job:
            return
        location = windows_path(item)
        command = " ".join(x for x in (job["application"], job.get("parameters")) if x)
        details = {k: v for k, v in job.items() if v not in (None, "", [])}
        yield Autorun(source=item.source(location), category="task", location=location,
                      name=item.rel_path.rsplit("/", 1)[-1], command=command, user=None,
                      last_write=manifest_time(item), details=details)
