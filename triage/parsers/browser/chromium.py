"""Chromium-family History databases (Chrome, Edge, Brave, Chromium) -> browser records.

Why columns, not versions: the History schema changed many times between Chrome 1 and today
(``downloads.full_path`` + time_t times before schema 24; ``target_path``/``current_path``, WebKit
times, ``danger_type`` and ``downloads_url_chains`` after it; ``urls.favicon_id`` gone; ``visits``
gaining ``visit_duration``...). Reading ``PRAGMA table_info`` and selecting only what exists, as
hindsight and plaso do with their required-structure checks, works on every era including ones
not seen yet. Rows are streamed from cursors so a large History never sits in memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from triage.model import BrowserDownload, BrowserHistoryStats, BrowserVisit, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.sqlite_util import (
    MAX_PATH_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    SQLITE_MAGIC,
    as_int,
    capped_text,
    columns,
    open_private_copy,
    tables,
)
from triage.parsers.userpath import user_from_path
from triage.timeconv import unix_utc, webkit_utc

# ui::PageTransition core types (transition & 0xFF), ui/base/page_transition_types.h
TRANSITION_CORE = {
    0: "LINK", 1: "TYPED", 2: "AUTO_BOOKMARK", 3: "AUTO_SUBFRAME", 4: "MANUAL_SUBFRAME",
    5: "GENERATED", 6: "AUTO_TOPLEVEL", 7: "FORM_SUBMIT", 8: "RELOAD", 9: "KEYWORD",
    10: "KEYWORD_GENERATED",
}
# History DB download state values (components/history/core/browser/download_constants.h)
DOWNLOAD_STATE = {0: "IN_PROGRESS", 1: "COMPLETE", 2: "CANCELLED", 3: "BUG_140687", 4: "INTERRUPTED"}
# download::DownloadDangerType values as stored in the History DB
DANGER_TYPE = {
    0: "NOT_DANGEROUS", 1: "DANGEROUS_FILE", 2: "DANGEROUS_URL", 3: "DANGEROUS_CONTENT",
    4: "MAYBE_DANGEROUS_CONTENT", 5: "UNCOMMON_CONTENT", 6: "USER_VALIDATED", 7: "DANGEROUS_HOST",
    8: "POTENTIALLY_UNWANTED", 9: "ALLOWLISTED_BY_POLICY", 10: "ASYNC_SCANNING",
    11: "BLOCKED_PASSWORD_PROTECTED", 12: "BLOCKED_TOO_LARGE", 13: "SENSITIVE_CONTENT_WARNING",
    14: "SENSITIVE_CONTENT_BLOCK", 15: "DEEP_SCANNED_SAFE", 16: "DEEP_SCANNED_OPENED_DANGEROUS",
    17: "PROMPT_FOR_SCANNING", 18: "BLOCKED_UNSUPPORTED_FILETYPE", 19: "DANGEROUS_ACCOUNT_COMPROMISE",
    20: "DEEP_SCANNED_FAILED", 21: "PROMPT_FOR_LOCAL_PASSWORD_SCANNING", 22: "ASYNC_LOCAL_PASSWORD_SCANNING",
    23: "BLOCKED_SCAN_FAILED",
}
# (path fragment, browser name), first match wins; paths are lowercased with '/' separators.
BROWSERS = (
    ("google/chrome", "chrome"), ("google-chrome", "chrome"),
    ("microsoft/edge", "edge"), ("microsoft-edge", "edge"),
    ("bravesoftware/brave-browser", "brave"),
    ("chromium", "chromium"),
)
DEFAULT_MAX_VISITS = 2_000_000
DEFAULT_MAX_DOWNLOADS = 200_000


def enum_name(table: dict[int, str], value) -> str | None:
    if value is None:
        return None
    try:
        return table.get(int(value), f"UNKNOWN({int(value)})")
    except (TypeError, ValueError):
        return f"UNKNOWN({value!r})"


def browser_from_path(rel_path: str) -> str:
    low = rel_path.replace("\\", "/").lower()
    for fragment, name in BROWSERS:
        if fragment in low:
            return name
    return "chromium"


class ChromiumHistoryParser(Parser):
    """BrowserHistoryStats, then every visit, then every download of one History database."""

    name = "chromium_history"
    patterns = (
        "*/user data/*/history",
        "*/.config/google-chrome/*/history",
        "*/.config/chromium/*/history",
        "*/.config/bravesoftware/brave-browser/*/history",
        "*/.config/microsoft-edge/*/history",
    )
    signatures = ((0, SQLITE_MAGIC),)

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        browser = browser_from_path(item.rel_path)
        user = user_from_path(item)
        try:
            db = open_private_copy(Path(item.materialize()), item.options.get("sqlite_deadline_seconds", 300.0))
        except (sqlite3.Error, OSError) as exc:
            yield item.issue(f"unreadable History database: {type(exc).__name__}: {exc}")
            return
        try:
            for note in db.notes:
                yield item.issue(note, severity="warning")
            yield from self._parse_db(item, db.conn, browser, user)
        except sqlite3.Error as exc:
            yield item.issue(f"History database unreadable past this point: {type(exc).__name__}: {exc}")
        finally:
            db.close()

    def _parse_db(self, item: ParseInput, conn: sqlite3.Connection, browser: str,
                  user: str | None) -> Iterator[Record | Issue]:
        have = tables(conn)
        if not {"urls", "visits"} <= have:
            yield item.issue("not a Chromium History database (no urls/visits tables)")
            return
        vcols = columns(conn, "visits")
        if not {"id", "url", "visit_time"} <= vcols:
            yield item.issue(f"visits table lacks id/url/visit_time (has {sorted(vcols)})")
            return
        dcols = columns(conn, "downloads") if "downloads" in have else set()

        url_count = conn.execute("SELECT count(*) FROM urls").fetchone()[0]
        visits, first, last = conn.execute(
            "SELECT count(*), min(NULLIF(visit_time, 0)), max(NULLIF(visit_time, 0)) FROM visits").fetchone()
        download_count = conn.execute("SELECT count(*) FROM downloads").fetchone()[0] if dcols else 0
        yield BrowserHistoryStats(
            source=item.source(), browser=browser, user=user, urls=url_count, visits=visits,
            first_visit=webkit_utc(first), last_visit=webkit_utc(last), downloads=download_count)

        yield from self._visits(item, conn, browser, user, vcols)
        if dcols:
            yield from self._downloads(item, conn, browser, user, dcols, "downloads_url_chains" in have)

    def _visits(self, item, conn, browser, user, vcols) -> Iterator[Record | Issue]:
        limit = int(item.options.get("max_visits", DEFAULT_MAX_VISITS))
        transition = "v.transition" if "transition" in vcols else "NULL"
        ucols = columns(conn, "urls")
        title = capped_text("u.title", MAX_TITLE_CHARS) if "title" in ucols else "NULL"
        cursor = conn.execute(
            f"SELECT v.id, v.visit_time, {capped_text('u.url', MAX_URL_CHARS)}, {title}, {transition} "
            "FROM visits v LEFT JOIN urls u ON u.id = v.url ORDER BY v.id")
        for n, (vid, vtime, url, vtitle, trans) in enumerate(cursor):
            if n >= limit:
                yield item.issue(f"more than {limit} visits: the rest are counted in the stats, not listed",
                                 severity="warning")
                break
            when = webkit_utc(as_int(vtime))
            if when is None:
                yield item.issue(f"visit without a valid time ({vtime!r})", severity="warning",
                                 locator=f"visits.id={vid}")
                continue
            core = as_int(trans)
            yield BrowserVisit(
                source=item.source(f"visits.id={vid}"), browser=browser, user=user, timestamp=when,
                url=url if url is not None else "", title=vtitle or None,
                transition=enum_name(TRANSITION_CORE, core & 0xFF) if core is not None else None)

    def _downloads(self, item, conn, browser, user, dcols, has_chains) -> Iterator[Record | Issue]:
        limit = int(item.options.get("max_downloads", DEFAULT_MAX_DOWNLOADS))
        # Before schema 24 downloads held full_path and time_t seconds; after it target_path and WebKit µs.
        legacy = "full_path" in dcols and "target_path" not in dcols
        to_time = unix_utc if legacy else webkit_utc

        def col(name: str) -> str:
            return f"d.{name}" if name in dcols else "NULL"

        path_expr = "d.full_path" if legacy else (
            "COALESCE(NULLIF(d.target_path, ''), NULLIF(d.current_path, ''))" if "current_path" in dcols
            else col("target_path"))
        path_expr = capped_text(path_expr, MAX_PATH_CHARS)
        if has_chains:
            # Chromium's DownloadItem::GetURL() is the last URL of the chain (after redirects).
            url_expr = ("(SELECT c.url FROM downloads_url_chains c WHERE c.id = d.id "
                        "ORDER BY c.chain_index DESC LIMIT 1)")
            if "url" in dcols:
                url_expr = f"COALESCE({url_expr}, d.url)"
        else:
            url_expr = col("url")
        url_expr = capped_text(url_expr, MAX_URL_CHARS)
        cursor = conn.execute(
            f"SELECT d.id, {col('start_time')}, {col('end_time')}, {url_expr}, {path_expr}, "
            f"{col('received_bytes')}, {col('total_bytes')}, {col('danger_type')}, {col('state')} "
            "FROM downloads d ORDER BY d.id")
        for n, (did, start, end, url, target, received, total, danger, state) in enumerate(cursor):
            if n >= limit:
                yield item.issue(f"more than {limit} downloads: the rest are counted, not listed",
                                 severity="warning")
                break
            yield BrowserDownload(
                source=item.source(f"downloads.id={did}"), browser=browser, user=user,
                start=to_time(as_int(start)), end=to_time(as_int(end)), url=url or None,
                target_path=target or None, received_bytes=as_int(received), total_bytes=as_int(total),
                danger_type=enum_name(DANGER_TYPE, danger), state=enum_name(DOWNLOAD_STATE, state))
