"""Opening browser SQLite databases safely, and asking them what they hold.

Why a helper: Chromium and Firefox parsers share the same hazards. The database must be a private
copy (``ParseInput.materialize()``), never the bundle member; it is opened read-only. ``immutable=1``
(no locks, no -shm, nothing ever written) is used only when no -wal/-journal sits beside the copy:
immutable makes SQLite ignore those files, which would silently drop the newest, not yet
checkpointed history. With a -wal present the copy is opened ``mode=ro`` so its frames are read
(SQLite may create a -shm in the private directory, never next to evidence). A hot -journal (copied
mid-transaction) leaves half-written pages in the main file; it is rolled back in a scratch copy
owned here, so the last committed state is read, never a torn one. A hostile file must not
hang the run: a progress handler aborts any statement past a deadline, text that is not UTF-8 is
decoded with replacement instead of raising, and schema code is not trusted.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
DEFAULT_DEADLINE_SECONDS = 300.0


@dataclass
class OpenedDatabase:
    """A read-only connection plus what was noticed while opening it (becomes Issues)."""

    conn: sqlite3.Connection
    notes: list[str] = field(default_factory=list)
    mode: str = "immutable"
    scratch: tempfile.TemporaryDirectory | None = None

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
        if self.scratch is not None:
            self.scratch.cleanup()


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _as_sqlite_error(exc: UnicodeDecodeError) -> sqlite3.DatabaseError:
    return sqlite3.DatabaseError(f"SQLite error whose message is not UTF-8 (hostile schema bytes): "
                                 f"{exc.object[:200]!r}")


class _SafeCursor(sqlite3.Cursor):
    """A cursor whose errors are all ``sqlite3.Error``.

    Why: SQLite's error messages quote the schema (``malformed database schema (name)``), and the
    sqlite3 module decodes them as strict UTF-8; a hostile database with non-UTF-8 bytes in a table
    name makes that decoding raise ``UnicodeDecodeError`` instead of ``sqlite3.DatabaseError``, past
    every ``except sqlite3.Error`` in the parsers (found by fuzzing)."""

    def execute(self, *args, **kwargs):
        try:
            return super().execute(*args, **kwargs)
        except UnicodeDecodeError as exc:
            raise _as_sqlite_error(exc) from None

    def executemany(self, *args, **kwargs):
        try:
            return super().executemany(*args, **kwargs)
        except UnicodeDecodeError as exc:
            raise _as_sqlite_error(exc) from None

    def fetchone(self):
        try:
            return super().fetchone()
        except UnicodeDecodeError as exc:
            raise _as_sqlite_error(exc) from None

    def fetchmany(self, *args, **kwargs):
        try:
            return super().fetchmany(*args, **kwargs)
        except UnicodeDecodeError as exc:
            raise _as_sqlite_error(exc) from None

    def fetchall(self):
        try:
            return super().fetchall()
        except UnicodeDecodeError as exc:
            raise _as_sqlite_error(exc) from None

    def __next__(self):
        try:
            return super().__next__()
        except UnicodeDecodeError as exc:
            raise _as_sqlite_error(exc) from None


class _SafeConnection(sqlite3.Connection):
    """Connection whose cursors (``execute`` included) are :class:`_SafeCursor`."""

    def cursor(self, factory=_SafeCursor):
        return super().cursor(factory)

    def execute(self, *args, **kwargs):  # the C execute makes a plain cursor: go through ours
        return self.cursor().execute(*args, **kwargs)

    def executemany(self, *args, **kwargs):
        return self.cursor().executemany(*args, **kwargs)


def _connect(path: Path, params: str, deadline: float) -> sqlite3.Connection:
    try:
        return _configure(sqlite3.connect(f"{path.resolve().as_uri()}?{params}", uri=True, timeout=0,
                                          check_same_thread=False, factory=_SafeConnection), deadline)
    except UnicodeDecodeError as exc:
        raise _as_sqlite_error(exc) from None


def _configure(conn: sqlite3.Connection, deadline: float) -> sqlite3.Connection:
    conn.text_factory = _decode_text
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA trusted_schema = OFF")
    conn.execute("PRAGMA cell_size_check = ON")
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads header + schema now
    return conn


def _nonempty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def open_private_copy(path: Path, deadline_seconds: float = DEFAULT_DEADLINE_SECONDS) -> OpenedDatabase:
    """Open a private copy read-only (see module doc). Raises sqlite3.Error / OSError for bad files."""
    path = Path(path)
    with path.open("rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise sqlite3.DatabaseError("not an SQLite 3 database (bad header magic)")
    deadline = time.monotonic() + deadline_seconds
    wal = path.with_name(path.name + "-wal")
    journal = path.with_name(path.name + "-journal")
    if _nonempty(wal) or _nonempty(journal):
        try:
            return OpenedDatabase(_connect(path, "mode=ro", deadline), mode="ro")
        except sqlite3.Error as exc:
            if _nonempty(journal) and not _nonempty(wal):
                return _rolled_back(path, journal, deadline, exc)
            conn = _connect(path, "mode=ro&immutable=1", deadline)
            return OpenedDatabase(conn, mode="immutable",
                                  notes=[f"-wal present but not applied ({exc}); read the main file alone"])
    return OpenedDatabase(_connect(path, "mode=ro&immutable=1", deadline))


def _rolled_back(path: Path, journal: Path, deadline: float, why: Exception) -> OpenedDatabase:
    """A hot rollback journal (a write transaction was in flight when the file was copied) can only be
    applied by a writable connection. Roll it back in a second scratch copy owned here (never the
    caller's path, which for ad-hoc use may be the evidence itself) to read the last committed state."""
    scratch = tempfile.TemporaryDirectory(prefix="triage-sqlite-")
    try:
        db = Path(scratch.name) / path.name
        shutil.copyfile(path, db)
        shutil.copyfile(journal, db.with_name(db.name + "-journal"))
        conn = _connect(db, "mode=rw", deadline)  # the read in _connect rolls the journal back
        return OpenedDatabase(conn, mode="rolled_back", scratch=scratch, notes=[
            f"hot -journal rolled back in a scratch copy ({why}): read the last committed state"])
    except BaseException:
        scratch.cleanup()
        raise


def tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """Column names of a table (empty set when absent): schemas are detected, never assumed by version."""
    return {row[0] for row in conn.execute("SELECT name FROM pragma_table_info(?)", (table,))}


MAX_URL_CHARS = 16_384
MAX_TITLE_CHARS = 2_048
MAX_PATH_CHARS = 8_192


def capped_text(expr: str, limit: int) -> str:
    """SQL for a column read as text and cut at ``limit`` characters inside SQLite.

    Why: a hostile database can hold a 1 GB "url" (or a BLOB where text belongs); the cut happens
    before Python sees the value, and CAST makes a BLOB text (decoded with replacement)."""
    return f"substr(CAST({expr} AS TEXT), 1, {int(limit)})"


def as_int(value) -> int | None:
    """A column value as int, or None: hostile databases put text where numbers belong."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
