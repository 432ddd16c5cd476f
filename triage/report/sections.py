"""The supporting sections of report.html: host and bundle, autostarts, program execution, the
generic ``artifacts.<name>`` tables, event logs and browser activity. Each is collapsed under its
heading (the verdict, findings and off-network activity above them are what is read first)."""

from __future__ import annotations

from typing import Any

from triage.report.escape import Raw, e, ep, plural, slug, ts
from triage.report.tables import MAX_ROWS, cell, kv, section, table
from triage.units import human_size


def host(s: dict[str, Any]) -> str:
    h = s.get("host") or {}
    b = s.get("bundle") or {}
    c = b.get("collection") or {}
    users = ", ".join(str(u.get("name", "")) for u in h.get("users") or [] if isinstance(u, dict))
    left = kv([("Host name", h.get("hostname")), ("OS", h.get("os")), ("Build", h.get("os_build")),
               ("Time zone", h.get("timezone")), ("Installed", ts(h.get("install_date"))),
               ("Last shutdown", ts(h.get("last_shutdown"))), ("Domain", h.get("domain")), ("Users", users)])
    right = kv([("Bundle", b.get("name")), ("SHA-256", b.get("sha256")), ("Verified", "yes" if b.get("verified") else "NO"),
                ("Collector", c.get("collector_version")), ("Profile", c.get("profile")),
                ("Collected (UTC)", Raw(f"{ts(c.get('started'))} → {ts(c.get('finished'))}")),
                ("Operator", c.get("operator")),
                ("Live system", "yes" if c.get("live") is True else "no" if c.get("live") is False else c.get("live"))])
    probs = ""
    if b.get("verify_problems"):
        probs = "<p class='no'>Verification problems:</p><ul class='mono'>" + "".join(
            f"<li>{e(p)}</li>" for p in b["verify_problems"][:20]) + "</ul>"
    return section("host", "Host and bundle", None, f'<div class="grid2"><div>{left}</div><div>{right}</div></div>{probs}',
                   open_=bool(probs))


def autoruns(s: dict[str, Any]) -> str:
    items = [a for a in s.get("autoruns") or [] if isinstance(a, dict)]
    order = {"ifeo": 0, "run": 1, "winlogon": 2, "appinit": 3, "startup_folder": 4, "task": 5, "service": 7}
    # flagged first, then the places people persist from most, services (hundreds, mostly benign) last
    items = sorted(items, key=lambda a: (not a.get("flags"), order.get(str(a.get("category")), 6)))
    rows = []
    for a in items[:MAX_ROWS]:
        flags = "".join(f'<span class="badge flag">{e(f)}</span>' for f in a.get("flags") or [])
        cls = ' class="flagged"' if a.get("flags") else ""
        rows.append(f"<tr{cls}><td>{e(a.get('category'))}</td><td class='mono'>{e(a.get('name'))}</td>"
                    f"<td class='mono'>{ep(a.get('command'))}{flags}</td><td class='mono'>{ep(a.get('location'))}</td>"
                    f"<td>{e(a.get('user'))}</td><td>{ts(a.get('last_write'))}</td></tr>")
    flagged = sum(1 for a in items if a.get("flags"))
    return section("autoruns", "Autostarts", f"{len(items)}, {flagged} flagged",
                   table("t-autoruns", ["Category", "Name", "Command", "Location", "User", "Key last write (UTC)"],
                         rows, total=len(items)))


def executions(s: dict[str, Any]) -> str:
    items = [x for x in s.get("executions") or [] if isinstance(x, dict)]
    rows = []
    for x in items[:MAX_ROWS]:
        runs = x.get("last_runs") or []
        rows.append(f"<tr><td class='mono'>{e(x.get('executable'))}</td><td class='mono'>{ep(x.get('path'))}</td>"
                    f"<td class='num'>{e(x.get('run_count'))}</td><td>{ts(runs[0] if runs else None)}</td>"
                    f"<td>{e(x.get('source'))}</td></tr>")
    return section("executions", "Program execution", plural(len(items), "program"),
                   table("t-exec", ["Executable", "Path", "Runs", "Last run (UTC)", "Source"], rows, total=len(items)))


# execution evidence first, then what a user did by hand, then devices and networks; others after, by name
ARTIFACT_ORDER = ("bam", "shimcache", "userassist", "muicache", "runmru", "recentdocs", "typedpaths", "usb_devices",
                  "mountpoints2", "shellbags", "network_profiles")


def artifacts(s: dict[str, Any]) -> str:
    """One section per ``artifacts.<name>``, columns as the summary names them, each with a filter box."""
    arts = s.get("artifacts")
    if not isinstance(arts, dict):
        return ""
    out = []
    for name in sorted(arts, key=lambda n: (ARTIFACT_ORDER.index(n) if n in ARTIFACT_ORDER else len(ARTIFACT_ORDER), n)):
        sec = arts[name]
        if not isinstance(sec, dict):
            continue
        cols = [c for c in sec.get("columns") or [] if isinstance(c, dict) and c.get("field")]
        entries = [x for x in sec.get("entries") or [] if isinstance(x, dict)]
        total = sec.get("total") if isinstance(sec.get("total"), int) else len(entries)
        rows = ["<tr>" + "".join(cell(x.get(c["field"])) for c in cols) + "</tr>" for x in entries[:MAX_ROWS]]
        sid = slug(name)
        desc = f'<p class="muted">{e(sec.get("description"))}</p>' if sec.get("description") else ""
        out.append(section(f"artifact-{sid}", str(sec.get("title") or name), plural(total, "entry", "entries"),
                           desc + table(f"t-art-{sid}", [str(c.get("label") or c["field"]) for c in cols], rows,
                                        total=total)))
    return "".join(out)


