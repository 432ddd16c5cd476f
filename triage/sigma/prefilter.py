"""Which rules of a bucket a record can match, from the literals its text contains.

Every rule of a bucket has pre-filter groups (:func:`triage.sigma.compile.atoms`): a record is a
candidate for the rule only when, for each group, one of its literals occurs in the record's payload
text (EventData/UserData, as the engine's JSON writes it). Most records are candidates for nothing and
are never decoded.

Searchers:
- Hyperscan (``hyperscan``, Intel's multi-literal matcher; x86-64 wheels): case-insensitive literal
  search at GB/s. Records are searched in batches — payloads joined by NUL (never in the engine's JSON
  text: it escapes control characters) and scanned once — so the per-record cost is a slice and a copy,
  not a call. Compiled databases are cached on disk beside the compiled rule set.
- Hyperscan, one scan per record (:class:`RecordSearcher`), for buckets with many literals: there the
  cost is Hyperscan's call into Python per match, not the scan, and each literal is reported once per
  record instead of once per occurrence.
- pyahocorasick (portable fallback): one lower-cased pass per record.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import os
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any

from triage.sigma.fastcache import private
from triage.sigma.unicase import fold_chars

try:
    import hyperscan
except ImportError:  # pragma: no cover - platform without wheels: the fallback is used
    hyperscan = None  # type: ignore[assignment]  # optional module: None says it is absent
try:
    import ahocorasick
except ImportError:  # pragma: no cover
    ahocorasick = None

# Where a record's payload starts in the engine's JSON (records without EventData are read whole).
PAYLOAD = '"EventData":'


def payload(data: str) -> str:
    """The part of a record's JSON text the pre-filter searches: from EventData on (whole without)."""
    return _after([data], PAYLOAD)[0]


def _after(texts: Sequence[str], mark: str) -> list[str]:
    """Each text from the first occurrence of ``mark`` on (whole when it has none past its start)."""
    if not mark:
        return list(texts)
    return [t[i:] if (i := t.find(mark)) > 0 else t for t in texts]


class Searcher:
    """literals -> for a batch of texts, the literal indices found in each text that holds any
    (text index -> set; most texts hold none and are left out). With ``after``, only occurrences
    that begin at or after the first ``after`` in a text count (see :func:`payload`). ``starts``
    (per text, an offset no later than its first ``after``: the parser's position of the System
    block's Channel, or 0) lets a searcher skip the text before it: fewer bytes, and nothing a rule's
    literal comes from (the System fields before Channel give none: compile.WEAK_FIELDS)."""

    def __init__(self, literals: Sequence[str]) -> None:
        self.literals = list(literals)

    def search(self, texts: Sequence[str], after: str = "", starts: Sequence[int] | None = None) -> dict[int, set[int]]:
        raise NotImplementedError


class AhoSearcher(Searcher):
    def __init__(self, literals: Sequence[str]) -> None:
        super().__init__(literals)
        self.automaton = ahocorasick.Automaton()
        for i, lit in enumerate(self.literals):
            self.automaton.add_word(lit, i)
        self.automaton.make_automaton()

    def search(self, texts: Sequence[str], after: str = "", starts: Sequence[int] | None = None) -> dict[int, set[int]]:
        it = self.automaton.iter
        return {k: found for k, t in enumerate(_after(texts, after)) if (found := {i for _, i in it(t.lower())})}


class HyperscanSearcher(Searcher):
    # the kind of database, in the disk cache's key beside the literals ("": the first kind, whose
    # cached files keep their names)
    cache_tag = ""

    def __init__(self, literals: Sequence[str], cache: Path | None = None) -> None:
        super().__init__(literals)
        # the non-ASCII characters that make a text worth lower-casing before the search (_folded)
        self.fold = fold_chars(self.literals, cache.parent if cache is not None else None)
        self.sizes = [len(lit.encode("utf-8")) for lit in self.literals]
        self.db = _database(self.literals, self._flags(), cache)

    def _flags(self) -> int:
        return int(hyperscan.HS_FLAG_CASELESS)

    def search(self, texts: Sequence[str], after: str = "", starts: Sequence[int] | None = None) -> dict[int, set[int]]:
        """One scan over the batch joined by NUL. An ASCII batch (nearly all) is scanned in one copy
        (character offsets are byte offsets), each text from its ``starts`` offset on (the parser's:
        about half of a record is its System block; a slice at a known offset is cheaper than
        scanning it): where ``after`` starts is looked up only in the texts with a match, and a match
        that begins before it is dropped (a literal's length says where it began). Finding ``after``
        in every text first cost more than the search."""
        if starts is not None:
            texts = [t[i:] for t, i in zip(texts, starts, strict=True)]  # t[0:] is t itself: no copy
        joined = "\x00".join(texts)
        lazy = bool(after) and joined.isascii()
        if lazy:
            buf = joined.encode("ascii")
            sizes: Any = map(len, texts)
        else:  # non-ASCII text is lower-cased first, as the rules' values are (see _folded)
            fold = self.fold
            parts = [_folded(t, fold).encode("utf-8", "surrogatepass") for t in _after(texts, after)]
            buf = b"\x00".join(parts)
            sizes = map(len, parts)
        # where each text starts in buf: worked out at the first match (most batches of a bucket
        # of keyword rules have none, and a Python call per text was a tenth of their search)
        bounds: list[int] = []
        found: dict[int, set[int]] = {}
        begins: dict[int, int] = {}  # text -> offset in buf where its counted part begins
        lengths = self.sizes
        # the text of the previous match: matches come in order of their end, so most are in the
        # same text as the one before and need no bisection (one Python call per occurrence is
        # the searcher's main cost on logs where common literals recur in every record)
        k, lo, hi, begin = -1, 0, 0, 0
        lits: set[int] | None = None

        def on_match(lit: int, start: int, end: int, flags: int, ctx: Any) -> None:
            nonlocal k, lo, hi, begin, lits
            if not lo < end <= hi:
                if not bounds:
                    bounds.extend(accumulate(sizes, lambda pos, n: pos + n + 1, initial=0))
                k = bisect.bisect_right(bounds, end - 1) - 1
                lo, hi = bounds[k], bounds[k + 1]
                if lazy:
                    b = begins.get(k)
                    if b is None:
                        i = texts[k].find(after)
                        b = begins[k] = lo + (i if i > 0 else 0)
                    begin = b
                lits = found.get(k)
            if lazy and end - lengths[lit] < begin:
                return
            if lits is None:
                lits = found[k] = {lit}
            else:
                lits.add(lit)

        self.db.scan(buf, match_event_handler=on_match)
        return found


