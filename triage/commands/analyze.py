"""``triage analyze``: bundles (files or folders of them) -> per-host outputs + the fleet view.

One task per bundle on a local process pool (``--jobs``) or a Dask cluster (``--dask-scheduler``);
results go into ``DIR/fleet.sqlite`` as each bundle finishes, then the fleet analysis (stacking,
IOC sweep, scores) runs over the whole store and ``DIR/index.html`` is written. Re-running over the
same folder skips bundles already analyzed (same SHA-256, same analyzer version and options) and
picks up new ones, so a folder can be analyzed as bundles arrive. A bad bundle is a row in the
fleet's problems, never the end of the batch. Exit (:mod:`triage.exit_codes`): 0 when every bundle
named is analyzed, 4 when some are not (damaged, not a bundle, encrypted), 1 when none is, 2 for a
command line it cannot act on. A file that is not a ZIP is "not a bundle" and never analyzed, even
with ``--force`` (which only lets a damaged bundle through).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from triage import exit_codes as X
from triage.terminal import safe, shorten
from triage.units import human_size, parse_size


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="BUNDLE_OR_DIR",
                   help="bundle files (.zip) or directories searched recursively for them")
    p.add_argument("--output", "-o", metavar="DIR", required=True,
                   help="fleet directory: fleet.sqlite, index.html, hosts/<host>_<sha12>/")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes for a local run (default: number of cores)")
    p.add_argument("--force", action="store_true",
                   help="analyze again bundles already in the store, and analyze bundles that fail verification")
    p.add_argument("--rules", action="append", default=[], metavar="PATH",
                   help="extra YARA rule file or directory (repeatable)")
    p.add_argument("--no-yara", action="store_true", help="do not run YARA")
    p.add_argument("--sigma", action="append", default=[], metavar="PATH",
                   help="Sigma rule file (.yml) or folder searched recursively, added to the built-in pack "
                        "(repeatable), e.g. a checkout of SigmaHQ's rules/windows")
    p.add_argument("--no-builtin-sigma", action="store_true", help="do not load triage's own Sigma rules")
    p.add_argument("--no-sigma", action="store_true", help="evaluate no Sigma rules at all")
    p.add_argument("--ioc", action="append", default=[], metavar="FILE",
                   help="IOC file: TYPE:VALUE lines, 'type,value' CSV or a STIX 2.1 bundle (repeatable)")
    p.add_argument("--dask-scheduler", metavar="URL",
                   help="run the per-bundle tasks on a Dask cluster, e.g. tcp://10.0.0.5:8786 (bundles and"
                        " --output must be on storage the workers see at the same paths)")
    p.add_argument("--rare-threshold", metavar="N|P%",
                   help="an item on at most N hosts (or P%% of the fleet) is rare (default: 1%%, at least 1)")
    p.add_argument("--worker-memory", metavar="SIZE", type=parse_size,
                   help="address-space cap per local worker, e.g. 4GiB (a bundle exceeding it fails alone)")
    p.add_argument("--max-tasks-per-child", type=int, default=32, metavar="N",
                   help="recycle a local worker process after N bundles (bounded memory; default 32)")
    p.add_argument("--timeline", choices=("highlights", "full"), default="highlights",
                   help="timeline.jsonl/csv per host: the typed highlights (default) or every event-log record "
                        "too (full; for Timesketch; bigger and slower)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines or closing table")
    p.add_argument("--json", action="store_true",
                   help="print the run as one JSON object on stdout (bundles, report paths, ranking, exit code)")


def _rule_problems(options: dict) -> list[str]:
    """Compile the Sigma rules once for the batch (workers read the compiled set from the cache) and
    check the YARA rules; what did not load is said up front, and again in each host's issues."""
    lines = []
    if options.get("sigma"):
        from triage.sigma.load import load_rules

        try:
            rs = load_rules(options["sigma_paths"], builtin=options["sigma_builtin"])
        except Exception as exc:
            lines.append(f"Sigma rules could not be loaded: {type(exc).__name__}: {exc}")
        else:
            options["sigma_key"] = rs.key
            lines.append(f"Sigma: {rs.loaded} rules loaded from {rs.files} files"
                         + (f", {len(rs.skipped)} not evaluated ('triage rules check --sigma' lists them)"
                            if rs.skipped else ""))
    if options.get("yara", True):
        try:
            from triage.scan.rules import compile_rules

            compiled = compile_rules(options.get("rules") or ())
            for issue in compiled.issues[:20]:
                where = issue.source.bundle_path if issue.source else ""
                lines.append(f"YARA {issue.severity}: {where}: {issue.message}")
        except Exception as exc:
            lines.append(f"YARA rules could not be compiled: {type(exc).__name__}: {exc}")
    return lines


