"""Analyze one bundle: verify → parse every collected file → YARA → findings → summary, timeline, report.

Why one function: the single-host CLI, the batch runner (``triage analyze --jobs``) and the fleet
builder all need exactly the same per-host work; :func:`analyze_bundle` is that work and nothing
else (no printing, no process management). It never raises for bad evidence: a tampered bundle is
refused (unless ``force``) with a summary saying why, and a parser that crashes loses its one file
(an Issue with a short traceback), never the host.

Memory: records of one host are kept (they are small typed facts); file contents are streamed from
the zip and never held. A parser that needs a real path gets a private temporary copy of the file and
its companions (hive logs, SQLite journals), deleted as soon as that parser is done.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from triage.analyze.runner import (
    evtx_pool,
    parse_bundle,
    plan_bundle,
    short_traceback,
    start_fanout,
    stop_pool,
)
from triage.analyze.state import AnalysisData, HostAnalysis, host_dir_name, safe_basename, safe_hostname
from triage.analyze.yara_job import YaraJob
from triage.bundle.member_cache import MemberCache
from triage.model import HostFact, Issue, Source

__all__ = ["AnalysisData", "HostAnalysis", "analyze_bundle", "host_dir_name", "safe_basename", "safe_hostname"]


def _verify_into(data: AnalysisData, bundle_path: Path, force: bool, strict: bool, fan: Any,
                 cache: MemberCache | None = None, reader: Any = None) -> None:
    """Verify the bundle (or take the fanout's verification) into ``data``; refuse it unless forced.
    cache: keeps the members' bytes as they are hashed, for the parsers and YARA to read.
    reader: the analysis' own open BundleReader, verified through (not opened a second time)."""
    t0 = time.perf_counter()
    try:
        if fan is not None:
            report = fan.join_verify()
        else:
            from triage.bundle.verify import verify_bundle

            report = verify_bundle(bundle_path, copy_out=cache.copy_out if cache is not None else None,
                                   reader=reader)
        data.verified = bool(report.ok)
        data.verify_problems = [str(p) for p in (report.problems or [])]
        data.verify_incomplete = bool(getattr(report, "incomplete", False))
        data.bundle_sha256 = getattr(report, "sha256", None) or data.bundle_sha256
    except Exception as exc:
        if strict:
            raise
        data.verified = False
        data.verify_problems = [f"verification could not run: {type(exc).__name__}: {exc}"]
    data.timings["verify_s"] = time.perf_counter() - t0  # with a fanout: the wait beyond parsing
    if not data.verified:
        sev = "error" if not force else "warning"
        what = "analyzed anyway (--force)" if force else "refused (use --force to analyze anyway)"
        problems = "; ".join(data.verify_problems[:5]) or "unknown problem"
        data.issues.append(Issue(severity=sev, message=f"bundle failed verification, {what}: {problems}",
                                 source=Source(bundle_path=bundle_path.name)))
        data.refused = not force


def _drop_results(data: AnalysisData, bundle_issues: list[Issue]) -> None:
    """A refused bundle keeps its verification verdict, the reader's problems, and nothing else."""
    keep = [i for i in data.issues if i.message.startswith(("Sigma", "YARA"))] + bundle_issues + [
        i for i in data.issues if i.message.startswith("bundle failed verification")]
    fresh = AnalysisData(bundle_path=data.bundle_path, bundle_sha256=data.bundle_sha256, verified=False,
                         verify_problems=data.verify_problems, verify_incomplete=data.verify_incomplete,
                         forced=data.forced, refused=True, collection=data.collection, issues=keep,
                         timings=data.timings, sigma_ruleset=data.sigma_ruleset)
    data.__dict__.update(fresh.__dict__)


def _pick_hostname(data: AnalysisData) -> str:
    for r in data.records:
        if isinstance(r, HostFact) and r.key == "hostname" and r.value:
            return str(r.value)
    if data.collection.get("hostname"):
        return str(data.collection["hostname"])
    stem = data.bundle_path.name
    for suffix in (".zip",):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"_\d{8}T\d{6}Z$", "", stem)
    return stem or "host"



