"""Fixtures for ship tests: a real ``triage serve`` subprocess on 127.0.0.1 and real bundles made by
``triage collect`` from a make_hosts tree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from shiptools import ENV, REPO, TOKEN_A, TOKEN_B, Server, triage

from triage.ship import keys


def start_server(store: Path, *extra: str, tokens: bool = True) -> Server:
    """``triage serve`` on 127.0.0.1 and a free port, tokens for cases a and b; its log goes to a file
    beside the store (a pipe nobody reads would fill up and stall the server)."""
    args = ["serve", "--store", store, "--host", "127.0.0.1", "--port", "0", *extra]
    if tokens:
        args += ["--token", f"a:{TOKEN_A}", "--token", f"b:{TOKEN_B}"]
    log = open(store.with_name(store.name + ".log"), "w")  # noqa: SIM115 - the server process writes it
    proc = subprocess.Popen([sys.executable, "-m", "triage", *map(str, args)], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    line = proc.stdout.readline()          # "triage serve: listening on URL ..." once bound
    m = re.search(r"listening on (\S+)", line)
    if not m:
        proc.kill()
        raise AssertionError(f"server did not start: {line!r} {store.with_name(store.name + '.log').read_text()}")
    return Server(m.group(1), store, proc)


@pytest.fixture
def serve(tmp_path):
    """serve(*extra_args, tokens=True) -> Server: a fresh server and store for this test."""
    started: list[Server] = []

    def start(*extra: str, tokens: bool = True, store: Path | None = None) -> Server:
        """A new store each time, or ``store`` again (a restart)."""
        server = start_server(store or tmp_path / f"store{len(started)}", *extra, tokens=tokens)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for the tests of a module that only look at their own uploads."""
    server = start_server(tmp_path_factory.mktemp("shared") / "store")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def real_bundle(make_hosts, tmp_path_factory) -> Path:
    """A real bundle: ``triage collect`` over a make-host-tree host (with its .sha256 sidecar)."""
    hosts = make_hosts(hosts=1, seed=0, filler_mb=1)
    out = tmp_path_factory.mktemp("bundle")
    r = triage("collect", "--target", hosts / "host-000", "--output", out, "--quiet")
    assert r.returncode == 0, r.stderr
    (bundle,) = out.glob("*.zip")
    assert bundle.with_name(bundle.name + ".sha256").is_file()
    return bundle


@pytest.fixture(scope="session")
def analyst_keys(tmp_path_factory):
    """(private key, public key, dir) for one analyst, made by the real keygen command."""
    d = tmp_path_factory.mktemp("keys")
    r = triage("keygen", "--out", d / "analyst")
    assert r.returncode == 0, r.stderr
    return keys.load_private_key(d / "analyst.key"), keys.load_public_key(d / "analyst.pub"), d