def run(args: argparse.Namespace) -> int:
    from triage.bundle.kind import file_kind
    from triage.fleet import batch, index, ioc, score, stacking, store

    out = Path(args.output).resolve()
    if args.jobs < 1:
        print("triage analyze: --jobs must be at least 1", file=sys.stderr)
        return X.USAGE
    try:
        stacking.rare_threshold(args.rare_threshold, 100)  # a typo fails now, not after the batch
    except ValueError as exc:
        print(f"triage analyze: bad --rare-threshold: {exc}", file=sys.stderr)
        return X.USAGE
    missing = [i for i in args.inputs if not Path(i).exists()]
    if missing:
        print(f"triage analyze: no such file or directory: {', '.join(safe(m) for m in missing)}", file=sys.stderr)
        return X.USAGE
    out.mkdir(parents=True, exist_ok=True)
    bundles, encrypted = batch.find_inputs(args.inputs, exclude=out)
    if not bundles and not encrypted:
        print(f"triage analyze: no bundles (*.zip) found in {', '.join(safe(i) for i in args.inputs)}",
              file=sys.stderr)
        return X.USAGE
    iocs, fleet_issues = [], []
    for f in args.ioc:
        found, problems = ioc.load_ioc_file(Path(f))
        iocs.extend(found)
        fleet_issues.extend(problems)

    conn = store.open_store(out / "fleet.sqlite")
    options = {"force": args.force, "rules": [str(Path(r).resolve()) for r in args.rules],
               "yara": not args.no_yara, "strict": False, "sigma": not args.no_sigma,
               "sigma_paths": [str(Path(r).resolve()) for r in args.sigma],
               "sigma_builtin": not args.no_builtin_sigma, "timeline": args.timeline}
    rule_lines = _rule_problems(options)
    for line in rule_lines:
        print(f"triage analyze: {line}", file=sys.stderr)
    version = batch.analyzer_version(options)
    options["analyzer_version"] = version
    known = store.analyzed(conn, version)

    todo: dict[str, batch.BundleInput] = {}
    this_run: dict[str, str] = {}  # sha256 -> path, every bundle named on this command line
    skipped = 0
    t0 = time.perf_counter()
    for path in bundles + encrypted:
        st = path.stat()
        sha = store.cached_hash(conn, str(path), st.st_size, st.st_mtime_ns)
        if sha is None:
            sha = batch.sha256_file(path)
            store.remember_hash(conn, str(path), st.st_size, st.st_mtime_ns, sha)
        this_run.setdefault(sha, str(path))
        kind = file_kind(path) if path not in encrypted else None
        if kind is not None and not kind.is_bundle:  # never analyzed, whatever --force says
            store.record_bundle(conn, {"path": str(path), "sha256": sha, "size": st.st_size,
                                       "analyzer_version": version, "status": "not_a_bundle",
                                       "error": kind.reason}, None)
            continue
        if path in encrypted:
            if sha not in known or args.force:
                store.record_bundle(conn, {"path": str(path), "sha256": sha, "size": st.st_size,
                                           "analyzer_version": version, "status": "encrypted",
                                           "error": "encrypted bundle: run 'triage decrypt' first"}, None)
            continue
        if (sha in known and not args.force) or sha in todo:
            skipped += 1
            continue
        todo[sha] = batch.BundleInput(str(path), st.st_size, sha)
    conn.commit()
    hash_s = time.perf_counter() - t0

    done = {"ok": 0, "failed": 0}
    total = len(todo)
    bar = progress_bar(total, enabled=not args.quiet and total > 1 and sys.stderr.isatty())

    def on_result(result: dict) -> None:
        summary = None
        if result["status"] == "ok" and result.get("rows") is None:  # a worker that did not prepare rows
            try:
                summary = json.loads((out / result["host_dir"] / "summary.json").read_text("utf-8"))
            except (OSError, ValueError) as exc:
                result.update(status="failed", error=f"summary.json unreadable: {exc}")
        try:
            store.record_bundle(conn, result, summary)
        except Exception as exc:  # a summary the store cannot take: the bundle fails, the batch goes on
            conn.rollback()
            result.update(status="failed", error=f"could not load into fleet.sqlite: {type(exc).__name__}: {exc}")
            store.record_bundle(conn, result, None)
        conn.commit()
        done[result["status"]] = done.get(result["status"], 0) + 1
        if args.quiet:
            return
        n = sum(done.values())
        what = safe(result.get("host") or Path(result["path"]).name)
        if result["status"] == "ok":
            line = f"[{n}/{total}] ok     {what}  {result.get('duration_s', 0):.1f} s"
        else:
            line = f"[{n}/{total}] {result['status']:<6} {what}  {shorten(safe(result.get('error') or ''), 160)}"
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(shorten(what, 40), refresh=False)
            if result["status"] != "ok":  # failures stay on screen above the bar; successes only move it
                bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    t1 = time.perf_counter()
    items = list(todo.values())
    try:
        if args.dask_scheduler:
            try:
                batch.run_dask(items, out, options, args.dask_scheduler, on_result)
            except (OSError, TimeoutError, ImportError) as exc:
                print(f"triage analyze: Dask scheduler {args.dask_scheduler}: {type(exc).__name__}: {exc}"
                      " (bundles finished so far are in fleet.sqlite; run again to go on)", file=sys.stderr)
                return X.USAGE
        else:
            batch.run_local(items, out, options, args.jobs, on_result, memory_limit=args.worker_memory,
                            max_tasks_per_child=max(1, args.max_tasks_per_child))
    finally:
        if bar is not None:
            bar.close()
    batch_s = time.perf_counter() - t1

    t2 = time.perf_counter()
    total_hosts = stacking.fleet_hosts(conn)
    try:
        threshold = stacking.rare_threshold(args.rare_threshold, total_hosts)
    except ValueError as exc:
        print(f"triage analyze: {exc}", file=sys.stderr)
        return X.USAGE
    rare = stacking.record_rare(conn, threshold)
    matches = ioc.sweep(conn, iocs)  # also clears the matches of an earlier run's IOCs
    scores = score.compute_scores(conn)
    write_fleet_findings(conn, out)
    index_path = index.write_index(conn, out, rare_threshold=threshold, ioc_files=[str(f) for f in args.ioc],
                                   issues=fleet_issues)
    fleet_s = time.perf_counter() - t2

    results = run_results(conn, this_run, out)
    ok_now = sum(1 for r in results if r["status"] == "ok")
    code = X.OK if ok_now == len(results) else (X.PARTIAL if ok_now else X.EVIDENCE)
    failed = [r for r in results if r["status"] != "ok"]
    if args.json:
        print(json.dumps(json_report(results, scores, rare, matches, analyzed=done, skipped=skipped,
                                     threshold=threshold, total_hosts=total_hosts, index_path=index_path,
                                     code=code), indent=2, ensure_ascii=True))
    elif not args.quiet:
        print(closing_table(scores, rare, matches, failed, analyzed=done, skipped=skipped, threshold=threshold,
                            total_hosts=total_hosts, index_path=index_path, timings=(hash_s, batch_s, fleet_s),
                            fleet_issues=fleet_issues, results=results, code=code))
    conn.close()
    return code