class RecordSearcher(HyperscanSearcher):
    """One Hyperscan scan per record, each literal reported at most once per scan
    (``HS_FLAG_SINGLEMATCH``). For a bucket with thousands of literals (Sysmon process creation:
    ~11,000) a record holds ~100 occurrences of common ones ('\\windows\\', '.exe'), each a call
    into Python in a batch scan; here they are ~30 distinct literals per record. A scan call per
    record costs ~1 µs: for small buckets (few matches) the batch scan stays cheaper."""

    cache_tag = "caseless+singlematch"

    def _flags(self) -> int:
        return int(hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH)

    def search(self, texts: Sequence[str], after: str = "", starts: Sequence[int] | None = None) -> dict[int, set[int]]:
        found: dict[int, set[int]] = {}
        scan, fold = self.db.scan, self.fold
        begins = starts if starts is not None else itertools.repeat(0)
        for k, (text, begin) in enumerate(zip(texts, begins, strict=False)):
            if after and (i := text.find(after, begin)) > 0:
                begin = i
            if begin:
                text = text[begin:]
            lits: set[int] = set()
            scan(_folded(text, fold).encode("utf-8", "surrogatepass"), match_event_handler=_collect, context=lits)
            if lits:
                found[k] = lits
        return found


def _folded(text: str, fold: str) -> str:
    """``text`` as the searchers compare it with the (lower-case) literals. Hyperscan's caseless
    matching folds ASCII letters only, while the rules compare ``value.lower()``: a value with 'Ä'
    matches a rule's 'ä', and one with the Kelvin sign or 'İ' a rule's 'k' or 'i' (they lower-case
    to ASCII). A text that is not pure ASCII (the check is a flag read) and holds one of ``fold``,
    the characters whose lower case holds a character of some literal (triage.sigma.unicase), is
    therefore lower-cased before the search, so the pre-filter never drops a record the rule would
    match. Other non-ASCII texts (a Sysmon record naming 'Microsoft® Windows®') are searched as they
    are: lower-casing them would change no occurrence of a literal, and cost ~4 us each."""
    if text.isascii():
        return text
    for ch in fold:
        if ch in text:
            return text.lower()
    return text


def _collect(lit: int, start: int, end: int, flags: int, found: set[int]) -> None:
    found.add(lit)


# Buckets with at least this many literals are searched record by record (RecordSearcher). Measured
# on the museum sets (bench/sigma_prefilter.py): buckets of ~20-90 literals match rarely and the
# batch scan wins; from ~180 literals on the per-record scan does, by 2x on the ~11,000 of Sysmon 1.
RECORD_SCAN_MIN = 128


def searcher(literals: Sequence[str], cache_dir: Path | None = None, key: str = "") -> Searcher:
    """The fastest searcher available for these (lower-case, JSON-escaped) literals."""
    if hyperscan is not None and literals:
        kind = RecordSearcher if len(literals) >= RECORD_SCAN_MIN else HyperscanSearcher
        cache = None
        if cache_dir is not None and key:
            # the compiled database is tied to the library's version (its stub omits __version__)
            version: str = hyperscan.__version__  # type: ignore[attr-defined]
            digest = hashlib.sha256(("\x00".join(literals) + key + version + kind.cache_tag).encode()).hexdigest()
            cache = cache_dir / f"hs-{digest[:32]}.db"
        try:
            return kind(literals, cache)
        except Exception:  # hyperscan refused a literal or the CPU lacks what it needs: fall back
            pass
    return AhoSearcher(literals)


def _database(literals: list[str], flags: int, cache: Path | None) -> Any:
    """A compiled block-mode database of ``literals`` (ids: their indices), from the disk cache when
    it holds one."""
    db: Any = _load(cache) if cache is not None else None
    if db is None:
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        n = len(literals)
        db.compile(expressions=[lit.encode("utf-8") for lit in literals], ids=list(range(n)),
                   elements=n, flags=flags, literal=True)
        if cache is not None:
            _save(db, cache)
    return db


def _load(path: Path) -> Any:
    try:
        if path.is_file() and private(path.parent):
            db = hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
            db.scratch = hyperscan.Scratch(db)  # a loaded database comes without one
            return db
    except Exception:
        return None
    return None


def _save(db: Any, path: Path) -> None:
    import tempfile

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not private(path.parent):
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".db")
        with os.fdopen(fd, "wb") as fh:
            fh.write(hyperscan.dumpb(db))
        os.replace(tmp, path)
    except Exception:
        pass  # no cache: the next process compiles again
