"""Finding, parsing (pySigma), mapping (pySigma's Windows and Sysmon pipelines) and compiling rules.

Each rule becomes one compiled variant per log it can be read from:
- a Sysmon category (process_creation, network_connection, registry_*, file_*, ...): the Sysmon
  pipeline adds its EventID, then the Windows logsource pipeline its Channel;
- process_creation and registry_* also get a Security-log variant (4688 / 4657) from the Windows audit
  pipeline, with its field names (NewProcessName for Image ...) — most laptops have no Sysmon;
- ``service:`` rules and the PowerShell categories: the Windows logsource pipeline adds the Channel.
A variant that ends with no channel condition, a product other than Windows, or anything
:mod:`triage.sigma.compile` cannot evaluate is skipped with its reason (``RuleSet.skipped``).
Correlation rules (:mod:`triage.sigma.correlate`) are compiled once every file is read: the rules
they name may sit in any file of the set; one naming a rule that is not evaluated is skipped.

The compiled set is cached as JSON (safe to read whoever wrote it) keyed by the SHA-256 of every source
file and of this compiler's version, so a batch, and the next run, compile once.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from triage.sigma import correlate, fastcache
from triage.sigma.compile import Unsupported, atoms, compile_condition, constraint, fields
from triage.sigma.correlate import Correlation
from triage.sigma.gcpause import paused
from triage.sigma.meta import RuleMeta, meta_of
from triage.sigma.watch import Watch, arm, watched_paths

# Bump when the compiled form or the mapping changes: old caches are then ignored.
COMPILER_VERSION = "9"
RULE_SUFFIXES = (".yml", ".yaml")


def pack_dir() -> Path | None:
    """triage's own rule pack (``sigma_rules/`` beside ``yara_rules/``), or None."""
    env = os.environ.get("TRIAGE_SIGMA_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "sigma_rules", Path(sys.prefix) / "share" / "triage" / "sigma_rules"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class CompiledRule(RuleMeta):
    """One evaluable variant of one Sigma rule (JSON-serialisable: cached on disk)."""

    references: list[str]
    falsepositives: list[str]
    origin: str          # 'builtin' or 'user'
    path: str            # the rule file (relative to the folder it was loaded from)
    logsource: str       # 'category:process_creation' / 'service:security' / 'product:windows'
    variant: str         # 'sysmon' | 'security' | 'channel' | 'any'
    tree: Any            # the compiled condition (triage.sigma.compile)
    channels: list[str] | None
    event_ids: list[str] | None
    atoms: list[list[str]] | None  # pre-filter groups (triage.sigma.compile.atoms)
    fields: list[str]


@dataclass
class Skipped:
    path: str
    origin: str
    reason: str
    id: str | None = None
    title: str | None = None


@dataclass
class RuleSet:
    """What a list of rule sources compiled into."""

    key: str
    rules: list[CompiledRule] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: int = 0
    loaded: int = 0  # rules (not variants) with at least one evaluable variant, correlations included
    from_cache: bool = False
    correlations: list[Correlation] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"key": self.key, "files": self.files, "loaded": self.loaded,
                           "rules": [asdict(r) for r in self.rules],
                           "skipped": [asdict(s) for s in self.skipped],
                           "correlations": [asdict(c) for c in self.correlations]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RuleSet:
        with paused():  # ~500,000 containers for SigmaHQ's set: see triage.sigma.gcpause
            obj = json.loads(text)
            rules = [CompiledRule(**{**r, "tree": _tuples(r["tree"])}) for r in obj["rules"]]
            return cls(key=obj["key"], rules=rules, skipped=[Skipped(**s) for s in obj["skipped"]],
                       files=obj["files"], loaded=obj["loaded"], from_cache=True,
                       correlations=[Correlation(**c) for c in obj.get("correlations") or []])

    def to_payload(self) -> tuple:
        """The set as plain tuples for :mod:`triage.sigma.fastcache` (field names first: a set
        saved by another version of this class is a miss, not a wrong set)."""
        rule_names, skip_names, corr_names = _names(CompiledRule), _names(Skipped), _names(Correlation)
        return (self.key, self.files, self.loaded, rule_names, [tuple(getattr(r, n) for n in rule_names)
                                                                for r in self.rules],
                skip_names, [tuple(getattr(x, n) for n in skip_names) for x in self.skipped],
                corr_names, [tuple(getattr(c, n) for n in corr_names) for c in self.correlations])

    @classmethod
    def from_payload(cls, payload: Any) -> RuleSet | None:
        try:
            key, files, loaded, rule_names, rules, skip_names, skipped, corr_names, corrs = payload
            if (rule_names != _names(CompiledRule) or skip_names != _names(Skipped)
                    or corr_names != _names(Correlation)):
                return None
            return cls(key=key, rules=[CompiledRule(*r) for r in rules], skipped=[Skipped(*x) for x in skipped],
                       files=files, loaded=loaded, from_cache=True, correlations=[Correlation(*c) for c in corrs])
        except (TypeError, ValueError):
            return None

    def reasons(self) -> dict[str, int]:
        """Skipped rules per reason (the first line of each reason, numbers kept)."""
        out: dict[str, int] = {}
        for s in self.skipped:
            out[s.reason.splitlines()[0][:160]] = out.get(s.reason.splitlines()[0][:160], 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclass_fields(cls))


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


@dataclass(frozen=True)
class Source:
    path: str       # the file (text, not Path: a pack of thousands is discovered for every bundle)
    rel: str        # shown to users: relative to the folder given
    origin: str


def discover(extra: Iterable[str | Path] = (), *, builtin: bool = True,
             walked: list[str] | None = None) -> tuple[list[Source], list[Skipped]]:
    """Rule files: the pack (unless ``builtin`` is False), then each ``--sigma`` file or folder
    (searched recursively, sorted). A path that does not exist is reported, not fatal. ``walked``
    receives every root and folder looked at (see :func:`_discover_again`)."""
    out: list[Source] = []
    missing: list[Skipped] = []
    roots: list[tuple[Path, str]] = []
    if builtin and (pack := pack_dir()) is not None:
        roots.append((pack, "builtin"))
    roots.extend((Path(p), "user") for p in extra)
    for root, origin in roots:
        if walked is not None:
            walked.append(str(root))
        if root.is_file():
            out.append(Source(str(root), root.name, origin))
        elif root.is_dir():
            found: list[str] = []
            for folder, dirs, files in os.walk(root):  # no links followed; cheaper than rglob + sort of Paths
                dirs.sort()
                if walked is not None:
                    walked.append(folder)
                found.extend(os.path.join(folder, f) for f in files if f.lower().endswith(RULE_SUFFIXES))
            base = len(str(root).rstrip(os.sep)) + 1
            for f in sorted(found):
                out.append(Source(f, f[base:].replace(os.sep, "/"), origin))
        else:
            missing.append(Skipped(path=str(root), origin=origin, reason="no such file or folder"))
    return out, missing


# (pack or not, --sigma paths) -> (state of every root and folder walked, the files found, the
# paths missing): an analysis of each bundle of a batch asks for the same rules, and walking
# SigmaHQ's 350 folders cost as much as a small host's whole Sigma pass.
# file-system times come from a coarse clock that may lag the system time by a tick
_CLOCK_SLACK_NS = 50_000_000
_DISCOVERED: dict[tuple[bool, tuple[str, ...]], tuple[tuple, list[Source], list[Skipped]]] = {}


def _state(paths: Sequence[str]) -> tuple:
    """(path, modification time, inode) of each path, None for one gone: a file added to, removed
    from or renamed in a folder changes the folder's modification time."""
    out: list[tuple[str, int | None, int | None]] = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((p, st.st_mtime_ns, st.st_ino))
        except OSError:
            out.append((p, None, None))
    return tuple(out)


def _discover_again(extra: Iterable[str | Path], builtin: bool,
                    fresh: bool = False) -> tuple[list[Source], list[Skipped]]:
    """:func:`discover`, walking the folders again only when one of them changed since the last
    walk in this process (a changed file's content is the rule-file signature's business), or
    always with ``fresh``."""
    key = (builtin, tuple(str(p) for p in extra))
    known = _DISCOVERED.get(key)
    if known is not None and not fresh and _state([p for p, _, _ in known[0]]) == known[0]:
        return list(known[1]), list(known[2])
    walked: list[str] = []
    start = time.time_ns() - _CLOCK_SLACK_NS
    sources, missing = discover(key[1], builtin=builtin, walked=walked)
    state = _state(walked)
    if all(mtime is None or mtime < start for _, mtime, _ in state):  # none changed while walked
        _DISCOVERED[key] = (state, list(sources), list(missing))
    return sources, missing


def cache_key(sources: Sequence[Source], texts: Sequence[bytes]) -> str:
    import sigma

    h = hashlib.sha256(f"triage-sigma {COMPILER_VERSION} pysigma {_pysigma_version(sigma)}\n".encode())
    for s, t in zip(sources, texts, strict=True):
        h.update(f"{s.origin}\0{s.rel}\0{hashlib.sha256(t).hexdigest()}\n".encode())
    return h.hexdigest()


@functools.cache
def _compiler_tag() -> str:
    """This compiler's version and pySigma's (from its installed metadata: no import of pySigma)."""
    return f"triage-sigma {COMPILER_VERSION} pysigma {_pysigma_version(None)}"


def _pysigma_version(mod: Any) -> str:
    try:
        from importlib.metadata import version

        return version("pysigma")
    except Exception:
        return getattr(mod, "__version__", "?")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "triage" / "sigma"


_LOADED: dict[str, RuleSet] = {}
_BY_SIGNATURE: dict[tuple, str] = {}


def ruleset_by_key(key: str | None) -> RuleSet | None:
    """A compiled set by its key: from this process' memory, else the on-disk cache (how a batch's
    workers and the EVTX worker processes get the set their parent compiled); None if neither has it."""
    if not key:
        return None
    rs = _LOADED.get(key)
    if rs is None:
        path = cache_dir() / f"{key}.json"
        with paused():  # ~500,000 tuples: see triage.sigma.gcpause
            rs = RuleSet.from_payload(fastcache.load_set(path))
        if rs is None or rs.key != key:
            try:
                rs = RuleSet.from_json(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError, TypeError):
                return None
            fastcache.save_set(path, rs.to_payload())
        _LOADED[key] = rs
    return rs


def _stats(sources: Sequence[Source]) -> list[os.stat_result] | None:
    """Every source's stat, taken before any is read (one pass serves the in-process signature and
    the on-disk digest), or None when one cannot be stat'ed."""
    try:
        return [os.stat(s.path) for s in sources]
    except OSError:
        return None


def _signature(sources: Sequence[Source], stats: Sequence[os.stat_result]) -> tuple:
    """(path, origin, size, mtime) of every source."""
    return tuple((s.path, s.origin, st.st_size, st.st_mtime_ns) for s, st in zip(sources, stats, strict=True))


def _same(rs: RuleSet) -> RuleSet:
    return RuleSet(key=rs.key, rules=rs.rules, skipped=list(rs.skipped), files=rs.files, loaded=rs.loaded,
                   from_cache=True, correlations=rs.correlations)


# (pack or not, --sigma paths) -> (inotify watch on their folders, compiled set key): while the watch
# is quiet, the files are those the set was compiled from (triage.sigma.watch)
_WATCHED: dict[tuple[bool, tuple[str, ...]], tuple[Watch, str]] = {}


def _watched(key: tuple[bool, tuple[str, ...]]) -> tuple[RuleSet | None, bool]:
    """(the set, when the watch on its sources is quiet; whether the watch saw a change)."""
    entry = _WATCHED.get(key)
    if entry is None:
        return None, False
    if entry[0].quiet() and entry[1] in _LOADED:
        return _LOADED[entry[1]], False
    del _WATCHED[key]
    return None, True


def _arm(key: tuple[bool, tuple[str, ...]]) -> Watch | None:
    """A watch over the folders and files found the last time these rules were asked for (none the
    first time: a one-bundle run stats once and needs none). It is armed before the checks of this
    call, so what they find unchanged, it vouches for afterwards."""
    known = _DISCOVERED.get(key)
    if known is None:
        return None
    return arm(watched_paths((p for p, _, _ in known[0]), (s.path for s in known[1])))


def load_rules(extra: Iterable[str | Path] = (), *, builtin: bool = True, use_cache: bool = True) -> RuleSet:
    """Compile the pack and the ``--sigma`` paths (from the cache when the sources are unchanged)."""
    paths = [str(p) for p in extra]
    wkey = (builtin, tuple(paths))
    watch, changed = None, False
    if use_cache:
        same, changed = _watched(wkey)
        if same is not None:
            return _same(same)
        # a change the watch saw may keep sizes and times (an edit within the clock's tick, or
        # times set back): then the folders are walked and the files read and hashed again
        watch = None if changed else _arm(wkey)
    try:
        sources, missing = (_discover_again(paths, builtin, fresh=changed) if use_cache
                            else discover(paths, builtin=builtin))
        stats = _stats(sources) if use_cache and not missing else None
        signature = _signature(sources, stats) if stats is not None else None
        if signature is not None and not changed:
            # the same files, unchanged (size and modification time), in this process: the same set,
            # without reading and hashing thousands of files again for every bundle
            known = _BY_SIGNATURE.get(signature)
            if known is not None and known in _LOADED:
                if watch is not None:
                    _WATCHED[wkey], watch = (watch, known), None
                return _same(_LOADED[known])
    finally:
        if watch is not None:
            watch.close()
    # the compiler's and pySigma's versions are in the digest: the same files compile to another set
    # after an upgrade of either, so an upgrade must not find the old set through this memo
    digest = (fastcache.files_digest(zip((s.path for s in sources), stats, strict=True), _compiler_tag())
              if stats is not None else None)
    known_key = fastcache.known_key(cache_dir(), digest) if digest is not None else None
    # these very files (path, size, times, inode) compiled to this set in an earlier run
    if known_key is not None and (stored := ruleset_by_key(known_key)) is not None:
        if signature is not None:
            _BY_SIGNATURE[signature] = known_key
        return _same(stored)
    texts: list[bytes] = []
    readable: list[Source] = []
    for s in sources:
        try:
            with open(s.path, "rb") as fh:
                texts.append(fh.read())
            readable.append(s)
        except OSError as exc:
            missing.append(Skipped(path=s.rel, origin=s.origin, reason=f"unreadable: {exc}"))
    key = cache_key(readable, texts)
    if not missing and signature is not None:
        _BY_SIGNATURE[signature] = key
    if digest is not None and not missing:
        fastcache.remember_key(cache_dir(), digest, key)
    cached = cache_dir() / f"{key}.json"
    if use_cache and (stored := ruleset_by_key(key)) is not None:
        return RuleSet(key=stored.key, rules=stored.rules, skipped=missing + stored.skipped, files=stored.files,
                       loaded=stored.loaded, from_cache=True, correlations=stored.correlations)
    rs = RuleSet(key=key, files=len(readable))
    rs.skipped.extend(missing)
    names: dict[str, str] = {}
    pending: list[Correlation] = []
    for s, t in zip(readable, texts, strict=True):
        _compile_file(rs, s, t, names, pending)
    _resolve_correlations(rs, names, pending)
    if use_cache:
        _save(rs, cached)
        _LOADED[key] = rs
    return rs


def _save(rs: RuleSet, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(rs.to_json())
        os.replace(tmp, path)
    except OSError:
        return  # no cache: the next run compiles again
    fastcache.save_set(path, rs.to_payload())


def _compile_file(rs: RuleSet, src: Source, raw: bytes, names: dict[str, str], pending: list[Correlation]) -> None:
    """Compile one file's rules into ``rs``; its correlation rules go to ``pending`` and the names
    of its evaluable rules to ``names`` (name -> id), for :func:`_resolve_correlations`."""
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule

    try:
        text = raw.decode("utf-8")
        # references are resolved over the whole set (_resolve_correlations), not per file
        collection = SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False)
    except Exception as exc:  # YAML or structure errors: pySigma raises several types
        rs.skipped.append(Skipped(path=src.rel, origin=src.origin, reason=f"does not parse: {exc}"))
        return
    for rule in collection.rules:
        rid = str(getattr(rule, "id", None) or "") or None
        title = getattr(rule, "title", None)
        if getattr(rule, "errors", None):
            rs.skipped.append(Skipped(src.rel, src.origin, f"invalid rule: {rule.errors[0]}", rid, title))
            continue
        if isinstance(rule, SigmaCorrelationRule):
            try:
                pending.append(correlate.from_pysigma(rule, src))
            except Exception as exc:  # Unsupported, or pySigma objects of an unexpected shape
                rs.skipped.append(Skipped(src.rel, src.origin, str(exc) or type(exc).__name__, rid, title))
            continue
        variants: list[CompiledRule] = []
        reasons: list[str] = []
        for name in _variant_names(rule, reasons):
            try:
                variants.append(_variant(rule, src, name))
            except Unsupported as exc:
                reasons.append(str(exc))
            except Exception as exc:  # a pySigma error while applying a pipeline
                reasons.append(f"{type(exc).__name__}: {exc}")
        if not variants:
            rs.skipped.append(Skipped(src.rel, src.origin, "; ".join(reasons) or "nothing to evaluate", rid, title))
            continue
        rs.rules.extend(variants)
        rs.loaded += 1
        if getattr(rule, "name", None):
            names[str(rule.name)] = variants[0].id


def _resolve_correlations(rs: RuleSet, names: dict[str, str], pending: list[Correlation]) -> None:
    """Each correlation with the ids of the rules it names (by name or id, anywhere in the set), or
    skipped with its reason when one of them is not an evaluable rule of the set."""
    by_ref = {r.id: r.id for r in rs.rules} | names
    for c in pending:
        try:
            rs.correlations.append(correlate.resolve(c, by_ref))
            rs.loaded += 1
        except correlate.Unsupported as exc:
            rs.skipped.append(Skipped(c.path, c.origin, str(exc), c.id, c.title))


def _pipelines() -> dict[str, Any]:
    from sigma.pipelines.sysmon import sysmon_pipeline
    from sigma.pipelines.windows import windows_audit_pipeline, windows_logsource_pipeline

    return {"sysmon": sysmon_pipeline() + windows_logsource_pipeline(),
            "security": windows_audit_pipeline() + windows_logsource_pipeline(),
            "channel": windows_logsource_pipeline()}


_PIPES: dict[str, Any] | None = None
SYSMON_CATEGORIES = frozenset({
    "process_creation", "file_change", "network_connection", "sysmon_status", "process_termination",
    "driver_load", "image_load", "create_remote_thread", "raw_access_thread", "process_access", "file_event",
    "registry_add", "registry_delete", "registry_set", "registry_rename", "registry_event", "create_stream_hash",
    "pipe_created", "wmi_event", "dns_query", "file_delete", "clipboard_capture", "process_tampering",
    "file_delete_detected", "file_block_executable", "file_block_shredding", "file_executable_detected",
    "sysmon_error"})
AUDIT_CATEGORIES = frozenset({"process_creation", "registry_event", "registry_set", "registry_add"})
CHANNEL_CATEGORIES = frozenset({"ps_module", "ps_script", "ps_classic_start", "ps_classic_provider_start",
                                "ps_classic_script"})


def _variant_names(rule: Any, reasons: list[str]) -> list[str]:
    """Which mappings a rule gets (see the module docstring); none, with the reason, if it has none."""
    ls = rule.logsource
    product, category, service = ls.product, ls.category, ls.service
    if product not in (None, "windows"):
        reasons.append(f"logsource product {product!r}: triage reads Windows event logs only")
        return []
    if service:
        return ["channel"]
    if category in SYSMON_CATEGORIES:
        return ["sysmon", "security"] if category in AUDIT_CATEGORIES else ["sysmon"]
    if category in CHANNEL_CATEGORIES:
        return ["channel"]
    if category:
        reasons.append(f"logsource category {category!r} has no mapping to Windows event logs")
        return []
    return ["any"]


def _variant(rule: Any, src: Source, name: str) -> CompiledRule:
    global _PIPES
    if _PIPES is None:
        _PIPES = _pipelines()
    ls = rule.logsource
    where = (f"category:{ls.category}" if ls.category else f"service:{ls.service}" if ls.service
             else f"product:{ls.product}")
    r = copy.deepcopy(rule)
    if name != "any":
        _PIPES[name].apply(r)
    trees = [compile_condition(c.parsed) for c in r.detection.parsed_condition]
    tree = trees[0] if len(trees) == 1 else ("or", tuple(trees))
    channels = constraint(tree, "channel")
    if name != "any" and channels is None:
        raise Unsupported(f"logsource {where!r} has no channel mapping")
    eids = constraint(tree, "eventid")
    a = atoms(tree, derived=channels is None or "security" in channels)
    return CompiledRule(
        **meta_of(rule, src), references=[str(x) for x in rule.references or []],
        falsepositives=[str(x) for x in rule.falsepositives or []],
        origin=src.origin, path=src.rel, logsource=where, variant=name, tree=tree,
        channels=sorted(channels) if channels is not None else None,
        event_ids=sorted(eids) if eids is not None else None,
        atoms=[sorted(g) for g in a] if a is not None else None, fields=sorted(fields(tree)))

