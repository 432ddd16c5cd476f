"""Finding, compiling and caching YARA rules.

Why a module of its own: the pack that ships with triage and the analyst's own ``--rules`` files are
compiled together, each file in its own namespace (so two files may both define ``rule Suspicious``),
and one broken file must not cost the others: it becomes an :class:`Issue` carrying yara's error
and the rest still load. Compiling is cached on disk, keyed by the SHA-256 of every source plus the
yara version, so a batch of bundles (and every scanning worker process) compiles once.

Where the pack lives, first match wins: ``$TRIAGE_RULES_DIR``; ``yara_rules/`` beside the ``triage``
package (a source checkout); ``triage/data/yara_rules`` (installed package data);
``<sys.prefix>/share/triage/yara_rules``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yara

from triage.model import Issue, Source

RULE_SUFFIXES = (".yar", ".yara")
PACK_PREFIX = "pack/"
USER_PREFIX = "user/"


def pack_dir() -> Path | None:
    """The shipped rule pack directory, or None when none can be found."""
    env = os.environ.get("TRIAGE_RULES_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent  # .../triage
    for candidate in (here.parent / "yara_rules", here / "data" / "yara_rules",
                      Path(sys.prefix) / "share" / "triage" / "yara_rules"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class RuleFile:
    """One rule source file and the namespace it compiles into."""

    path: Path
    namespace: str
    origin: str  # 'pack' | 'user'
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(slots=True)
class CompiledRules:
    """The compiled rules of every file that compiled, plus what went wrong.

    rules: None when nothing compiled. cache_path: the ``.yarc`` file holding exactly these rules
    (workers load it), None when it could not be written anywhere. warnings: yara's own compiler
    warnings, '<file>: line N: ...'.
    """

    rules: yara.Rules | None
    files: list[RuleFile]
    issues: list[Issue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key: str = ""
    cache_path: Path | None = None
    from_cache: bool = False

    @property
    def loaded(self) -> list[RuleFile]:
        """Files whose rules are in ``rules`` (the ones that compiled)."""
        bad = {i.source.bundle_path for i in self.issues if i.source and i.severity == "error"}
        return [f for f in self.files if str(f.path) not in bad]


def _rule_paths(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RULE_SUFFIXES)
    return [path]


def _namespace_for(path: Path, root: Path | None) -> str:
    rel = path.relative_to(root) if root is not None else Path(path.name)
    return "/".join(rel.with_suffix("").parts)


def discover(extra: Iterable[str | Path] = (), *, include_pack: bool = True
             ) -> tuple[list[RuleFile], list[Issue]]:
    """Rule files of the pack (namespaces 'pack/<theme>/<file>') and of ``extra`` paths
    (files or folders; namespaces 'user/<relative path or file name>', made unique)."""
    files: list[RuleFile] = []
    issues: list[Issue] = []
    seen_ns: set[str] = set()
    seen_paths: set[Path] = set()

    def add(path: Path, namespace: str, origin: str) -> None:
        real = path.resolve()
        if real in seen_paths:
            return
        seen_paths.add(real)
        try:
            text = path.read_bytes().decode("utf-8", "surrogateescape")
        except OSError as exc:
            issues.append(Issue(severity="error", message=f"cannot read rule file: {exc}",
                                source=Source(bundle_path=str(path))))
            return
        base, n = namespace, 1
        while namespace in seen_ns:
            n += 1
            namespace = f"{base}~{n}"
        seen_ns.add(namespace)
        files.append(RuleFile(path=path, namespace=namespace, origin=origin, text=text))

    if include_pack:
        root = pack_dir()
        if root is None or not root.is_dir():
            issues.append(Issue(severity="warning", message="the YARA rule pack was not found "
                                "(set TRIAGE_RULES_DIR); only --rules files are used"))
        else:
            for p in _rule_paths(root):
                add(p, PACK_PREFIX + _namespace_for(p, root), "pack")
    for raw in extra:
        path = Path(raw)
        if not path.exists():
            issues.append(Issue(severity="error", message="rule path does not exist",
                                source=Source(bundle_path=str(path))))
            continue
        root = path if path.is_dir() else None
        for p in _rule_paths(path):
            add(p, USER_PREFIX + _namespace_for(p, root), "user")
    return files, issues


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "triage" / "yara"


def cache_key(files: Sequence[RuleFile]) -> str:
    h = hashlib.sha256()
    h.update(f"yara {yara.__version__}\n".encode())
    for f in files:
        h.update(f"{f.namespace}\0{f.sha256}\n".encode())
    return h.hexdigest()


def _cache_dirs() -> tuple[Path, ...]:
    return (cache_dir(), Path(tempfile.gettempdir()) / f"triage-yara-{os.getuid()}")


def _private_dir(directory: Path) -> bool:
    """True when ``directory`` is a real directory owned by us and writable by nobody else.

    Compiled rules are loaded without checks by libyara, so a cache another local user could write
    to (a pre-created folder in /tmp) must not be used."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.lstat()
    except OSError:
        return False
    import stat

    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _save(rules: yara.Rules, key: str) -> Path | None:
    """Write the compiled rules atomically; try the user cache, then the temp dir; None if neither."""
    for directory in _cache_dirs():
        try:
            if not _private_dir(directory):
                continue
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".yarc")
            os.close(fd)
            try:
                rules.save(tmp)
                os.replace(tmp, directory / f"{key}.yarc")
            finally:
                Path(tmp).unlink(missing_ok=True)
            return directory / f"{key}.yarc"
        except (OSError, yara.Error):
            continue
    return None


