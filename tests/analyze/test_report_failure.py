"""A failure writing report.html is an issue that summary.json shows (it was added after the
summary had been written, so the summary never said the report was missing)."""

from __future__ import annotations

import json

from _analyze_host import PLANT, collected_bundle


def test_report_failure_is_in_the_summary(make_hosts, tmp_path_factory, tmp_path, monkeypatch):
    import triage.report.html
    from triage.analyze.host import analyze_bundle

    def broken(summary, path):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(triage.report.html, "write_report", broken)
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    result = analyze_bundle(bundle, tmp_path / "out")
    written = json.loads(result.summary_path.read_text(encoding="utf-8"))
    messages = [i["message"] for i in written["issues"]]
    assert any("report.html failed: RuntimeError: disk full (simulated)" in m for m in messages), messages
    assert written["verdict"]["issues"] == len(written["issues"])
    assert not result.report_path.exists()
