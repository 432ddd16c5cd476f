"""Shadow copies of the real Windows volume in the corpus (plaso's vsstest.qcow2).

SOURCES.md: store 0 root holds `syslog`; store 1 root holds `another_file`, `syslog.gz`; the live
volume root holds `another_file`, `password.txt`, `syslog.gz`.
"""

from __future__ import annotations

import gzip
import hashlib

import pytest
from ntfs_build import session_images

from triage.bundle.manifest import ManifestEntry
from triage.collect.images import open_image
from triage.collect.vss import LiveIndex, list_stores, live_duplicate, shadow_sources, store_volume_name

VSS_QCOW2 = "images/plaso-vss/vsstest.qcow2"


@pytest.fixture()
def live(corpus):
    result = open_image(corpus / VSS_QCOW2)
    (src,) = result.sources
    yield src
    result.close()


@pytest.fixture()
def stores(live):
    srcs = shadow_sources(live)
    yield srcs
    for s in srcs:
        s.close()


def _root_files(src) -> set[str]:
    return {e.name for e in src.listdir("") if e.is_file and not e.name.startswith("$")}


def _sha(src, rel) -> str:
    return hashlib.sha256(src.open(rel).read()).hexdigest()


def test_catalog(live):
    cat = list_stores(live)
    assert [s.index for s in cat] == [0, 1]
    assert [s.created for s in cat] == ["2013-12-03T06:35:09.736378Z", "2013-12-03T06:37:48.919058Z"]
    assert len({s.identifier for s in cat}) == 2
    assert all(s.volume_size == 1024 ** 3 for s in cat)


def test_per_store_contents(live, stores):
    assert _root_files(live) == {"another_file", "password.txt", "syslog.gz"}
    assert [s.volume for s in stores] == ["C@vss1_20131203T063509Z", "C@vss2_20131203T063748Z"]
    first, second = stores
    assert _root_files(first) == {"syslog"}
    assert _root_files(second) == {"another_file", "syslog.gz"}
    # what each store holds is the volume of its time: syslog was later gzipped into syslog.gz
    syslog = first.open("syslog").read()
    assert syslog.startswith(b"Jan 22 07:52:33 myhostname")
    assert gzip.decompress(second.open("syslog.gz").read()) == syslog
    assert second.open("another_file").read() == b"This is another file.\n"
    assert not first.exists("password.txt") and not second.exists("password.txt")
    for s, n in zip(stores, (1, 2), strict=True):
        assert s.read_method == "vss" and s.kind == "vss"
        assert s.info["shadow_copy"]["store_index"] == n
        assert s.info["live_volume"] == "C"
        with s.open(next(iter(_root_files(s)))) as fh:
            assert fh.read_method == "vss" and isinstance(fh.extra["mft_entry"], int)


def test_stores_and_live_read_interleaved(live, stores):
    """Stores share the image handle with the live volume: reading one never disturbs another."""
    a, b = live.open("syslog.gz"), stores[1].open("syslog.gz")
    c = stores[0].open("syslog")
    parts_a, parts_b, parts_c = [], [], []
    while True:
        pa, pb, pc = a.read(100), b.read(77), c.read(131)
        if not (pa or pb or pc):
            break
        parts_a.append(pa)
        parts_b.append(pb)
        parts_c.append(pc)
    assert b"".join(parts_a) == b"".join(parts_b)
    assert b"".join(parts_c) == stores[0].open("syslog").read()


def test_dedupe_against_live(live, stores):
    index = LiveIndex()
    for name in _root_files(live):
        data = live.open(name).read()
        index.add(name, len(data), hashlib.sha256(data).hexdigest(), f"files/C/{name}")
    first, second = stores
    same = live_duplicate(second, "another_file", index)
    assert same.duplicate and same.sha256 == _sha(live, "another_file")
    assert same.live_bundle_path == "files/C/another_file"
    assert live_duplicate(second, "ANOTHER_FILE", index).duplicate       # Windows paths: any case
    assert live_duplicate(second, "syslog.gz", index).duplicate
    assert not live_duplicate(first, "syslog", index).duplicate          # gone from the live volume
    # same name and size, different bytes: not a duplicate
    tampered = LiveIndex()
    tampered.add("another_file", 22, "0" * 64)
    check = live_duplicate(second, "another_file", tampered)
    assert not check.duplicate and check.sha256 == same.sha256
    # a different size answers without hashing
    sized = LiveIndex()
    sized.add("another_file", 23, same.sha256)
    assert live_duplicate(second, "another_file", sized).sha256 is None


