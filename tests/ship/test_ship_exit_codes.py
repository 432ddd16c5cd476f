"""Exit codes of the shipping commands against a real ``triage serve`` on 127.0.0.1: an upload that
does not complete is 5 (UPLOAD_FAILED) whether it comes from ``triage upload`` or from
``triage collect --upload``, and the local bundle is kept for the retry."""

from __future__ import annotations

import json

from shiptools import TOKEN_A, triage


def test_collect_upload_refused_exits_5_and_keeps_the_bundle(serve, make_hosts, tmp_path):
    server = serve()
    host = make_hosts(hosts=1, seed=0, filler_mb=1) / "host-000"
    out = tmp_path / "out"
    r = triage("collect", "--target", host, "--output", out, "--quiet", "--upload", server.url,
               "--token", "wrong-token-0000000000000")
    assert r.returncode == 5, r.stdout + r.stderr
    (bundle,) = out.glob("*.zip")
    assert r.stdout == f"{bundle}\n" and "upload failed" in r.stderr and f"triage upload {bundle}" in r.stderr
    assert triage("verify", bundle).returncode == 0
    # the same bundle with the right token: the retry the message suggests works and exits 0
    r = triage("upload", bundle, "--to", server.url, "--token", TOKEN_A)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sha256"] == bundle.with_name(bundle.name + ".sha256").read_text().split()[0]


def test_collect_json_reports_the_upload(serve, make_hosts, tmp_path):
    server = serve()
    host = make_hosts(hosts=1, seed=0, filler_mb=1) / "host-000"
    r = triage("collect", "--target", host, "--output", tmp_path / "o", "--json", "--upload", server.url,
               "--token", TOKEN_A)
    doc = json.loads(r.stdout)
    assert r.returncode == doc["exit_code"] == 0, r.stderr
    assert doc["upload"]["error"] is None and doc["upload"]["receipt"]["sha256"] == doc["sha256"]


def test_upload_of_a_missing_file_is_a_usage_error(serve, tmp_path):
    server = serve()
    r = triage("upload", tmp_path / "nothing.zip", "--to", server.url, "--token", TOKEN_A)
    assert r.returncode == 2 and "not a file" in r.stderr