def analyze_bundle(bundle_path: str | os.PathLike, out_dir: str | os.PathLike, *, force: bool = False,
                   rules: Iterable[str] = (), yara: bool = True, strict: bool = False,
                   options: dict[str, Any] | None = None, yara_scanner: Any = None,
                   yara_jobs: int = 1) -> HostAnalysis:
    """Analyze one bundle into ``out_dir/hosts/<host>_<sha12>/`` (summary.json, timeline.jsonl,
    timeline.csv, report.html) and return what was made.

    force: analyze even if verification failed (the summary records verified=false and why).
    rules: extra YARA rule files/directories. yara: run YARA at all. strict: re-raise parser
    exceptions (tests). options: passed to parsers through ``ParseInput.options``.
    yara_scanner: a ready ``triage.scan.yara.YaraScanner`` (batch runs compile rules once and pass it;
    ``rules`` is then ignored). yara_jobs: processes for scanning bundle members.
    """

    t_start = time.perf_counter()
    bundle_path = Path(bundle_path)
    out_root = Path(out_dir)
    data = AnalysisData(bundle_path=bundle_path, forced=force, timeline=(options or {}).get("timeline") or "highlights")

    # 1. open; 2. verify (hashes every member; an interrupted bundle is reported as incomplete);
    # 3. parse unless refused. With a worker pool (one big bundle, several cores) the verification
    # runs in the fanout's feeder thread and yields the event logs' private copies from the same
    # inflate; its verdict is applied when parsing is done, and a refused bundle's results are
    # dropped, so the outcome is the one of verifying first.
    opts = dict(options or {})
    _prepare_sigma(data, opts, strict)
    reader = None
    pool = fan = None
    cache: MemberCache | None = None
    try:
        from triage.bundle.reader import BundleReader

        reader = BundleReader(bundle_path)
        reader.__enter__()
        pool = evtx_pool(list(reader.entries), opts) if getattr(reader, "zip", None) is not None else None
    except Exception as exc:
        if strict:
            raise
        reader_error: Exception | None = exc
    else:
        reader_error = None
    try:
        plan = None
        if pool is not None:
            assert reader is not None, "the pool is only started from an open reader"
            data.entries = list(reader.entries)
            plan = plan_bundle(reader, data, strict, opts)
            fan = start_fanout(reader, plan, pool, opts, shared_copies=bool(yara))
            if fan is None:  # no event logs after all: verify first, as without a pool
                data.entries, data.unsupported, data.issues = [], [], []
                plan = None
        cache = MemberCache() if fan is None else None  # the fanout copies the logs it verifies
        if fan is None:
            _verify_into(data, bundle_path, force, strict, None, cache, reader)
        if reader_error is not None:
            raise reader_error
        assert reader is not None, "only a failed BundleReader() leaves it unset, and that raised above"
        if cache is not None:
            reader.cache = cache.members
        data.collection = dict(reader.collection or {})
        data.bundle_sha256 = data.bundle_sha256 or getattr(reader, "sha256", None)
        bundle_issues = [Issue(severity="warning", message=f"bundle reader: {problem}",
                               source=Source(bundle_path=bundle_path.name))
                         for problem in getattr(reader, "problems", None) or []]
        data.issues.extend(bundle_issues)
        if not data.refused:
            data.entries = list(reader.entries)
            if not getattr(reader, "complete", True):
                data.issues.append(Issue(severity="warning", message="bundle is incomplete (interrupted "
                                         "collection): entries come from the journal",
                                         source=Source(bundle_path=bundle_path.name)))
            job = None
            t0 = time.perf_counter()
            try:
                job = (YaraJob(bundle_path, rules, yara_scanner, yara_jobs,
                                background=opts.get("background", True), fan=fan,
                                cache=cache.members if cache is not None else None,
                                reader=None if opts.get("background", True) else reader) if yara else None)
                if job is not None and not job.start(data):
                    job = None
                if job is None and fan is not None:
                    fan.release_rest()  # nobody will scan the logs' copies
                parse_bundle(reader, data, strict, opts, plan, fan)
            finally:
                data.timings["parse_s"] = time.perf_counter() - t0
                if fan is not None:
                    fan.close()
                if job is not None:  # even when parsing failed: its hits are still evidence
                    t0 = time.perf_counter()
                    job.finish(data, strict)
                    data.timings["yara_wait_s"] = time.perf_counter() - t0  # beyond the parse time
            if fan is not None:
                _verify_into(data, bundle_path, force, strict, fan)
                if data.refused:  # what was parsed from a bundle that fails verification is dropped
                    _drop_results(data, bundle_issues)
    except Exception as exc:
        if strict:
            raise
        data.issues.append(Issue(severity="error", message=f"bundle could not be read: "
                                 f"{type(exc).__name__}: {exc}\n{short_traceback(exc)}",
                                 source=Source(bundle_path=bundle_path.name)))
    except BaseException:
        stop_pool(pool)
        raise
    finally:
        if fan is not None:
            fan.close()
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.__exit__(None, None, None)
        if cache is not None:  # the outputs need the records only: the member bytes go now
            cache.members.clear()
    stop_pool(pool)
    done = _conclude(data, out_root, t_start, strict)
    done.manifest_entries = list(reader.entries) if reader is not None else None
    return done


