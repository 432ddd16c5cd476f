"""summary.json: the one per-host document the report, the fleet store and people read.

Why a fixed, schema-checked shape: the fleet builder (fleet.sqlite), the HTML report and analysts'
own scripts read this file; names here are a contract, documented field by field in
``triage/data/summary.schema.json`` (JSON Schema 2020-12) and checked in tests. Add fields, never
rename them; bump :data:`SCHEMA_VERSION` on any incompatible change.

Bounded size: huge logs must not make huge summaries, so typed events are capped per category (the
first :data:`EVENTS_PER_CATEGORY` by time are kept, the counts say how many were dropped); the full
detail stays in timeline.jsonl.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from triage import __version__
from triage.analyze.window_visits import domain_of as _domain
from triage.bundle.manifest import COLLECTED, FAILED, MISSING, PARTIAL
from triage.model import (
    SEVERITIES,
    ArtifactRecord,
    Autorun,
    BrowserDownload,
    BrowserHistoryStats,
    BrowserVisit,
    CommandHistory,
    ConnectivityEvent,
    Event,
    EventLogStats,
    Execution,
    Finding,
    HostFact,
    PEInfo,
    Record,
    RecycleBinItem,
    Source,
    UserAccount,
)
from triage.units import iso, utc_now

if TYPE_CHECKING:
    from triage.analyze.state import AnalysisData

SCHEMA_VERSION = "1.0"
EVENTS_PER_CATEGORY = 200
TOP_DOMAINS = 10
LIST_CAP = 5000          # executions / downloads / pe / autoruns beyond this are counted, not listed
MAX_ISSUES = 2000        # a shredded log can yield thousands of record-level issues: keep the first
ACTIVITY_MAX_BINS = 400  # hour bins when the span is short enough, else day bins


_JSON_SCALARS = frozenset((str, int, float, bool, type(None)))


def jsonable(value: Any) -> Any:
    """Record field values → JSON values: datetimes ISO UTC 'Z', tuples → lists, bytes → hex.
    (Exact scalar and dict types first: a host's summary converts a few hundred thousand values.
    A dict's or a list's scalar items are taken as they are without a call per item: most values
    of a record — every field of a Sigma-matched record — are strings and numbers.)"""
    cls = value.__class__
    if cls in _JSON_SCALARS:
        return value
    if cls is dict:
        return {k if k.__class__ is str else str(k): v if v.__class__ in _JSON_SCALARS else jsonable(v)
                for k, v in value.items()}
    if cls is list or cls is tuple:
        return [v if v.__class__ in _JSON_SCALARS else jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return iso(value) if value.tzinfo else iso(value.replace(tzinfo=UTC))
    if isinstance(value, Source):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return record_dict(value)
    return str(value)


def record_dict(rec: Any) -> dict[str, Any]:
    """Any dataclass record → JSON dict, with its record_type and flattened source."""
    out: dict[str, Any] = {}
    rt = getattr(rec, "record_type", None)
    if rt:
        out["record_type"] = rt
    for f in dataclasses.fields(rec):
        v = getattr(rec, f.name)
        if f.name == "source" and isinstance(v, Source):
            out["bundle_path"] = v.bundle_path
            out["locator"] = v.locator
            if v.user:
                out["user"] = v.user
            continue
        out[f.name] = jsonable(v)
    return out


def finding_dict(f: Finding, index: int) -> dict[str, Any]:
    return {"id": f"F{index:04d}", "rule": f.rule, "severity": f.severity, "title": f.title,
            "reason": f.reason, "evidence": jsonable(list(f.evidence)) or [f.source.to_dict()],
            "when": iso(f.when), "off_network": f.off_network, "attack": list(f.attack), "noise": f.noise,
            "count": f.count}


def _host(data: AnalysisData) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    fact_src: dict[str, Any] = {}
    for r in data.records:
        if isinstance(r, HostFact) and r.key not in facts and r.value not in (None, ""):
            facts[r.key] = r.value
            fact_src[r.key] = {"bundle_path": r.source.bundle_path, "locator": r.source.locator}
    coll = data.collection or {}
    users: dict[str, dict[str, Any]] = {}
    for r in data.records:
        if isinstance(r, UserAccount) and r.name:
            u = users.setdefault(r.name.lower(), {"name": r.name, "sid": None, "profile_path": None,
                                                  "last_write": None, "bundle_path": r.source.bundle_path})
            u["sid"] = u["sid"] or r.sid
            u["profile_path"] = u["profile_path"] or r.profile_path
            if r.last_write and (u["last_write"] is None or iso(r.last_write) > u["last_write"]):
                u["last_write"] = iso(r.last_write)
    # the collection record describes the machine the collector ran on: it is the host itself only
    # for a live collection (a --target/--image run happens on the analyst's workstation)
    live = coll.get("mode") == "live"
    os_name = facts.get("os_product") or (coll.get("os") if live else None)
    if isinstance(os_name, dict):
        os_name = os_name.get("name") or json.dumps(os_name, default=str)
    tz = facts.get("timezone") or (coll.get("timezone") if live else None)
    if isinstance(tz, dict):
        tz = tz.get("name")
    return {
        "hostname": data.hostname,
        "os": jsonable(os_name),
        "os_build": jsonable(facts.get("os_build")),
        "os_version": jsonable(facts.get("os_version")),
        "timezone": jsonable(tz),
        "install_date": jsonable(facts.get("install_date")),
        "last_shutdown": jsonable(facts.get("last_shutdown")),
        "domain": jsonable(facts.get("domain")),
        "registered_owner": jsonable(facts.get("registered_owner")),
        "users": sorted(users.values(), key=lambda u: u["name"].lower()),
        "facts": {k: jsonable(v) for k, v in sorted(facts.items())},
        "fact_sources": fact_src,
    }


def _collection(coll: dict[str, Any]) -> dict[str, Any]:
    prof = coll.get("profile")
    raw_tool = coll.get("tool")
    tool = raw_tool if isinstance(raw_tool, dict) else {}
    mode = coll.get("mode")
    return {
        "collector_version": tool.get("version") or coll.get("collector_version"),
        "profile": prof.get("name") if isinstance(prof, dict) else prof,
        "profile_sha256": prof.get("sha256") if isinstance(prof, dict) else coll.get("profile_sha256"),
        "started": coll.get("started"),
        "finished": coll.get("finished"),
        "status": coll.get("status"),
        "operator": coll.get("operator"),
        "mode": mode,
        "live": (mode == "live") if mode else None,
        "command_line": coll.get("command_line"),
        "hostname": coll.get("hostname"),
        "totals": coll.get("totals") if isinstance(coll.get("totals"), dict) else {},
    }


def _bundle(data: AnalysisData) -> dict[str, Any]:
    return {
        "path": str(data.bundle_path),
        "name": data.bundle_path.name,
        "sha256": data.bundle_sha256,
        "verified": bool(data.verified),
        "verify_problems": list(data.verify_problems),
        "incomplete": bool(data.verify_incomplete),
        "forced": bool(data.forced and not data.verified),
        "refused": bool(data.refused),
        "collection": _collection(data.collection or {}),
    }


def _flags(a: Autorun) -> list[str]:
    from triage.analyze.findings import lolbin_abuse, powershell_obfuscation, user_writable

    flags = []
    if user_writable(a.command):
        flags.append("user_writable")
    if powershell_obfuscation(a.command):
        flags.append("obfuscated_powershell")
    if lolbin_abuse(a.command):
        flags.append("lolbin")
    return flags


def _autoruns(records: list[Record]) -> list[dict[str, Any]]:
    out = []
    for a in records:
        if isinstance(a, Autorun):
            out.append({"category": a.category, "location": a.location, "name": a.name, "command": a.command,
                        "user": a.user or a.source.user, "last_write": iso(a.last_write), "flags": _flags(a),
                        "details": jsonable(a.details), "bundle_path": a.source.bundle_path,
                        "locator": a.source.locator})
    out.sort(key=lambda d: (d["category"], d["location"].lower(), d["name"].lower()))
    return out[:LIST_CAP]


def _executions(records: list[Record]) -> list[dict[str, Any]]:
    from triage.analyze.volumes import artifact_device_path

    out: list[dict[str, Any]] = []
    for x in records:
        if isinstance(x, Execution):
            out.append({"executable": x.executable, "path": x.path, "raw_path": x.raw_path, "run_count": x.run_count,
                        "last_runs": [iso(t) for t in x.last_runs], "source": x.kind, "sha1": x.sha1,
                        "bundle_path": x.source.bundle_path, "locator": x.source.locator})
        elif isinstance(x, ArtifactRecord):
            seen = x.execution()
            if seen is not None:
                exe, path, runs, times = seen
                raw = artifact_device_path(x)
                out.append({"executable": exe, "path": path, "raw_path": raw if raw != path else None,
                            "run_count": runs,
                            "last_runs": [iso(t) for t in times], "source": x.artifact, "sha1": None,
                            "bundle_path": x.source.bundle_path, "locator": x.source.locator})
    out.sort(key=lambda d: (d["last_runs"][0] if d["last_runs"] else ""), reverse=True)
    return out[:LIST_CAP]


def _event_logs(records: list[Record]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in records:
        if isinstance(s, EventLogStats):
            top = sorted((s.event_ids or {}).items(), key=lambda kv: -kv[1])[:20]
            out.append({"bundle_path": s.source.bundle_path, "channel": s.channel, "records": s.records,
                        "errors": s.errors, "first": iso(s.first), "last": iso(s.last),
                        "computers": dict(s.computers or {}), "top_event_ids": dict(top)})
    out.sort(key=lambda d: -d["records"])
    return out


def _events(records: list[Record]) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    per: dict[str, list[Event]] = defaultdict(list)
    for e in records:
        if isinstance(e, Event):
            per[e.category].append(e)
    kept: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    for cat, evs in sorted(per.items()):
        evs.sort(key=lambda e: e.timestamp)
        keep = evs[:EVENTS_PER_CATEGORY]
        counts[cat] = {"total": len(evs), "kept": len(keep), "dropped": len(evs) - len(keep)}
        for e in keep:
            kept.append({"timestamp": iso(e.timestamp), "category": cat, "channel": e.channel,
                         "provider": e.provider, "event_id": e.event_id, "record_id": e.record_id,
                         "computer": e.computer, "description": e.description,
                         "fields": jsonable(e.fields), "bundle_path": e.source.bundle_path,
                         "locator": e.source.locator})
    kept.sort(key=lambda d: d["timestamp"] or "")
    return kept, counts


def _browser(records: list[Record]) -> list[dict[str, Any]]:
    domains: dict[str, Counter] = defaultdict(Counter)
    for v in records:
        if isinstance(v, BrowserVisit):
            d = _domain(v.url)
            if d:
                domains[v.source.bundle_path][d] += 1
    out = []
    for s in records:
        if isinstance(s, BrowserHistoryStats):
            out.append({"browser": s.browser, "user": s.user or s.source.user,
                        "bundle_path": s.source.bundle_path, "urls": s.urls, "visits": s.visits,
                        "first_visit": iso(s.first_visit), "last_visit": iso(s.last_visit),
                        "downloads": s.downloads,
                        "top_domains": [{"domain": d, "visits": n} for d, n in
                                        domains[s.source.bundle_path].most_common(TOP_DOMAINS)]})
    return out


def _downloads(records: list[Record]) -> list[dict[str, Any]]:
    out = [{"browser": d.browser, "user": d.user or d.source.user, "start": iso(d.start), "end": iso(d.end),
            "url": d.url, "target_path": d.target_path, "received_bytes": d.received_bytes,
            "total_bytes": d.total_bytes, "danger_type": d.danger_type, "state": d.state,
            "bundle_path": d.source.bundle_path, "locator": d.source.locator}
           for d in records if isinstance(d, BrowserDownload)]
    out.sort(key=lambda d: d["start"] or "")
    return out[:LIST_CAP]


def _pe(records: list[Record]) -> list[dict[str, Any]]:
    return [record_dict(p) for p in records if isinstance(p, PEInfo)][:LIST_CAP]


def _misc(records: list[Record], kind: type) -> list[dict[str, Any]]:
    return [record_dict(r) for r in records if isinstance(r, kind)][:LIST_CAP]


def _artifacts(records: list[Record]) -> dict[str, dict[str, Any]]:
    """``artifacts.<name>``: every ArtifactRecord subclass grouped by its artifact name, in parser order
    (ShimCache's order is its insertion order), with the title, description and columns the report
    shows, so a new artifact module needs no change here or in the report."""
    groups: dict[str, list[ArtifactRecord]] = defaultdict(list)
    for r in records:
        if isinstance(r, ArtifactRecord):
            groups[r.artifact].append(r)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(groups):
        recs = groups[name]
        first = recs[0]
        out[name] = {"title": first.title, "description": first.description,
                     "columns": [{"field": f, "label": label} for f, label in first.columns],
                     "total": len(recs), "listed": min(len(recs), LIST_CAP),
                     "entries": [record_dict(r) for r in recs[:LIST_CAP]]}
    return out


def _network(data: AnalysisData) -> dict[str, Any]:
    conn: Counter[str] = Counter()
    for r in data.records:
        if isinstance(r, ConnectivityEvent):
            conn[r.kind] += 1
    from triage.analyze.network import log_span
    from triage.analyze.window_visits import domains_in_window

    log_end = log_span(data.records)[1]
    wins = []
    for w in data.windows:
        ev = jsonable(w.get("evidence", []))
        start_ev = next((x for x in ev if isinstance(x, dict) and x.get("role") == "start"), None)
        reason = "no domain network and no VPN connected"
        if start_ev and start_ev.get("description"):
            reason += f" (from: {start_ev['description']})"
        raw = w.get("_raw")
        wins.append({"start": iso(w.get("start")), "end": iso(w.get("end")), "reason": reason,
                     "events_during": getattr(raw, "events_during", None), "evidence": ev,
                     "domains": domains_in_window(data.records, w.get("start"), w.get("end"), log_end)})
    return {"computed": bool(data.network_known), "off_network_windows": wins,
            "connectivity_events": sum(conn.values()), "connectivity_by_kind": dict(conn)}


def _yara(hits: list[Any]) -> list[dict[str, Any]]:
    out = []
    for h in hits:
        if dataclasses.is_dataclass(h):
            out.append(record_dict(h))
        elif isinstance(h, dict):
            out.append(jsonable(h))
        else:
            out.append({"text": str(h)})
    return out[:LIST_CAP]


_SKIPPED = ("skipped_budget", "skipped_size", "skipped_duplicate")


def _coverage(data: AnalysisData) -> list[dict[str, Any]]:
    per: dict[str, dict[str, Any]] = {}
    for e in data.entries:
        c = per.setdefault(e.artifact, {"artifact": e.artifact, "files": 0, "collected": 0, "partial": 0,
                                        "missing": 0, "failed": 0, "skipped": 0, "bytes": 0,
                                        "parsed_files": 0, "parsers": set(), "unsupported_files": 0,
                                        "companions": 0})
        if e.role == "companion":
            c["companions"] = c.get("companions", 0) + 1
            continue
        c["files"] += 1
        if e.outcome == COLLECTED:
            c["collected"] += 1
        elif e.outcome == PARTIAL:
            c["partial"] += 1
        elif e.outcome == MISSING:
            c["missing"] += 1
        elif e.outcome == FAILED:
            c["failed"] += 1
        elif e.outcome in _SKIPPED:
            c["skipped"] += 1
        c["bytes"] += e.size or 0
        if e.bundle_path and e.bundle_path in data.parsed:
            c["parsed_files"] += 1
            c["parsers"].update(data.parsed[e.bundle_path])
        elif e.bundle_path and e.bundle_path in set(data.unsupported):
            c["unsupported_files"] += 1
    # artifacts the collection record knows about but the manifest has no entry for
    outcomes = (data.collection or {}).get("artifacts") or (data.collection or {}).get("outcomes") or {}
    if isinstance(outcomes, dict):
        for name, counts in outcomes.items():
            if name not in per and isinstance(counts, dict):
                per[name] = {"artifact": name, "files": sum(v for v in counts.values() if isinstance(v, int)),
                             "collected": counts.get("collected", 0), "partial": counts.get("partial", 0),
                             "missing": counts.get("missing", 0), "failed": counts.get("failed", 0),
                             "skipped": sum(counts.get(k, 0) for k in _SKIPPED), "bytes": 0,
                             "parsed_files": 0, "parsers": set(), "unsupported_files": 0, "companions": 0}
    out = []
    for c in sorted(per.values(), key=lambda c: c["artifact"]):
        c["parsers"] = sorted(c["parsers"])
        c["parsed"] = c["parsed_files"] > 0
        out.append(c)
    return out


def _activity(data: AnalysisData, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Activity counts over time for the report's chart: hour bins if the span allows, else days.

    Counted from every timestamped record the timeline holds (times in plausible range only, so a
    bogus 1601 or 2100 stamp does not stretch the chart; those are counted in ``out_of_range``)."""
    from triage.analyze.timeline import record_times

    lo = datetime(1990, 1, 1, tzinfo=UTC)
    hi = utc_now() + timedelta(days=2)
    times: list[datetime] = []
    out_of_range = 0
    for r in data.records:
        if isinstance(r, Finding):
            continue
        for t, _desc in (r.activity_times() if isinstance(r, ArtifactRecord) else record_times(r)):
            if lo <= t <= hi:
                times.append(t)
            else:
                out_of_range += 1
    if not times:
        return {"bin": "day", "bins": [], "first": None, "last": None, "out_of_range": out_of_range}
    first, last = min(times), max(times)
    span_h = (last - first).total_seconds() / 3600
    unit = "hour" if span_h <= ACTIVITY_MAX_BINS else "day"

    def floor(t: datetime) -> datetime:
        t = t.astimezone(UTC)
        return t.replace(minute=0, second=0, microsecond=0) if unit == "hour" else \
            t.replace(hour=0, minute=0, second=0, microsecond=0)

    counts = Counter(floor(t) for t in times)
    # day bins: merge into weeks when the span is still too long to draw
    if unit == "day" and len(counts) and (last - first).days > ACTIVITY_MAX_BINS * 7:
        unit = "week"
        wk: Counter[datetime] = Counter()
        for d, n in counts.items():
            wk[d - timedelta(days=d.weekday())] += n
        counts = wk
    fcount: Counter[datetime] = Counter()
    for f in findings:
        if f.get("when"):
            t = datetime.fromisoformat(f["when"].replace("Z", "+00:00"))
            if lo <= t <= hi:
                b = floor(t)
                if unit == "week":
                    b = b - timedelta(days=b.weekday())
                fcount[b] += 1
    keys = sorted(set(counts) | set(fcount))
    return {"bin": unit, "first": iso(first), "last": iso(last), "out_of_range": out_of_range,
            "bins": [{"start": iso(k), "count": counts.get(k, 0), "findings": fcount.get(k, 0)} for k in keys]}


def _sigma(data: AnalysisData) -> dict[str, Any]:
    from triage.analyze.sigma_findings import json_section

    return json_section(data.records, data.sigma_ruleset, data.windows)


def build_summary(data: AnalysisData, timeline_rows: int | None = None) -> dict[str, Any]:
    """The summary dict for one analyzed bundle (see the schema for every field)."""
    findings = [finding_dict(f, i + 1) for i, f in enumerate(data.findings)]
    events, event_counts = _events(data.records)
    sev = Counter(f["severity"] for f in findings)
    per_type = Counter(getattr(r, "record_type", type(r).__name__) for r in data.records)
    summary = {
        "schema_version": SCHEMA_VERSION,
        "analyzer_version": __version__,
        "generated": iso(utc_now()),
        "host": _host(data),
        "bundle": _bundle(data),
        "verdict": {"findings": len(findings), "by_severity": {s: sev.get(s, 0) for s in SEVERITIES},
                    "issues": len(data.issues)},
        "autoruns": _autoruns(data.records),
        "executions": _executions(data.records),
        "event_logs": _event_logs(data.records),
        "events": events,
        "event_counts": event_counts,
        "browser": _browser(data.records),
        "downloads": _downloads(data.records),
        "pe": _pe(data.records),
        "recycle_bin": _misc(data.records, RecycleBinItem),
        "command_history": _misc(data.records, CommandHistory),
        "artifacts": _artifacts(data.records),
        "network": _network(data),
        "yara": _yara(data.yara_hits),
        "sigma": _sigma(data),
        "findings": findings,
        "coverage": _coverage(data),
        "issues": [i.to_dict() for i in data.issues[:MAX_ISSUES]],
        "activity": _activity(data, findings),
        "stats": {
            "records": len(data.records),
            "records_by_type": dict(sorted(per_type.items())),
            "records_per_parser": dict(sorted(data.records_per_parser.items())),
            "files_per_parser": dict(sorted(data.files_per_parser.items())),
            "seconds_per_parser": {k: round(v, 4) for k, v in sorted(data.seconds_per_parser.items())},
            "timings": {k: round(v, 4) for k, v in data.timings.items()},
            "timeline_rows": timeline_rows,
            "issues_total": len(data.issues),
            "issues_dropped": max(0, len(data.issues) - MAX_ISSUES),
            "unsupported_files": len(data.unsupported),
            "parsers_unavailable": dict(data.parser_import_errors),
            "yara_enabled": bool(data.yara_enabled),
        },
    }
    from triage import verdict

    summary["verdict"] = verdict.compute(summary)
    return summary


def load_schema() -> dict[str, Any]:
    """The summary JSON Schema shipped in triage/data/summary.schema.json."""
    return json.loads(resources.files("triage").joinpath("data/summary.schema.json").read_text("utf-8"))


def validate(summary: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when ``summary`` does not follow the schema."""
    import jsonschema

    jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker()).validate(summary)
