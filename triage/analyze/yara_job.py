"""YARA over a bundle's members in a background thread while the parsers run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from triage.analyze.runner import short_traceback
from triage.analyze.state import AnalysisData
from triage.model import Issue


class YaraJob:
    """YARA over the bundle's members in a background thread, while the parsers run.

    Why a thread: yara-python's match and zlib's inflate release the GIL, the parsers are mostly
    Python, so on a multi-core box the bundle scan costs little wall time next to parsing. The thread
    uses its own BundleReader (a ZipFile handle is not safe to share between threads). Record
    content (decoded script blocks, command lines) is scanned afterwards, in :meth:`finish`.
    """

    def __init__(self, bundle_path: Path, rules: Iterable[str], scanner: Any, jobs: int,
                 background: bool = True, fan: Any = None, cache: dict[str, bytes] | None = None,
                 reader: Any = None) -> None:
        self.bundle_path, self.rules, self.scanner, self.jobs = bundle_path, list(rules), scanner, jobs
        self.background = background
        self.fan = fan  # an EvtxFanout whose private copies of the event logs are scanned as files
        self.cache = cache  # members' verified bytes (triage.bundle.member_cache), read, not re-inflated
        self.reader = reader  # the analysis' open reader (a batch worker scans in the analysis thread)
        self.items: list[Any] = []
        self.error: BaseException | None = None
        self.module: Any = None
        self.thread = threading.Thread(target=self._run, name="triage-yara", daemon=True)

    def start(self, data: AnalysisData) -> bool:
        try:
            from triage.scan import yara as yscan
        except ImportError as exc:
            data.issues.append(Issue(severity="info", message=f"YARA scanning not available: {exc}"))
            return False
        self.module = yscan
        data.yara_enabled = True
        if self.background:
            self.thread.start()
        else:  # a batch worker: the pool already keeps every core busy, overlap would only contend
            self._run()
        return True

    def _run(self) -> None:
        try:
            from triage.bundle.reader import BundleReader

            if self.scanner is None:
                self.scanner = self.module.YaraScanner(self.rules)
            # rule files that did not compile are reported by every host, batch or not
            self.items.extend(self.scanner.issues)
            fan = self.fan
            with (contextlib.nullcontext(self.reader) if self.reader is not None
                  else BundleReader(self.bundle_path)) as reader:
                if self.reader is None:
                    reader.cache = self.cache or {}
                self.items.extend(self.scanner.scan_bundle(
                    reader, jobs=self.jobs, local_copy=fan.copy_path if fan is not None else None,
                    release=fan.release if fan is not None else None))
        except BaseException as exc:  # reported by finish(), in the analysis thread
            self.error = exc
        finally:
            if self.fan is not None:
                self.fan.release_rest()

    def finish(self, data: AnalysisData, strict: bool) -> None:
        if self.background:
            self.thread.join()
        try:
            if self.error is not None:
                raise self.error
            items = list(self.items) + list(self.scanner.scan_records(data.records))
            hits = []
            for obj in items:
                if isinstance(obj, Issue):
                    data.issues.append(obj)
                else:
                    hits.append(obj)
            hits = self.module.settle_hive_hits(hits)  # hive hits a decoded value confirms
            from triage.scan.yara_process import attribute

            data.yara_hits = hits = attribute(hits, self.bundle_path)  # hits on volatile data: which process
            data.findings.extend(self.module.findings_from_hits(hits))
        except Exception as exc:
            if strict:
                raise
            data.issues.append(Issue(severity="error", message=f"YARA scan failed: {type(exc).__name__}: "
                                     f"{exc}\n{short_traceback(exc)}"))