def progress_bar(total: int, enabled: bool):
    """A tqdm bar over the bundles (stderr, only on a terminal: a log file gets one line per bundle)."""
    if not enabled:
        return None
    from tqdm import tqdm

    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        width = 0
    # a terminal that reports no width (a fresh pty, some CI consoles) gets 80 columns, not an empty bar
    return tqdm(total=total, unit="bundle", desc="analyze", file=sys.stderr, leave=True,
                dynamic_ncols=width > 0, ncols=None if width > 0 else 80)


def run_results(conn, this_run: dict[str, str], out: Path) -> list[dict]:
    """One row per bundle named on this command line (analyzed now or found in the store from an
    earlier run), with the fleet's host name and the host's report path."""
    results = []
    for sha, path in this_run.items():
        row = conn.execute("SELECT b.status, b.error, b.host_dir, h.name AS host, h.reported_name FROM bundles b"
                           " LEFT JOIN hosts h ON h.id = b.host_id WHERE b.sha256 = ? ORDER BY b.id DESC LIMIT 1",
                           (sha,)).fetchone()
        if row is None:
            results.append({"path": path, "sha256": sha, "status": "failed", "error": "not recorded",
                            "host": None, "registry_name": None, "report": None, "summary": None})
            continue
        host_dir = out / row["host_dir"] if row["host_dir"] and row["status"] == "ok" else None
        results.append({"path": path, "sha256": sha, "status": row["status"], "error": row["error"],
                        "host": row["host"], "registry_name": row["reported_name"],
                        "report": str(host_dir / "report.html") if host_dir else None,
                        "summary": str(host_dir / "summary.json") if host_dir else None})
    results.sort(key=lambda r: (r["status"] != "ok", str(r["host"] or ""), r["path"]))
    return results


def json_report(results, scores, rare, matches, *, analyzed, skipped, threshold, total_hosts, index_path,
                code) -> dict:
    """``--json``: the run for a machine (host names as stored, unescaped: JSON escapes them itself)."""
    return {
        "exit_code": code, "meaning": X.MEANINGS[code],
        "analyzed_now": dict(analyzed), "skipped_already_analyzed": skipped,
        "bundles": results,
        "fleet": {"index": str(index_path), "store": str(index_path.parent / "fleet.sqlite"),
                  "hosts": total_hosts, "rare_threshold": threshold,
                  "rare_items": {k: len(v) for k, v in rare.items()},
                  "ioc_matches": len(matches)},
        "ranking": [{"rank": i, "host": s.host, "score": s.score,
                     "top": [{"rule": e["rule"], "count": e["count"]} for e in s.explained[:3]]}
                    for i, s in enumerate(scores, 1)],
    }


