"""A browser database from the corpus whose schema holds non-UTF-8 bytes (the crash class mutation
fuzzing found): every failure is an ``sqlite3.Error`` the parsers already turn into an Issue, and
the Chromium parser reports the file instead of crashing."""

from __future__ import annotations

import functools
import shutil
import sqlite3
from pathlib import Path

import pytest

from triage.bundle.manifest import ManifestEntry
from triage.parsers.base import ParseInput
from triage.parsers.browser.chromium import ChromiumHistoryParser
from triage.parsers.sqlite_util import open_private_copy


def _poisoned(corpus: Path, dest: Path) -> Path:
    """The corpus Chromium History with its 'urls' table's CREATE statement broken and its name (the
    sqlite_master 'name' column, which SQLite quotes in "malformed database schema (NAME)") given a
    0xFF byte: the error message then holds bytes that are not UTF-8."""
    src = corpus / "browser" / "chrome" / "hindsight-chrome10" / "History"
    data = bytearray(src.read_bytes())
    at = data.find(b"tableurlsurls")
    assert at > 0
    data[at:at + 13] = b"tableurl\xffurls"
    at = data.find(b"CREATE TABLE urls", at)
    assert at > 0
    data[at:at + 6] = b"CREATX"
    dest.write_bytes(bytes(data))
    return dest


def test_non_utf8_schema_error_is_an_sqlite_error(corpus, tmp_path):
    path = _poisoned(corpus, tmp_path / "History")
    with pytest.raises(sqlite3.DatabaseError) as info:
        db = open_private_copy(path)
        db.conn.execute("SELECT count(*) FROM urls").fetchone()
    assert "not UTF-8" in str(info.value) or "malformed" in str(info.value)


def test_chromium_parser_reports_the_poisoned_file(corpus, tmp_path):
    path = _poisoned(corpus, tmp_path / "History")
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    entry = ManifestEntry(path="C:\\Users\\u\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\History",
                          volume="C", bundle_path="files/C/Users/u/AppData/Local/Google/Chrome/User Data/Default/History",
                          artifact="chrome", priority=1, outcome="collected", user="u")

    def materialize() -> Path:
        dest = copy_dir / "History"
        if not dest.exists():
            shutil.copyfile(path, dest)
        return dest

    item = ParseInput(entry=entry, rel_path=entry.rel_path, companions=[], open=functools.partial(path.open, "rb"),
                      materialize=materialize)
    out = list(ChromiumHistoryParser().parse(item))
    messages = [getattr(o, "message", "") for o in out]
    assert any("not UTF-8" in m or "malformed" in m for m in messages), messages
