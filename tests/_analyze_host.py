"""Test helpers for the analyzer: hosts collected with the real collector, once per session.

``collected_bundle(make_hosts, base, **host_args)`` lays out a make-host-tree host, runs the real
``triage collect --target HOST --output DIR`` on it and returns the bundle path; the same arguments
give the same bundle for the whole session (tests treat bundles as read-only: copy before tampering).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

_CACHE: dict[str, Path] = {}


def collected_bundle(make_hosts, base: Path, *, plant: tuple[str, ...] = (), filler_mb: int = 1,
                     **options) -> Path:
    key = json.dumps([plant, filler_mb, sorted(options.items())])
    if key in _CACHE:
        return _CACHE[key]
    from triage.cli import main

    hosts = make_hosts(plant=plant, filler_mb=filler_mb, **options)
    out = base / f"bundle{len(_CACHE)}"
    out.mkdir(parents=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        rc = main(["collect", "--target", str(hosts / "host-000"), "--output", str(out), "--quiet"])
    assert rc == 0, f"triage collect failed with {rc}"
    bundles = sorted(out.glob("*.zip"))
    assert len(bundles) == 1, bundles
    _CACHE[key] = bundles[0]
    return bundles[0]


def flip_byte(src: Path, dest: Path, member_prefix: str = "files/C/Windows/Prefetch/") -> Path:
    """Copy a bundle and flip one byte inside the stored data of the first member under prefix."""
    import zipfile

    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = next(i for i in z.infolist() if i.filename.startswith(member_prefix) and i.compress_size > 64)
        header = info.header_offset
    name_len = int.from_bytes(data[header + 26:header + 28], "little")
    extra_len = int.from_bytes(data[header + 28:header + 30], "little")
    pos = header + 30 + name_len + extra_len + info.compress_size // 2
    data[pos] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


_ANALYZED: dict[str, object] = {}


def analyzed_once(bundle: Path, base: Path, **kwargs):
    """analyze_bundle(bundle, base/...) once per session per (bundle, kwargs) — read-only results."""
    from triage.analyze.host import analyze_bundle

    key = json.dumps([str(bundle), sorted((k, str(v)) for k, v in kwargs.items())])
    if key not in _ANALYZED:
        _ANALYZED[key] = analyze_bundle(bundle, base / f"analysis{len(_ANALYZED)}", **kwargs)
    return _ANALYZED[key]


PLANT = "0:Updater=C:\\Users\\Public\\u.exe"