def write_fleet_findings(conn, out: Path) -> None:
    """Fleet findings (rare items, IOC matches) of each host, beside its summary.json as
    ``fleet_findings.json`` (the analyzer's summary.json is left as it wrote it)."""
    rows = conn.execute("SELECT b.host_dir, f.rule, f.severity, f.title, f.reason, f.evidence, f.origin"
                        " FROM findings f JOIN bundles b ON b.id = f.bundle_id"
                        " WHERE f.origin <> 'host' AND b.status = 'ok' ORDER BY b.host_dir, f.id").fetchall()
    per: dict[str, list[dict]] = {}
    for r in rows:
        per.setdefault(r["host_dir"], []).append({"origin": r["origin"], "rule": r["rule"], "severity": r["severity"],
                                                  "title": r["title"], "reason": r["reason"],
                                                  "evidence": json.loads(r["evidence"] or "[]")})
    for (host_dir,) in conn.execute("SELECT host_dir FROM bundles WHERE status = 'ok'").fetchall():
        path = out / host_dir / "fleet_findings.json"
        text = json.dumps({"fleet_findings": per.get(host_dir, [])}, ensure_ascii=False, indent=1)
        if (not path.exists() or path.read_text("utf-8") != text) and path.parent.is_dir():
            path.write_text(text, encoding="utf-8")


def closing_table(scores, rare, matches, failed, *, analyzed, skipped, threshold, total_hosts, index_path,
                  timings, fleet_issues, results=(), code=X.OK) -> str:
    """The human end of a run: counts, the ranking, what could not be analyzed, then each host's
    report and the fleet index last, where the eye lands. Host names and errors come from bundles:
    escaped (:func:`safe`) and shortened between words."""
    hash_s, batch_s, fleet_s = timings
    lines = [f"analyzed now: {analyzed.get('ok', 0)} ok, {analyzed.get('failed', 0)} failed; skipped (already"
             f" analyzed): {skipped}; hosts in fleet: {total_hosts}",
             f"time: hashing {hash_s:.1f} s, analysis {batch_s:.1f} s, fleet {fleet_s:.1f} s"]
    rare_counts = ", ".join(f"{k} {len(v)}" for k, v in rare.items() if v)
    lines.append(f"rare items (on at most {threshold} host{'' if threshold == 1 else 's'}): {rare_counts or 'none'}")
    if matches:
        lines.append(f"IOC matches: {len(matches)} on {len({m.host_id for m in matches})} host(s)")
    lines.append("")
    lines.append(f"{'rank':>4}  {'score':>7}  host")
    for i, s in enumerate(scores[:15], 1):
        top = ", ".join(f"{e['rule']} x{e['count']}" for e in s.explained[:3])
        lines.append(f"{i:>4}  {s.score:>7g}  {safe(s.host)}  ({top})")
    if len(scores) > 15:
        lines.append(f"      ... {len(scores) - 15} more in index.html")
    if failed:
        lines.append("")
        lines.append(f"not analyzed ({len(failed)}):")
        for r in failed[:20]:
            lines.append(f"  {r['status']:<12} {safe(Path(r['path']).name)}: {shorten(safe(r['error'] or ''), 150)}")
        if len(failed) > 20:
            lines.append(f"  ... {len(failed) - 20} more in index.html")
    for text in fleet_issues[:20]:
        lines.append(f"  ioc issue: {shorten(safe(text), 150)}")
    reports = [r for r in results if r.get("report")]
    if reports:
        lines.append("")
        lines.append("reports:")
        width = min(32, max(len(safe(r["host"] or "")) for r in reports[:REPORTS_SHOWN]))
        for r in reports[:REPORTS_SHOWN]:
            # the report's folder and title carry the name the host's registry gives, when it has one
            other = r.get("registry_name")
            note = f"  (registry name {safe(other)})" if other and other != r["host"] else ""
            lines.append(f"  {safe(r['host'] or '?'):<{width}}{note}  {r['report']}")
        if len(reports) > REPORTS_SHOWN:
            lines.append(f"  ... {len(reports) - REPORTS_SHOWN} more: every host is linked from index.html")
    lines.append(f"\nfleet: {index_path}  (store: {index_path.parent / 'fleet.sqlite'},"
                 f" {human_size((index_path.parent / 'fleet.sqlite').stat().st_size)})")
    if code != X.OK:
        lines.append(f"exit {code}: {X.MEANINGS[code]} ({len(failed)} of {len(results)} bundle"
                     f"{'' if len(results) == 1 else 's'} not analyzed)")
    return "\n".join(lines)


REPORTS_SHOWN = 30