def _load_cached(key: str) -> tuple[yara.Rules, Path] | None:
    for directory in _cache_dirs():
        path = directory / f"{key}.yarc"
        try:
            if path.is_file() and _private_dir(directory):
                return yara.load(str(path)), path
        except (OSError, yara.Error):
            continue  # corrupt or foreign cache file: recompile
    return None


def _compile_one(f: RuleFile) -> tuple[bool, str | None, list[str]]:
    """(ok, error, warnings) for one file compiled alone, so errors name their file."""
    try:
        r = yara.compile(filepath=str(f.path))
    except yara.SyntaxError as exc:
        return False, str(exc), []
    except yara.Error as exc:
        return False, str(exc), []
    return True, None, [f"{f.path}: {w}" for w in getattr(r, "warnings", [])]


def compile_rules(extra: Iterable[str | Path] = (), *, include_pack: bool = True,
                  use_cache: bool = True, files: Sequence[RuleFile] | None = None) -> CompiledRules:
    """Discover and compile. Never raises for bad rules: they are Issues in the result."""
    issues: list[Issue] = []
    if files is None:
        files, issues = discover(extra, include_pack=include_pack)
    files = list(files)
    key = cache_key(files)
    result = CompiledRules(rules=None, files=files, issues=issues, key=key)
    if use_cache:
        cached = _load_cached(key)
        if cached is not None:
            # Only sets where every file compiled are cached under the bare key; a partial set is
            # saved as '<key>-partial' (for workers) and recompiled so its errors are reported again.
            result.rules, result.cache_path, result.from_cache = cached[0], cached[1], True
            return result
    good: list[RuleFile] = []
    for f in files:
        ok, error, warnings = _compile_one(f)
        result.warnings.extend(warnings)
        if ok:
            good.append(f)
        else:
            issues.append(Issue(severity="error", message=f"rule file does not compile: {error}",
                                source=Source(bundle_path=str(f.path))))
    if not good:
        return result
    try:
        rules = yara.compile(filepaths={f.namespace: str(f.path) for f in good})
    except yara.Error as exc:
        issues.append(Issue(severity="error", message=f"rules do not compile together: {exc}"))
        return result
    result.rules = rules
    all_ok = len(good) == len(files)
    result.cache_path = _save(rules, key if all_ok else f"{key}-partial")
    return result
