"""A batch worker opens each bundle once: verification, YARA and the store rows use the analysis' reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _analyze_host import PLANT, collected_bundle


@pytest.fixture(scope="session")
def bundle(make_hosts, tmp_path_factory) -> Path:
    return collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))


def test_one_reader_per_bundle_in_a_batch_worker(bundle, tmp_path, monkeypatch):
    import triage.bundle.reader as reader_mod
    from triage.fleet import batch
    from triage.fleet.batch import analyze_task
    from triage.fleet.store import host_info, summary_rows

    opened: list[str] = []
    real_init = reader_mod.BundleReader.__init__

    def counting(self, path):
        opened.append(str(path))
        real_init(self, path)

    monkeypatch.setattr(reader_mod.BundleReader, "__init__", counting)
    options = {"sha256": "0" * 64, "size": bundle.stat().st_size, "analyzer_version": "test", "background": False}
    result = analyze_task(str(bundle), str(tmp_path / "out"), options)
    assert result["status"] == "ok", result
    assert opened == [str(bundle)]
    # the store rows hold the files a reader opened afresh lists
    summary = json.loads((tmp_path / "out" / result["host_dir"] / "summary.json").read_text("utf-8"))
    fresh = batch._manifest_files(str(bundle))
    assert fresh and result["rows"] == summary_rows(summary, fresh)
    assert result["host_info"] == host_info(summary, fresh)


def test_verify_through_the_callers_reader_gives_the_same_report(bundle):
    from triage.bundle.reader import BundleReader
    from triage.bundle.verify import verify_bundle

    alone = verify_bundle(bundle)
    with BundleReader(bundle) as reader:
        shared = verify_bundle(bundle, reader=reader)
        assert reader.zip is not None and reader.zip.fp is not None  # left open for the caller
    assert shared.to_dict() == alone.to_dict() and shared.ok
