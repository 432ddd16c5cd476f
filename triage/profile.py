"""Collection profiles: load, strictly validate and resolve ``profiles/*.yaml``.

A profile is an ordered list of artifacts, each with path patterns in ForensicArtifacts'
notation (``%%users.localappdata%%\\Google\\Chrome\\User Data\\*\\History``), a priority, companion
files that must travel with it and a per-file size cap. Validation is strict because a typo in a
profile silently loses evidence on a host nobody can revisit: unknown keys, bad sizes, bad globs and
unknown variables are errors that name the file and the key.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from triage.units import parse_size

PROFILE_KEYS = {"name", "description", "schema_version", "os", "extends", "defaults", "artifacts"}
DEFAULT_KEYS = {"max_file_size", "max_depth"}
ARTIFACT_KEYS = {"name", "description", "priority", "paths", "companions", "max_file_size", "max_depth",
                 "per_user", "streams", "exclude", "volatile"}

# ForensicArtifacts variables -> path inside the volume (Windows) or from '/' (Linux).
# Per-user variables expand once per user profile directory found on the source.
WINDOWS_VARIABLES = {
    "%%environ_systemroot%%": "Windows",
    "%%environ_windir%%": "Windows",
    "%%environ_systemdrive%%": "",
    "%%environ_programdata%%": "ProgramData",
    "%%environ_allusersappdata%%": "ProgramData",
    "%%environ_allusersprofile%%": "ProgramData",
    "%%environ_programfiles%%": "Program Files",
    "%%environ_programfilesx86%%": "Program Files (x86)",
}
USER_VARIABLES = {
    "%%users.userprofile%%": "",
    "%%users.homedir%%": "",
    "%%users.appdata%%": "AppData/Roaming",
    "%%users.localappdata%%": "AppData/Local",
    "%%users.temp%%": "AppData/Local/Temp",
}
_VAR = re.compile(r"%%[a-z_.]+%%")
_STAR_STAR = re.compile(r"^\*\*(\d*)$")
DEFAULT_MAX_DEPTH = 3  # ForensicArtifacts' default recursion depth for '**'


class ProfileError(ValueError):
    """A profile that must not be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class PathPattern:
    """One path pattern, normalised: per_user says whether it expands over user profiles;
    segments are '/'-separated glob segments relative to the volume root (or the user's home)."""

    raw: str
    per_user: bool
    segments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    description: str
    priority: int
    patterns: tuple[PathPattern, ...]
    companions: tuple[str, ...] = ()
    max_file_size: int | None = None
    max_depth: int = DEFAULT_MAX_DEPTH
    streams: tuple[str, ...] = ()        # alternate data streams to take too (raw NTFS sources)
    exclude: tuple[str, ...] = ()        # fnmatch patterns on the relative path, case-insensitive
    order: int = 0


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    os: str
    artifacts: tuple[Artifact, ...]
    source_file: str
    sha256: str
    extends: tuple[str, ...] = field(default_factory=tuple)

    def ordered(self) -> list[Artifact]:
        """Artifacts in collection order: priority ascending (1 = first), then file order."""
        return sorted(self.artifacts, key=lambda a: (a.priority, a.order))


def profile_dirs() -> list[Path]:
    """Where named profiles are looked up: $TRIAGE_PROFILES_DIR, the source tree, an install, a frozen build."""
    dirs = []
    if os.environ.get("TRIAGE_PROFILES_DIR"):
        dirs.append(Path(os.environ["TRIAGE_PROFILES_DIR"]))
    here = Path(__file__).resolve().parent
    dirs += [here / "profiles", here.parent / "profiles", Path(sys.prefix) / "share" / "triage" / "profiles"]
    if hasattr(sys, "_MEIPASS"):
        dirs.insert(0, Path(sys._MEIPASS) / "profiles")
    return [d for d in dirs if d.is_dir()]


def available_profiles() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in profile_dirs():
        for p in sorted(d.glob("*.yaml")):
            found.setdefault(p.stem, p)
    return found


def _err(file: str, where: str, msg: str) -> ProfileError:
    return ProfileError(f"{file}: {where}: {msg}")


def _parse_pattern(file: str, where: str, raw: str, os_name: str) -> PathPattern:
    if not isinstance(raw, str) or not raw.strip():
        raise _err(file, where, "a path must be a non-empty string")
    text = raw.strip()
    per_user = False
    for var in _VAR.findall(text):
        if var in USER_VARIABLES:
            if not text.startswith(var):
                raise _err(file, where, f"{var} must start the path: {raw!r}")
            per_user = True
            sub = USER_VARIABLES[var]
            text = text.replace(var, sub, 1)
        elif var in WINDOWS_VARIABLES and os_name == "windows":
            text = text.replace(var, WINDOWS_VARIABLES[var])
        else:
            raise _err(file, where, f"unknown variable {var} in {raw!r}")
    text = text.replace("\\", "/")
    if os_name == "windows":
        text = re.sub(r"^[A-Za-z]:/", "", text)
    text = text.lstrip("/")
    segments = tuple(s for s in text.split("/") if s)
    if not segments:
        raise _err(file, where, f"path names nothing: {raw!r}")
    for seg in segments:
        if seg in (".", ".."):
            raise _err(file, where, f"'.' and '..' are not allowed in paths: {raw!r}")
        if "**" in seg and not _STAR_STAR.match(seg):
            raise _err(file, where, f"'**' must be a whole segment ('**' or '**N'): {raw!r}")
        if seg.count("[") != seg.count("]"):
            raise _err(file, where, f"unbalanced '[' in {raw!r}")
    return PathPattern(raw=raw, per_user=per_user, segments=segments)