def _prepare_sigma(data: AnalysisData, opts: dict[str, Any], strict: bool) -> None:
    """Load the Sigma rules (the built-in pack unless ``sigma_builtin`` is False, plus ``sigma_paths``;
    a batch passes ``sigma_ruleset`` compiled once) and hand the parsers their key. Rule-loading
    problems become issues of the host, so a batch reports them too."""
    if opts.get("sigma") is False:
        return
    try:
        from triage.sigma.engine import register
        from triage.sigma.load import load_rules, ruleset_by_key

        rs = opts.get("sigma_ruleset") or ruleset_by_key(opts.get("sigma_key")) or load_rules(
            opts.get("sigma_paths") or (), builtin=opts.get("sigma_builtin", True))
        register(rs)
    except Exception as exc:
        if strict:
            raise
        data.issues.append(Issue(severity="error", message=f"Sigma rules could not be loaded: "
                                 f"{type(exc).__name__}: {exc}"))
        return
    opts.pop("sigma_ruleset", None)
    opts["evtx_sigma_key"] = rs.key
    data.sigma_ruleset = rs
    if rs.skipped:
        data.issues.append(Issue(severity="warning", message=(
            f"Sigma: {len(rs.skipped)} of {rs.loaded + len(rs.skipped)} rules not evaluated; "
            + "; ".join(f"{n} x {why}" for why, n in list(rs.reasons().items())[:5])
            + " (triage rules check --sigma lists them)")))


def _conclude(data: AnalysisData, out_root: Path, t_start: float, strict: bool) -> HostAnalysis:
    """Findings, then the outputs: timeline, summary.json, report.html. (Tried: the timeline in a
    pool worker beside the summary; pickling the host's records there and back cost more.)"""
    from triage.analyze import findings as findings_mod
    from triage.analyze import summary as summary_mod
    from triage.analyze.findings_artifacts import ALL_RULES
    from triage.analyze.localtime import localize_records
    from triage.analyze.volumes import resolve_records

    data.hostname = _pick_hostname(data)
    data.records = resolve_records(data.records)  # drive letters for \VOLUME{..} paths, raw kept
    data.records = localize_records(data.records)  # local-only times (NetworkList) in UTC, local kept

    # 3. Sigma correlation rules over the host's matches (every log), then off-network windows, findings
    if data.sigma_ruleset is not None and data.sigma_ruleset.correlations:
        from triage.sigma import correlate

        data.records = correlate.apply(data.sigma_ruleset.correlations, data.records)
    t0 = time.perf_counter()
    data.windows = findings_mod.network_windows(data.records, data.issues)
    try:
        from triage.analyze import linux_findings

        data.findings.extend(findings_mod.evaluate(data.records, hostname=data.hostname,
                                                   rules=ALL_RULES + linux_findings.RULES))
    except Exception as exc:
        if strict:
            raise
        data.issues.append(Issue(severity="error", message=f"findings rules failed: "
                                 f"{type(exc).__name__}: {exc}\n{short_traceback(exc)}"))
    if data.sigma_ruleset is not None:
        from triage.analyze import sigma_findings

        data.findings.extend(sigma_findings.findings(data.records))
    data.network_known = True  # the network module is part of the analyzer: windows are always computed
    data.findings = findings_mod.sort_findings(findings_mod.mark_off_network(  # Sigma's too: severity order
        data.findings, data.windows, data.network_known, findings_mod.log_span(data.records)[1]))
    data.timings["findings_s"] = time.perf_counter() - t0

    # 4. outputs
    host_out = out_root / "hosts" / host_dir_name(data.hostname, data.bundle_sha256)
    host_out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from triage.analyze.timeline_full import write_host_timeline

    tl_counts = write_host_timeline(data, host_out)
    data.timings["timeline_s"] = time.perf_counter() - t0
    data.timings["total_s"] = time.perf_counter() - t_start
    summary = summary_mod.build_summary(data, timeline_rows=tl_counts)
    t0 = time.perf_counter()
    try:  # the report first: a failure to write it is an issue summary.json must show
        from triage.report.html import write_report

        write_report(summary, host_out / "report.html")
    except Exception as exc:
        if strict:
            raise
        data.issues.append(Issue(severity="error", message=f"report.html failed: {type(exc).__name__}: {exc}"))
        summary = summary_mod.build_summary(data, timeline_rows=tl_counts)
    data.timings["report_s"] = time.perf_counter() - t0
    tmp = host_out / "summary.json.tmp"
    # compact: json's C encoder only runs without indent (indent=1 took ~0.1 s on a big host); jq
    # or any viewer pretty-prints it
    tmp.write_text(json.dumps(summary, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, host_out / "summary.json")

    sev = Counter(f.severity for f in data.findings)
    counts = {"records": len(data.records), "findings": len(data.findings), "issues": len(data.issues),
              "timeline_rows": tl_counts, "severity": dict(sev)}
    return HostAnalysis(summary=summary, out_dir=host_out, counts=counts, refused=data.refused)
