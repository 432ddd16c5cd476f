"""Chromium History parser against every Chrome History in the shared corpus (Chrome 1 to 60).

truth.json's first/last visit are min/max of ``visits.visit_time``; the parser ignores zero times
in that min/max (none in the corpus, so no difference here).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from triage.model import BrowserDownload, BrowserHistoryStats, BrowserVisit, Issue
from triage.parsers.base import input_from_file
from triage.parsers.browser.chromium import (
    DANGER_TYPE,
    DOWNLOAD_STATE,
    TRANSITION_CORE,
    ChromiumHistoryParser,
    browser_from_path,
)
from triage.units import iso

CHROME_REL = "Users/ryan/AppData/Local/Google/Chrome/User Data/Default/History"


def _never_open():
    raise AssertionError("the History database must be read from a private copy, never the member stream")


def _item(path: Path, rel: str = CHROME_REL, **kw):
    item = input_from_file(path, rel, **kw)
    item.open = _never_open
    return item


@pytest.fixture(scope="session")
def parsed(corpus) -> dict[str, list]:
    parser = ChromiumHistoryParser()
    return {p.relative_to(corpus).as_posix(): list(parser.parse(_item(p)))
            for p in sorted((corpus / "browser" / "chrome").glob("*/History"))}


def _one(out, cls):
    return [o for o in out if isinstance(o, cls)]


def test_every_chrome_history_matches_truth(parsed, truth):
    expected = {k for k, v in truth.items() if v.get("browser") == "chrome" and "error" not in v}
    assert set(parsed) == expected and len(parsed) == 7
    for rel, out in parsed.items():
        ref = truth[rel]
        assert not _one(out, Issue), (rel, _one(out, Issue))
        (stats,) = _one(out, BrowserHistoryStats)
        assert (stats.urls, stats.visits, iso(stats.first_visit), iso(stats.last_visit), stats.downloads) == (
            ref["url_count"], ref["visit_count"], ref["first_visit"], ref["last_visit"], ref["download_count"]), rel
        assert (stats.browser, stats.user) == ("chrome", "ryan")
        visits = _one(out, BrowserVisit)
        assert len(visits) == ref["visit_count"]
        assert min(v.timestamp for v in visits) == stats.first_visit
        assert max(v.timestamp for v in visits) == stats.last_visit
        assert all(v.transition in TRANSITION_CORE.values() for v in visits), rel
        assert all(v.source.locator.startswith("visits.id=") for v in visits)
        downloads = _one(out, BrowserDownload)
        assert len(downloads) == ref["download_count"]
        for d in downloads:
            assert d.url and d.target_path and d.start is not None and d.source.locator.startswith("downloads.id=")
            assert d.state in DOWNLOAD_STATE.values()
            assert d.danger_type is None or d.danger_type in DANGER_TYPE.values()


def test_schema_eras(parsed):
    # Chrome 1 era: full_path, time_t start, no end, no danger type
    d = _one(parsed["browser/chrome/hindsight-chrome01/History"], BrowserDownload)[0]
    assert (iso(d.start), d.end, d.danger_type, d.state) == ("2013-06-05T04:28:30Z", None, None, "COMPLETE")
    assert d.target_path == "C:\\Users\\Ryan\\Documents\\Downloads\\Hard_disk.jpg"
    # Chrome 60: url from downloads_url_chains, WebKit start/end, danger type name
    d = _one(parsed["browser/chrome/hindsight-chrome60/History"], BrowserDownload)[1]
    assert d.url == "https://upload.wikimedia.org/wikipedia/commons/d/de/RamSan-400.jpg"
    assert (iso(d.start), iso(d.end)) == ("2017-08-05T22:07:20.457253Z", "2017-08-05T22:07:26.283190Z")
    assert (d.received_bytes, d.total_bytes, d.danger_type) == (316103, 316103, "NOT_DANGEROUS")
    d = _one(parsed["browser/chrome/plaso-58.0.3029.96/History"], BrowserDownload)[0]
    assert d.danger_type == "MAYBE_DANGEROUS_CONTENT"
    v = _one(parsed["browser/chrome/plaso-old/History"], BrowserVisit)[0]
    assert (v.url, v.title, v.transition) == ("http://start.ubuntu.com/10.04/Google/", "Ubuntu Start Page", "LINK")


def test_truncated_history_is_an_issue(corpus):
    out = list(ChromiumHistoryParser().parse(_item(corpus / "browser/truncated/History.truncated")))
    assert len(out) == 1 and isinstance(out[0], Issue) and out[0].severity == "error"
    assert "malformed" in out[0].message


def test_non_sqlite_and_wrong_sqlite_are_issues(corpus):
    for path in (corpus / "pe/plaso/test_pe.exe", corpus / "browser/firefox/plaso/places.sqlite"):
        out = list(ChromiumHistoryParser().parse(_item(path)))
        assert len(out) == 1 and isinstance(out[0], Issue), out


def test_wal_frames_are_read_from_the_private_copy(corpus, tmp_path):
    """A -wal beside the copy holds the newest visits: they must be counted (immutable would drop them)."""
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(corpus / "browser/chrome/hindsight-chrome60/History", live / "History")
    conn = sqlite3.connect(live / "History")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("INSERT INTO urls (url, title, visit_count, typed_count, last_visit_time, hidden) "
                  "VALUES ('https://example.org/wal', 'WAL page', 1, 0, 13146444699674034, 0)")
    conn.execute("INSERT INTO visits (url, visit_time, from_visit, transition, segment_id, visit_duration) "
                  "VALUES (last_insert_rowid(), 13146444699674034, 0, 1, 0, 0)")
    conn.commit()
    copy = tmp_path / "copy"  # what materialize() gives: the file with its -wal beside it
    copy.mkdir()
    shutil.copy(live / "History", copy / "History")
    shutil.copy(live / "History-wal", copy / "History-wal")
    conn.close()
    assert (copy / "History-wal").stat().st_size > 0
    out = list(ChromiumHistoryParser().parse(_item(copy / "History", companions=(copy / "History-wal",))))
    (stats,) = _one(out, BrowserHistoryStats)
    assert (stats.urls, stats.visits, iso(stats.last_visit)) == (32, 62, "2017-08-05T22:11:39.674034Z")
    last = _one(out, BrowserVisit)[-1]
    assert (last.url, last.title, last.transition) == ("https://example.org/wal", "WAL page", "TYPED")


def test_without_wal_nothing_is_written_beside_the_file(corpus, tmp_path):
    shutil.copy(corpus / "browser/chrome/plaso-old/History", tmp_path / "History")
    before = sorted(p.name for p in tmp_path.iterdir())
    list(ChromiumHistoryParser().parse(_item(tmp_path / "History")))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_browser_and_user_from_path(corpus):
    path = corpus / "browser/chrome/plaso-57.0.2987.133/History"
    for rel, browser in (("Users/ann/AppData/Local/Microsoft/Edge/User Data/Profile 1/History", "edge"),
                         ("Users/ann/AppData/Local/BraveSoftware/Brave-Browser/User Data/Default/History", "brave"),
                         ("home/ann/.config/google-chrome/Default/History", "chrome")):
        assert ChromiumHistoryParser.matches(rel)
        assert browser_from_path(rel) == browser
        (stats,) = _one(ChromiumHistoryParser().parse(_item(path, rel)), BrowserHistoryStats)
        assert (stats.browser, stats.user) == (browser, "ann")
    (stats,) = _one(ChromiumHistoryParser().parse(_item(path, CHROME_REL, user="profile-owner")),
                    BrowserHistoryStats)
    assert stats.user == "profile-owner"
    assert not ChromiumHistoryParser.matches("Users/ann/AppData/Local/Google/Chrome/User Data/Default/Cookies")


def test_visit_cap_is_reported(corpus):
    item = _item(corpus / "browser/chrome/hindsight-chrome10/History")
    item.options["max_visits"] = 10
    out = list(ChromiumHistoryParser().parse(item))
    assert len(_one(out, BrowserVisit)) == 10
    assert _one(out, BrowserHistoryStats)[0].visits == 84
    assert any("more than 10 visits" in i.message for i in _one(out, Issue))


def test_hostile_history_gives_issues_not_exceptions(tmp_path):
    path = tmp_path / "History"
    db = sqlite3.connect(path)
    db.executescript("""
    CREATE TABLE urls (id INTEGER PRIMARY KEY, url BLOB, title TEXT);
    CREATE TABLE visits (id INTEGER PRIMARY KEY, url INTEGER, visit_time, transition);
    CREATE TABLE downloads (id INTEGER PRIMARY KEY, state, received_bytes);
    """)
    db.execute("INSERT INTO urls VALUES (1, ?, ?)", (b"http://x/" + b"\xff" * 1_000_000, "t" * 100_000))
    db.executemany("INSERT INTO visits VALUES (?, 1, ?, ?)",
                   [(1, "not a time", "x"), (2, 13146444399432149, 0x30000001), (3, -5, None), (4, 1e300, 1)])
    db.execute("INSERT INTO downloads VALUES (1, 'weird', 'lots')")
    db.commit()
    db.close()
    out = list(ChromiumHistoryParser().parse(_item(path)))
    (stats,) = _one(out, BrowserHistoryStats)
    assert (stats.urls, stats.visits, stats.downloads) == (1, 4, 1)
    (visit,) = _one(out, BrowserVisit)
    assert visit.transition == "TYPED" and len(visit.url) == 16_384 and len(visit.title) == 2_048
    assert len([i for i in _one(out, Issue) if "valid time" in i.message]) == 3
    (d,) = _one(out, BrowserDownload)
    assert (d.url, d.target_path, d.received_bytes, d.state) == (None, None, None, "UNKNOWN('weird')")


def test_missing_tables_or_columns(tmp_path):
    for i, script in enumerate(("CREATE TABLE urls (id); CREATE TABLE meta (key, value);",
                                "CREATE TABLE urls (id, url); CREATE TABLE visits (id, url);")):
        path = tmp_path / f"h{i}" / "History"
        path.parent.mkdir()
        db = sqlite3.connect(path)
        db.executescript(script)
        db.close()
        out = list(ChromiumHistoryParser().parse(_item(path)))
        assert len(out) == 1 and isinstance(out[0], Issue) and out[0].severity == "error", out


@pytest.fixture(scope="session")
def big_history(tmp_path_factory) -> Path:
    """A History with 20k visits in the current schema, made once per session."""
    path = tmp_path_factory.mktemp("big") / "History"
    db = sqlite3.connect(path)
    db.executescript("""
    CREATE TABLE urls (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, visit_count INTEGER,
      typed_count INTEGER, last_visit_time INTEGER NOT NULL, hidden INTEGER DEFAULT 0 NOT NULL);
    CREATE TABLE visits (id INTEGER PRIMARY KEY, url INTEGER NOT NULL, visit_time INTEGER NOT NULL,
      from_visit INTEGER, transition INTEGER DEFAULT 0 NOT NULL, segment_id INTEGER, visit_duration INTEGER);
    """)
    base = 13_300_000_000_000_000
    db.executemany("INSERT INTO urls VALUES (?, ?, ?, 3, 0, ?, 0)",
                   ((i, f"https://site{i}.example/" + "p" * 200, "title " * 20, base + i) for i in range(1, 10_001)))
    db.executemany("INSERT INTO visits (url, visit_time, transition) VALUES (?, ?, 805306368)",
                   ((1 + i % 10_000, base + i * 1_000_000) for i in range(20_000)))
    db.commit()
    db.close()
    return path


def test_big_history_streams_with_flat_memory(big_history):
    import tracemalloc

    gen = ChromiumHistoryParser().parse(_item(big_history))
    tracemalloc.start()
    stats = next(gen)
    count = sum(1 for o in gen if isinstance(o, BrowserVisit))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(stats, BrowserHistoryStats) and stats.visits == count == 20_000
    assert peak < 4 * 1024 * 1024, peak  # the 20k visits (~20 MB as records) were never held at once


def test_hot_journal_is_rolled_back_not_half_read(corpus, tmp_path):
    """Copied while Chrome was mid-transaction (deleting history): the main file holds half-written pages,
    the -journal beside it the originals. The parser must read the last committed state."""
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(corpus / "browser/chrome/hindsight-chrome60/History", live / "History")
    conn = sqlite3.connect(live / "History", isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO visits (url, visit_time, from_visit, transition, segment_id, visit_duration) "
                     "VALUES (1, ?, 0, 805306368, 0, 0)", [(13146444700000000 + i,) for i in range(3000)])
    conn.execute("COMMIT")
    conn.execute("PRAGMA cache_size=2")  # force the open transaction to spill pages into the main file
    conn.execute("BEGIN")
    conn.execute("DELETE FROM visits")
    conn.execute("UPDATE urls SET title = 'cleared'")
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(live / "History", copy / "History")
    shutil.copy(live / "History-journal", copy / "History-journal")
    conn.execute("ROLLBACK")
    conn.close()
    half = sqlite3.connect(f"file:{copy / 'History'}?mode=ro&immutable=1", uri=True)
    try:
        half_visits = half.execute("SELECT count(*) FROM visits").fetchone()[0]
    except sqlite3.DatabaseError:
        half_visits = None
    half.close()
    assert half_visits != 3061  # the main file alone is not the committed state
    out = list(ChromiumHistoryParser().parse(_item(copy / "History", companions=(copy / "History-journal",))))
    (stats,) = _one(out, BrowserHistoryStats)
    assert (stats.urls, stats.visits) == (31, 3061)
    assert not any(v.title == "cleared" for v in _one(out, BrowserVisit))
    (note,) = _one(out, Issue)
    assert note.severity == "warning" and "rolled back" in note.message
    assert sorted(p.name for p in copy.iterdir()) == ["History", "History-journal"]  # copy untouched