def _size(file: str, where: str, value) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise _err(file, where, str(exc)) from None


def _load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a mapping")
    return data


def load_profile(name_or_path: str, _seen: tuple[str, ...] = ()) -> Profile:
    """Load a profile by name (profiles dir) or by file path, resolving ``extends``."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        known = available_profiles()
        if name_or_path not in known:
            raise ProfileError(f"no profile named {name_or_path!r}; known: {', '.join(sorted(known)) or 'none'}")
        path = known[name_or_path]
    file = str(path)
    if file in _seen:
        raise ProfileError(f"{file}: 'extends' loops back on itself")
    raw_bytes = path.read_bytes()
    data = _load_yaml(path)
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise _err(file, "top level", f"unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("name", "description", "artifacts"):
        if key not in data:
            raise _err(file, "top level", f"missing required key {key!r}")
    if data.get("schema_version", 1) != 1:
        raise _err(file, "schema_version", f"unsupported version {data.get('schema_version')!r}")
    os_name = data.get("os", "windows")
    if os_name not in ("windows", "linux"):
        raise _err(file, "os", f"must be 'windows' or 'linux', not {os_name!r}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - DEFAULT_KEYS:
        raise _err(file, "defaults", f"unknown key(s): {', '.join(sorted(set(defaults) - DEFAULT_KEYS))}")
    default_cap = _size(file, "defaults.max_file_size", defaults["max_file_size"]) if "max_file_size" in defaults else None
    default_depth = int(defaults.get("max_depth", DEFAULT_MAX_DEPTH))

    artifacts: dict[str, Artifact] = {}
    parents = data.get("extends") or []
    if isinstance(parents, str):
        parents = [parents]
    for parent in parents:
        parent_path = parent if Path(parent).suffix else parent
        if not Path(parent).is_absolute() and Path(path.parent / f"{parent}.yaml").is_file():
            parent_path = str(path.parent / f"{parent}.yaml")
        base = load_profile(parent_path, (*_seen, file))
        for art in base.artifacts:
            artifacts[art.name] = art

    if not isinstance(data["artifacts"], list):
        raise _err(file, "artifacts", "must be a list")
    for i, item in enumerate(data["artifacts"]):
        where = f"artifacts[{i}]"
        if not isinstance(item, dict):
            raise _err(file, where, "must be a mapping")
        where = f"artifacts[{i}] ({item.get('name', '?')})"
        unknown = set(item) - ARTIFACT_KEYS
        if unknown:
            raise _err(file, where, f"unknown key(s): {', '.join(sorted(unknown))}")
        for key in ("name", "priority", "paths"):
            if key not in item:
                raise _err(file, where, f"missing required key {key!r}")
        if not isinstance(item["name"], str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", item["name"]):
            raise _err(file, f"{where}.name", "must be an identifier (CamelCase, as ForensicArtifacts)")
        if item["name"] in artifacts and not parents:
            raise _err(file, f"{where}.name", f"duplicate artifact name {item['name']!r}")
        prio = item["priority"]
        if not isinstance(prio, int) or isinstance(prio, bool) or not 1 <= prio <= 1000:
            raise _err(file, f"{where}.priority", f"must be an integer 1..1000 (1 = first), not {prio!r}")
        paths = item["paths"]
        if isinstance(paths, str) or not isinstance(paths, list) or not paths:
            raise _err(file, f"{where}.paths", "must be a non-empty list of path patterns")
        patterns = tuple(_parse_pattern(file, f"{where}.paths[{j}]", p, os_name) for j, p in enumerate(paths))
        companions = item.get("companions") or []
        if not isinstance(companions, list) or not all(isinstance(c, str) and c and "/" not in c and "\\" not in c
                                                       for c in companions):
            raise _err(file, f"{where}.companions", "must be a list of name suffixes such as '.LOG1' or '-wal'")
        streams = item.get("streams") or []
        if not isinstance(streams, list) or not all(isinstance(s, str) and s for s in streams):
            raise _err(file, f"{where}.streams", "must be a list of stream names such as 'Zone.Identifier'")
        exclude = item.get("exclude") or []
        if not isinstance(exclude, list) or not all(isinstance(s, str) and s for s in exclude):
            raise _err(file, f"{where}.exclude", "must be a list of glob patterns")
        cap = _size(file, f"{where}.max_file_size", item["max_file_size"]) if "max_file_size" in item else default_cap
        depth = item.get("max_depth", default_depth)
        if not isinstance(depth, int) or not 0 <= depth <= 32:
            raise _err(file, f"{where}.max_depth", f"must be an integer 0..32, not {depth!r}")
        if "per_user" in item and not isinstance(item["per_user"], bool):
            raise _err(file, f"{where}.per_user", "must be true or false")
        if "volatile" in item:
            raise _err(file, f"{where}.volatile", "reserved for a later version")
        artifacts[item["name"]] = Artifact(
            name=item["name"], description=str(item.get("description", "")), priority=prio, patterns=patterns,
            companions=tuple(companions), max_file_size=cap, max_depth=depth, streams=tuple(streams),
            exclude=tuple(exclude), order=len(artifacts),
        )
    return Profile(name=str(data["name"]), description=str(data["description"]), os=os_name,
                   artifacts=tuple(artifacts.values()), source_file=file,
                   sha256=hashlib.sha256(raw_bytes).hexdigest(), extends=tuple(parents))
