"""Members kept from verification (triage.bundle.member_cache): inflated once, same analysis, bounded."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from _analyze_host import PLANT, collected_bundle, flip_byte

from triage.bundle.manifest import ManifestEntry
from triage.bundle.member_cache import MemberCache
from triage.bundle.reader import BundleReader
from triage.bundle.verify import verify_bundle


@pytest.fixture(scope="session")
def bundle(make_hosts, tmp_path_factory) -> Path:
    return collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))


def _comparable(summary: dict) -> dict:
    s = json.loads(json.dumps(summary, default=str))
    s.get("stats", {}).pop("timings", None)
    s.get("stats", {}).pop("seconds_per_parser", None)
    s.pop("generated", None)
    return s


def test_verified_bytes_are_the_members_bytes(bundle):
    cache = MemberCache()
    report = verify_bundle(bundle, copy_out=cache.copy_out)
    assert report.ok and cache.members
    with zipfile.ZipFile(bundle) as z:
        for name, data in cache.members.items():
            assert z.read(name) == data, name
    with BundleReader(bundle) as r:
        r.cache = cache.members
        name = next(iter(cache.members))
        with r.open(name) as fh:
            assert fh.read() == cache.members[name]


def test_each_member_is_inflated_once_and_the_analysis_is_unchanged(bundle, tmp_path, monkeypatch):
    import triage.bundle.member_cache as cache_mod
    import triage.bundle.reader as reader_mod
    from triage.analyze.host import analyze_bundle

    opened: Counter = Counter()
    real = reader_mod.open_member

    def counting(path, zf, info):
        opened[info.filename] += 1
        return real(path, zf, info)

    monkeypatch.setattr(reader_mod, "open_member", counting)
    kept = analyze_bundle(bundle, tmp_path / "kept", strict=True, options={"background": False})
    with zipfile.ZipFile(bundle) as z:
        data_members = [i.filename for i in z.infolist() if i.filename.startswith("files/")]
    assert data_members and all(opened[n] == 1 for n in data_members), \
        {n: opened[n] for n in data_members if opened[n] != 1}

    opened.clear()
    monkeypatch.setattr(cache_mod, "DEFAULT_BUDGET", 0)
    again = analyze_bundle(bundle, tmp_path / "again", strict=True, options={"background": False})
    assert max(opened[n] for n in data_members) > 1  # without the cache: verify, YARA and parsers each inflate
    assert _comparable(kept.summary) == _comparable(again.summary)


def test_tampered_member_is_not_kept_and_the_forced_analysis_is_unchanged(bundle, tmp_path, monkeypatch):
    """A member whose bytes no longer inflate cleanly fails its read in verification: it is not
    kept, the parser meets the same error as without the cache, the verdict is the same."""
    import triage.bundle.member_cache as cache_mod
    from triage.analyze.host import analyze_bundle

    bad = flip_byte(bundle, tmp_path / bundle.name)
    (tmp_path / (bundle.name + ".sha256")).write_text((bundle.parent / (bundle.name + ".sha256")).read_text())
    cache = MemberCache()
    report = verify_bundle(bad, copy_out=cache.copy_out)
    assert not report.ok
    broken = [p for p in report.problems if "Prefetch" in p]
    assert broken and not any(n.startswith("files/C/Windows/Prefetch/") and n in p
                              for n in cache.members for p in broken)

    forced = analyze_bundle(bad, tmp_path / "forced", force=True, options={"background": False})
    monkeypatch.setattr(cache_mod, "DEFAULT_BUDGET", 0)
    plain = analyze_bundle(bad, tmp_path / "plain", force=True, options={"background": False})
    assert forced.summary["bundle"]["verified"] is False and not forced.refused
    assert _comparable(forced.summary) == _comparable(plain.summary)


def _entry(name: str, size: int) -> ManifestEntry:
    return ManifestEntry.from_dict({"path": "C:\\x", "volume": "C:", "bundle_path": name, "artifact": "x",
                                    "priority": 1, "size": size, "outcome": "collected"})


def test_bounds_hold_against_lying_sizes_and_big_members():
    cache = MemberCache(budget=100, member_cap=60)
    assert cache.copy_out(_entry("files/big", 61)) is None          # above the per-member cap
    buf, done = cache.copy_out(_entry("files/a", 50))
    buf.write(b"x" * 50)
    done(None)
    assert cache.members == {"files/a": b"x" * 50}
    assert cache.copy_out(_entry("files/b", 51)) is None             # would pass the total budget
    buf, done = cache.copy_out(_entry("files/liar", 10))              # the member is longer than declared
    buf.write(b"y" * 8)
    with pytest.raises(OSError):
        buf.write(b"y" * 8)
    done(OSError("copy failed"))
    assert "files/liar" not in cache.members and cache.left == 50
    buf, done = cache.copy_out(_entry("files/short", 10))             # read error half way
    buf.write(b"z" * 5)
    done(zipfile.BadZipFile("Bad CRC-32"))
    assert "files/short" not in cache.members and cache.left == 50