def test_live_index_from_manifest_entries():
    entries = [
        ManifestEntry(path="C:\\another_file", volume="C", bundle_path="files/C/another_file",
                      artifact="x", priority=1, outcome="collected", size=22, sha256="a" * 64),
        ManifestEntry(path="C:\\dl\\x.exe:Zone.Identifier", volume="C",
                      bundle_path="files/C/dl/x.exe:Zone.Identifier", artifact="x", priority=1,
                      outcome="collected", size=5, sha256="b" * 64, extra={"stream": "Zone.Identifier"}),
        ManifestEntry(path="C:\\failed", volume="C", bundle_path=None, artifact="x", priority=1,
                      outcome="failed"),
        ManifestEntry(path="D:\\other", volume="D", bundle_path="files/D/other", artifact="x",
                      priority=1, outcome="collected", size=1, sha256="c" * 64),
    ]
    index = LiveIndex.from_entries(entries, "C")
    assert len(index) == 2
    assert index.get("Another_File") == (22, "a" * 64, "files/C/another_file")
    assert index.get("dl/x.exe", "Zone.Identifier") == (5, "b" * 64, "files/C/dl/x.exe:Zone.Identifier")
    assert index.get("other") is None


def test_store_volume_name():
    assert store_volume_name("C", 0, "2017-03-01T12:00:00.123456Z") == "C@vss1_20170301T120000Z"
    assert store_volume_name("D", 4, None) == "D@vss5_unknown"


def test_volume_without_shadow_copies(tmp_path_factory, make_hosts):
    imgs = session_images(tmp_path_factory, make_hosts)
    if imgs.skip_reason:
        pytest.skip(imgs.skip_reason)
    result = open_image(imgs.volume)
    try:
        notes: list[str] = []
        assert shadow_sources(result.sources[0], notes=notes) == [] and notes == []
    finally:
        result.close()


VSS_PROFILE = """\
name: vss-test
description: the files at the root of vsstest.qcow2
schema_version: 1
os: windows
artifacts:
  - name: RootFiles
    priority: 10
    paths: ['C:\\\\syslog', 'C:\\\\syslog.gz', 'C:\\\\another_file', 'C:\\\\password.txt']
"""


def test_triage_collect_vss(corpus, tmp_path):
    """`triage collect --image vsstest.qcow2 --vss`: each store under its own volume, duplicates skipped."""
    import subprocess
    import sys
    from pathlib import Path

    from triage.bundle.reader import BundleReader

    repo = Path(__file__).resolve().parents[2]
    profile = tmp_path / "vss-test.yaml"
    profile.write_text(VSS_PROFILE)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "triage", "collect", "--image", str(corpus / VSS_QCOW2), "--vss",
                    "--profile", str(profile), "--output", str(out), "--quiet", "--hostname", "vsshost"],
                   check=True, cwd=repo, timeout=300)
    (bundle,) = out.glob("*.zip")
    with BundleReader(bundle) as b:
        got = {(e.volume, e.rel_path or e.path): e for e in b.entries}
        stored = {(e.volume, e.rel_path) for e in b.entries if e.outcome == "collected"}
        assert stored == {("C", "another_file"), ("C", "password.txt"), ("C", "syslog.gz"),
                          ("C@vss1_20131203T063509Z", "syslog")}
        for name in ("another_file", "syslog.gz"):
            dup = [e for e in b.entries if e.volume == "C@vss2_20131203T063748Z" and e.path.endswith(name)]
            assert len(dup) == 1 and dup[0].outcome == "skipped_duplicate"
            assert got[("C", name)].sha256 in dup[0].error
        syslog = got[("C@vss1_20131203T063509Z", "syslog")]
        assert syslog.read_method == "vss" and syslog.bundle_path == "files/C@vss1_20131203T063509Z/syslog"
        assert b.open(syslog.bundle_path).read().startswith(b"Jan 22 07:52:33 myhostname")
        volumes = {s["volume"] for s in b.collection["sources"]}
        assert volumes == {"C", "C@vss1_20131203T063509Z", "C@vss2_20131203T063748Z"}