def events(s: dict[str, Any]) -> str:
    counts = {k: v for k, v in (s.get("event_counts") or {}).items() if isinstance(v, dict)}
    logs = [x for x in s.get("event_logs") or [] if isinstance(x, dict)]
    evs = [x for x in s.get("events") or [] if isinstance(x, dict)]
    crow = [f"<tr><td>{e(k)}</td><td class='num'>{e(v.get('total'))}</td><td class='num'>{e(v.get('kept'))}</td></tr>"
            for k, v in sorted(counts.items(), key=lambda kv: -(kv[1].get("total") or 0))]
    lrow = [f"<tr><td class='mono'>{e(x.get('channel'))}</td><td class='num'>{e(x.get('records'))}</td>"
            f"<td class='num'>{e(x.get('errors'))}</td><td>{ts(x.get('first'))}</td><td>{ts(x.get('last'))}</td>"
            f"<td class='mono'>{e(', '.join(str(c) for c in (x.get('computers') or {})))}</td></tr>"
            for x in logs[:MAX_ROWS]]
    erow = [f"<tr><td>{ts(x.get('timestamp'))}</td><td>{e(x.get('category'))}</td><td class='num'>{e(x.get('event_id'))}"
            f"</td><td class='mono'>{e(x.get('channel'))}</td><td>{e(x.get('description'))}</td></tr>" for x in evs[:MAX_ROWS]]
    notable = sum(int(v.get("total") or 0) for v in counts.values())
    body = ('<div class="grid2"><div>'
            + table("t-evcounts", ["Category", "Events", "Kept in summary"], crow, filter_box=False)
            + "</div><div>"
            + table("t-logs", ["Channel", "Records", "Errors", "First (UTC)", "Last (UTC)", "Computer names"], lrow,
                    filter_box=False)
            + "</div></div><h3>Notable events</h3>"
            + table("t-events", ["Time (UTC)", "Category", "ID", "Channel", "Description"], erow, total=len(evs)))
    return section("events", "Event logs", f"{plural(len(logs), 'log')}, {plural(notable, 'notable event')}", body)


def browser(s: dict[str, Any]) -> str:
    items = [b for b in s.get("browser") or [] if isinstance(b, dict)]
    downloads = [d for d in s.get("downloads") or [] if isinstance(d, dict)]
    rows = []
    for b in items:
        tops = ", ".join(f"{d.get('domain')} ({d.get('visits')})" for d in (b.get("top_domains") or [])[:5]
                         if isinstance(d, dict))
        rows.append(f"<tr><td>{e(b.get('browser'))}</td><td>{e(b.get('user'))}</td><td class='num'>{e(b.get('urls'))}</td>"
                    f"<td class='num'>{e(b.get('visits'))}</td><td>{ts(b.get('first_visit'))}</td>"
                    f"<td>{ts(b.get('last_visit'))}</td><td class='num'>{e(b.get('downloads'))}</td>"
                    f"<td class='mono'>{e(tops)}</td></tr>")
    drows = []
    for d in downloads[:MAX_ROWS]:
        size = d.get("received_bytes")
        drows.append(f"<tr><td>{ts(d.get('start'))}</td><td>{e(d.get('browser'))}</td><td>{e(d.get('user'))}</td>"
                     f"<td class='mono'>{ep(d.get('url'))}</td><td class='mono'>{ep(d.get('target_path'))}</td>"
                     f"<td class='num'>{e(human_size(size) if isinstance(size, int) else '')}</td>"
                     f"<td>{e(d.get('danger_type'))}</td></tr>")
    body = (table("t-browser", ["Browser", "User", "URLs", "Visits", "First visit (UTC)", "Last visit (UTC)",
                                "Downloads", "Top domains"], rows, filter_box=False)
            + "<h3>Downloads</h3>"
            + table("t-downloads", ["Started (UTC)", "Browser", "User", "URL", "Saved to", "Size", "Danger"], drows,
                    total=len(downloads)))
    return section("browser", "Browser activity",
                   f"{plural(len(items), 'profile')}, {plural(len(downloads), 'download')}", body)


def yara(s: dict[str, Any]) -> str:
    hits = [h for h in s.get("yara") or [] if isinstance(h, dict)]
    if not hits:
        return ""
    rows = []
    for h in hits[:MAX_ROWS]:
        where: dict[str, Any] = h["where"] if isinstance(h.get("where"), dict) else {}
        proc: dict[str, Any] = h["process"] if isinstance(h.get("process"), dict) else {}
        who = f"pid {proc.get('pid')} {proc.get('name') or ''}".strip() if proc else ""
        rows.append(f"<tr><td class='mono'>{e(h.get('rule'))}</td><td>{e(h.get('namespace'))}</td>"
                    f"<td class='mono'>{ep(where.get('bundle_path') or h.get('bundle_path'))}</td>"
                    f"<td>{e(h.get('target'))}</td><td>{e(who)}</td></tr>")
    return section("yara", "YARA matches", plural(len(hits), "match", "matches"),
                   table("t-yara", ["Rule", "Namespace", "Member", "Target", "Process"], rows, total=len(hits)),
                   open_=True)
