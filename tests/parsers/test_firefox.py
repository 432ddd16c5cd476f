"""Firefox parser: the corpus places.sqlite against truth.json, plus small databases built here in the
real schemas for what the corpus lacks (modern annotation downloads, pre-Firefox-20 downloads.sqlite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from triage.model import BrowserDownload, BrowserHistoryStats, BrowserVisit, Issue
from triage.parsers.base import input_from_file
from triage.parsers.browser.firefox import FirefoxHistoryParser, file_uri_to_path
from triage.units import iso

PROFILE = "Users/ann/AppData/Roaming/Mozilla/Firefox/Profiles/abcd1234.default-release"


def _parse(path: Path, name: str = "places.sqlite", **kw) -> list:
    return list(FirefoxHistoryParser().parse(input_from_file(path, f"{PROFILE}/{name}", **kw)))


def _of(out, cls):
    return [o for o in out if isinstance(o, cls)]


@pytest.fixture(scope="session")
def corpus_places(corpus) -> list:
    return _parse(corpus / "browser/firefox/plaso/places.sqlite")


def test_every_corpus_firefox_db_matches_truth(corpus, truth, corpus_places):
    rels = [k for k, v in truth.items() if v.get("browser") == "firefox"]
    assert rels == ["browser/firefox/plaso/places.sqlite"]
    ref = truth[rels[0]]
    assert not _of(corpus_places, Issue)
    (stats,) = _of(corpus_places, BrowserHistoryStats)
    assert (stats.urls, stats.visits, iso(stats.first_visit), iso(stats.last_visit)) == (
        ref["url_count"], ref["visit_count"], ref["first_visit"], ref["last_visit"])
    assert (stats.browser, stats.user, stats.downloads) == ("firefox", "ann", 0)
    (visit,) = _of(corpus_places, BrowserVisit)
    assert (iso(visit.timestamp), visit.url, visit.title, visit.transition) == (
        ref["first_visit"], "http://news.google.com/", "Google News", "TYPED")
    assert visit.source.locator == "moz_historyvisits.id=1"


def _modern_places(path: Path) -> None:
    """Firefox 60+ layout (moz_places with guid/frecency..., annotation downloads)."""
    db = sqlite3.connect(path)
    db.executescript("""
    CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, rev_host LONGVARCHAR,
      visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0 NOT NULL, typed INTEGER DEFAULT 0 NOT NULL,
      frecency INTEGER DEFAULT -1 NOT NULL, last_visit_date INTEGER, guid TEXT, foreign_count INTEGER DEFAULT 0,
      url_hash INTEGER DEFAULT 0, description TEXT, preview_image_url TEXT, origin_id INTEGER);
    CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER,
      visit_date INTEGER, visit_type INTEGER, session INTEGER);
    CREATE TABLE moz_anno_attributes (id INTEGER PRIMARY KEY, name VARCHAR(32) UNIQUE NOT NULL);
    CREATE TABLE moz_annos (id INTEGER PRIMARY KEY, place_id INTEGER NOT NULL, anno_attribute_id INTEGER,
      content LONGVARCHAR, flags INTEGER DEFAULT 0, expiration INTEGER DEFAULT 0, type INTEGER DEFAULT 0,
      dateAdded INTEGER DEFAULT 0, lastModified INTEGER DEFAULT 0);
    INSERT INTO moz_places (id, url, title, visit_count, last_visit_date) VALUES
      (1, 'https://www.mozilla.org/', 'Mozilla', 1, 1700000000000000),
      (2, 'https://dl.example.com/tool.exe', 'tool.exe', 1, 1700000100123456);
    INSERT INTO moz_historyvisits VALUES (1, 0, 1, 1700000000000000, 2, 0), (2, 1, 2, 1700000100123456, 7, 0);
    INSERT INTO moz_anno_attributes VALUES (1, 'downloads/destinationFileURI'), (2, 'downloads/metaData');
    INSERT INTO moz_annos (id, place_id, anno_attribute_id, content, dateAdded, lastModified) VALUES
      (1, 2, 1, 'file:///C:/Users/ann/Downloads/tool%20v2.exe', 1700000100200000, 1700000100200000),
      (2, 2, 2, '{"state":1,"deleted":false,"endTime":1700000105000,"fileSize":4096}', 1700000100200000, 0);
    """)
    db.commit()
    db.close()


def test_modern_places_annotation_downloads(tmp_path):
    _modern_places(tmp_path / "places.sqlite")
    out = _parse(tmp_path / "places.sqlite")
    assert not _of(out, Issue)
    (stats,) = _of(out, BrowserHistoryStats)
    assert (stats.urls, stats.visits, stats.downloads) == (2, 2, 1)
    assert (iso(stats.first_visit), iso(stats.last_visit)) == ("2023-11-14T22:13:20Z", "2023-11-14T22:15:00.123456Z")
    assert [v.transition for v in _of(out, BrowserVisit)] == ["TYPED", "DOWNLOAD"]
    (d,) = _of(out, BrowserDownload)
    assert (d.url, d.target_path, d.total_bytes, d.state) == (
        "https://dl.example.com/tool.exe", "C:\\Users\\ann\\Downloads\\tool v2.exe", 4096, "FINISHED")
    assert (iso(d.start), iso(d.end)) == ("2023-11-14T22:15:00.200000Z", "2023-11-14T22:15:05Z")


def test_old_downloads_sqlite(tmp_path):
    path = tmp_path / "downloads.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
    CREATE TABLE moz_downloads (id INTEGER PRIMARY KEY, name TEXT, source TEXT, target TEXT, tempPath TEXT,
      startTime INTEGER, endTime INTEGER, state INTEGER, referrer TEXT, entityID TEXT, currBytes INTEGER NOT NULL
      DEFAULT 0, maxBytes INTEGER NOT NULL DEFAULT -1, mimeType TEXT, preferredApplication TEXT,
      preferredAction INTEGER NOT NULL DEFAULT 0, autoResume INTEGER NOT NULL DEFAULT 0, guid TEXT);
    INSERT INTO moz_downloads (id, name, source, target, startTime, endTime, state, currBytes, maxBytes)
      VALUES (1, 'setup.exe', 'http://old.example.net/setup.exe', 'file:///home/ann/Downloads/setup.exe',
              1309518981371935, 1309518990000000, 1, 2048, 2048),
             (2, 'x.zip', 'http://old.example.net/x.zip', 'file:///C:/Temp/x.zip', 1309519000000000, 0, 3, 10, -1);
    """)
    db.commit()
    db.close()
    out = _parse(path, "downloads.sqlite")
    assert not _of(out, Issue) and not _of(out, BrowserHistoryStats)
    d1, d2 = _of(out, BrowserDownload)
    assert (d1.url, d1.target_path, d1.received_bytes, d1.total_bytes, d1.state) == (
        "http://old.example.net/setup.exe", "/home/ann/Downloads/setup.exe", 2048, 2048, "FINISHED")
    assert (iso(d1.start), iso(d1.end)) == ("2011-07-01T11:16:21.371935Z", "2011-07-01T11:16:30Z")
    assert (d2.target_path, d2.end, d2.total_bytes, d2.state) == ("C:\\Temp\\x.zip", None, None, "CANCELED")


def test_bad_inputs_are_issues(corpus, tmp_path):
    for path in (corpus / "browser/truncated/History.truncated", corpus / "browser/chrome/plaso-old/History",
                 corpus / "pe/plaso/test_pe.exe"):
        out = _parse(path)
        assert len(out) == 1 and isinstance(out[0], Issue) and out[0].severity == "error", (path, out)
    bad_meta = tmp_path / "places.sqlite"
    _modern_places(bad_meta)
    db = sqlite3.connect(bad_meta)
    db.execute("UPDATE moz_annos SET content = '{not json' WHERE id = 2")
    db.commit()
    db.close()
    out = _parse(bad_meta)
    assert len(_of(out, BrowserDownload)) == 1 and any("not JSON" in i.message for i in _of(out, Issue))


def test_patterns_and_uri_paths():
    assert FirefoxHistoryParser.matches(f"{PROFILE}/places.sqlite")
    assert FirefoxHistoryParser.matches("home/ann/.mozilla/firefox/x1.default/downloads.sqlite")
    assert not FirefoxHistoryParser.matches(f"{PROFILE}/cookies.sqlite")
    assert file_uri_to_path("file://fileserver/share/a%20b.doc") == "\\\\fileserver\\share\\a b.doc"
