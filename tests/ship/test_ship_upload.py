"""Upload to a real ``triage serve`` on 127.0.0.1: resume after kill, drops, corruption, auth, names,
write-once store, custody log, and 20 clients at once."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
import requests
from shiptools import (
    TOKEN_A,
    TOKEN_B,
    FaultyProxy,
    make_encrypted,
    sha256_file,
    triage,
    triage_popen,
    wait_for,
)

from triage.bundle.verify import verify_bundle
from triage.ship import decrypt, encrypt
from triage.ship import protocol as P

AUTH_A = {"Authorization": f"Bearer {TOKEN_A}"}


def _upload(server_url: str, bundle: Path, *extra: str, token: str = TOKEN_A, timeout: float = 120):
    return triage("upload", bundle, "--to", server_url, "--token", token, "--retries", "6", *extra,
                  timeout=timeout)


def _custody(store: Path) -> list[dict]:
    path = store / "custody.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_upload_real_bundle(serve, real_bundle, tmp_path):
    server = serve("--queue-dir", str(tmp_path / "queue"))
    local = tmp_path / real_bundle.name
    shutil.copy(real_bundle, local)
    shutil.copy(real_bundle.with_name(real_bundle.name + ".sha256"), tmp_path)
    r = _upload(server.url, local, "--chunk-size", "256KiB")
    assert r.returncode == 0, r.stderr
    receipt = json.loads(r.stdout)
    stored = server.store / "a" / real_bundle.name
    assert receipt["sha256"] == sha256_file(stored) == sha256_file(real_bundle)
    assert receipt["size"] == real_bundle.stat().st_size and receipt["case"] == "a"
    assert receipt["client_address"] == "127.0.0.1"
    assert receipt["verification"]["verifier"] == "triage.bundle.verify.verify_bundle"
    assert receipt["verification"]["ok"] and receipt["verification"]["checked"] > 10
    assert not stat.S_IMODE(stored.stat().st_mode) & 0o222                 # stored read-only
    assert local.exists()                                                  # local bundle kept
    assert json.loads(local.with_name(local.name + ".receipt.json").read_text()) == receipt
    events = _custody(server.store)
    assert [e["event"] for e in events] == ["stored"]
    assert events[0]["sha256"] == receipt["sha256"] and events[0]["client_address"] == "127.0.0.1"
    assert events[0]["time_utc"].endswith("Z")
    tickets = list((tmp_path / "queue").glob("*.json"))
    assert len(tickets) == 1 and json.loads(tickets[0].read_text())["bundle"] == str(stored)
    assert server.staging_files() == []

    # The same bundle again: recognised, nothing re-sent, custody notes it.
    r = _upload(server.url, local)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "already_stored" and "already holds" in r.stderr
    events = _custody(server.store)
    assert [e["event"] for e in events] == ["stored", "already_stored"]
    line1 = (server.store / "custody.jsonl").read_bytes().splitlines(keepends=True)[0]
    assert events[1]["prev_sha256"] == hashlib.sha256(line1).hexdigest()   # the log is hash-chained

    # A different bundle under the same name never overwrites.
    other = tmp_path / "other" / real_bundle.name
    other.parent.mkdir()
    other.write_bytes(b"not the same bundle" * 1000)
    r = _upload(server.url, other)
    assert r.returncode == 5 and "already stored" in r.stderr
    assert sha256_file(stored) == sha256_file(real_bundle)
    assert _custody(server.store)[-1]["event"] == "conflict"

    # The custody log's hash chain checks out, and removing a line breaks it.
    r = triage("serve", "--store", server.store, "--check-custody")
    assert r.returncode == 0 and "OK" in r.stdout and "3 line(s)" in r.stdout
    log = server.store / "custody.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + lines[2])
    r = triage("serve", "--store", server.store, "--check-custody")
    assert r.returncode == 1 and "line 2: chain broken" in r.stdout


def test_client_killed_midway_resumes(serve, analyst_keys, tmp_path):
    _, pub, _ = analyst_keys
    bundle = make_encrypted(tmp_path / "b", 1_200_000, pub, seed=1)
    server = serve()
    total = P.chunk_count(bundle.stat().st_size, 16 << 10)
    proc = triage_popen("upload", bundle, "--to", server.url, "--token", TOKEN_A, "--chunk-size", "16KiB",
                        "--limit-rate", "150KB")

    def held() -> int:
        return sum(1 for p in (server.store / ".staging").rglob("*") if p.parent.name == "chunks"
                   and p.name.isdigit())

    assert wait_for(lambda: held() >= 10, timeout=30), proc.stderr.read() if proc.poll() is not None else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    before = held()
    assert 10 <= before < total                          # really killed half-way
    assert not list((server.store / "a").glob("*")) if (server.store / "a").exists() else True

    r = _upload(server.url, bundle, "--chunk-size", "16KiB")
    assert r.returncode == 0, r.stderr
    assert f"already holds {before} of {total} chunks" in r.stderr
    assert f"sent {total - before} chunk(s)" in r.stderr        # only the rest was sent
    stored = server.store / "a" / bundle.name
    assert sha256_file(stored) == sha256_file(bundle) == json.loads(r.stdout)["sha256"]
    assert server.staging_files() == []


def _staging_of(server, bundle: Path) -> Path:
    return server.store / ".staging" / P.upload_id("a", bundle.name, sha256_file(bundle))


def test_dropped_connection_mid_chunk(shared_server, analyst_keys, tmp_path):
    _, pub, _ = analyst_keys
    bundle = make_encrypted(tmp_path / "b", 600_000, pub, seed=2)
    server = shared_server
    port = int(server.url.rsplit(":", 1)[1])
    state = {"dropped": False}

    def hook(conn, offset, data):
        # Cut the first connection once 150 kB went through, halfway into the current read: the server
        # holds a partial chunk body that it must throw away.
        if not state["dropped"] and offset + len(data) > 150_000:
            state["dropped"] = True
            return data[:len(data) // 2], True
        return data, False

    proxy = FaultyProxy("127.0.0.1", port, hook)
    try:
        r = _upload(proxy.url, bundle, "--chunk-size", "64KiB")
    finally:
        proxy.close()
    assert proxy.dropped == 1 and proxy.connections >= 2
    assert r.returncode == 0, r.stderr
    assert "retrying" in r.stderr
    assert sha256_file(server.store / "a" / bundle.name) == sha256_file(bundle)
    assert not _staging_of(server, bundle).exists()


def test_corrupted_chunk_rejected_and_resent(shared_server, analyst_keys, tmp_path):
    _, pub, _ = analyst_keys
    bundle = make_encrypted(tmp_path / "b", 400_000, pub, seed=3)
    server = shared_server
    port = int(server.url.rsplit(":", 1)[1])
    seen: dict[int, bytearray] = {}
    state = {"flipped": False}

    def hook(conn, offset, data):
        buf = seen.setdefault(conn, bytearray())
        buf += data
        if state["flipped"]:
            return data, False
        put = buf.find(b"PUT /v1/uploads/")
        end = buf.find(b"\r\n\r\n", put) if put >= 0 else -1
        target = end + 4 + 1000 if end >= 0 else -1            # byte 1000 of the first chunk's body
        if offset <= target < offset + len(data):
            data = bytearray(data)
            data[target - offset] ^= 0xFF
            state["flipped"] = True
            return bytes(data), False
        return data, False

    proxy = FaultyProxy("127.0.0.1", port, hook)
    try:
        r = _upload(proxy.url, bundle, "--chunk-size", "64KiB")
    finally:
        proxy.close()
    assert state["flipped"]
    assert r.returncode == 0, r.stderr
    assert "rejected by the server (hash mismatch in transit)" in r.stderr and "1 resent" in r.stderr
    assert sha256_file(server.store / "a" / bundle.name) == sha256_file(bundle)


def test_chunk_hash_mismatch_is_422_and_not_kept(shared_server):
    server = shared_server
    body = b"x" * 5000
    create = requests.post(f"{server.url}/v1/uploads", headers=AUTH_A, timeout=10,
                           json={"name": "h_1.tbe", "size": 5000, "sha256": hashlib.sha256(body).hexdigest(),
                                 "chunk_size": 4096})
    assert create.status_code == 201
    uid = create.json()["id"]
    bad = requests.put(f"{server.url}/v1/uploads/{uid}/chunks/0", data=body[:4096], timeout=10,
                       headers={**AUTH_A, P.CHUNK_HASH_HEADER: hashlib.sha256(b"other").hexdigest()})
    assert bad.status_code == 422
    status = requests.get(f"{server.url}/v1/uploads/{uid}", headers=AUTH_A, timeout=10).json()
    assert status["received"] == []
    too_long = requests.put(f"{server.url}/v1/uploads/{uid}/chunks/1", data=body, timeout=10,
                            headers={**AUTH_A, P.CHUNK_HASH_HEADER: hashlib.sha256(body).hexdigest()})
    assert too_long.status_code == 413
    done = requests.post(f"{server.url}/v1/uploads/{uid}/complete", headers=AUTH_A, timeout=10)
    assert done.status_code == 409 and done.json()["missing"] == [0, 1]


def test_wrong_or_missing_token(serve, real_bundle, tmp_path):
    server = serve()
    sha = sha256_file(real_bundle)
    meta = {"name": real_bundle.name, "size": real_bundle.stat().st_size, "sha256": sha, "chunk_size": 65536}
    for headers in ({}, {"Authorization": "Bearer wrong-token-0000000000000"}, {"Authorization": TOKEN_A},
                    {"Authorization": f"Basic {TOKEN_A}"}):
        r = requests.post(f"{server.url}/v1/uploads", json=meta, headers=headers, timeout=10)
        assert r.status_code == 401, headers
        r = requests.put(f"{server.url}/v1/bundles/{real_bundle.name}", data=real_bundle.read_bytes(),
                         headers={**headers, P.CONTENT_HASH_HEADER: sha}, timeout=30)
        assert r.status_code == 401
    r = _upload(server.url, real_bundle, token="wrong-token-0000000000000")
    assert r.returncode == 5 and "401" in r.stderr
    assert not (server.store / "a").exists() and not (server.store / "default").exists()
    assert list((server.store / ".staging").iterdir()) == []
    assert _custody(server.store) == []


BAD_NAMES = ["../evil.zip", "a/b.zip", "..\\evil.zip", "/etc/passwd.zip", ".hidden.zip", "x\x00.zip", "x\n.zip",
             "a" * 300 + ".zip", "evil.exe", "..", "", "host..zip", "c:evil.zip", "a b.zip", "%2e%2e%2fx.zip"]


def test_path_tricks_rejected(shared_server):
    server = shared_server
    before = sorted(server.store.rglob("*"))
    for name in BAD_NAMES:
        assert P.name_problem(name), name
        meta = {"name": name, "size": 10, "sha256": "0" * 64, "chunk_size": 4096}
        r = requests.post(f"{server.url}/v1/uploads", json=meta, headers=AUTH_A, timeout=10)
        assert r.status_code == 400, name
    assert P.name_problem("host-000_20261125T223849Z.zip") is None
    assert sorted(server.store.rglob("*")) == before                  # nothing created anywhere


def test_path_tricks_in_urls(shared_server, tmp_path):
    server = shared_server
    headers = {**AUTH_A, P.CONTENT_HASH_HEADER: hashlib.sha256(b"x").hexdigest()}
    for raw in ("%2e%2e%2fevil.zip", "..%2fevil.zip", "..%5cevil.zip", "%2e%2e", "evil%00.zip"):
        r = requests.put(f"{server.url}/v1/bundles/{raw}", data=b"x", headers=headers, timeout=10)
        assert r.status_code in (400, 404), raw
    for raw in ("..%2f..%2fetc", "0" * 31 + "g", "../../etc/passwd"):
        r = requests.get(f"{server.url}/v1/uploads/{raw}", headers=AUTH_A, timeout=10)
        assert r.status_code in (400, 404), raw
    assert not list(tmp_path.rglob("evil*")) and not list(server.store.parent.rglob("evil*"))


def test_cases_are_isolated(serve, analyst_keys, tmp_path):
    _, pub, _ = analyst_keys
    (tmp_path / "tokens").write_text(f"# case tokens\na:{TOKEN_A}\nb:{TOKEN_B}\n")
    server = serve("--token-file", str(tmp_path / "tokens"), tokens=False)
    bundle = make_encrypted(tmp_path / "b", 50_000, pub, seed=4)
    sha = sha256_file(bundle)
    meta = {"name": bundle.name, "size": bundle.stat().st_size, "sha256": sha, "chunk_size": 4096}
    uid = requests.post(f"{server.url}/v1/uploads", json=meta, headers=AUTH_A, timeout=10).json()["id"]
    r = requests.get(f"{server.url}/v1/uploads/{uid}", headers={"Authorization": f"Bearer {TOKEN_B}"}, timeout=10)
    assert r.status_code == 404                         # case b cannot see or feed case a's upload
    assert _upload(server.url, bundle, token=TOKEN_B).returncode == 0
    assert _upload(server.url, bundle, token=TOKEN_A).returncode == 0
    assert sha256_file(server.store / "a" / bundle.name) == sha256_file(server.store / "b" / bundle.name) == sha


def test_bundle_failing_verification_is_not_stored(serve, tmp_path):
    server = serve()
    fake = tmp_path / "host-x_20260101T000000Z.zip"
    with zipfile.ZipFile(fake, "w") as z:             # a zip, but not a triage bundle (no manifest)
        z.writestr("files/C/x.txt", b"hello")
    r = _upload(server.url, fake)
    assert r.returncode == 5 and "failed verification" in r.stderr
    assert fake.exists() and not (server.store / "a" / fake.name).exists()
    assert any((server.store / ".rejected" / "a").rglob(fake.name))
    assert _custody(server.store)[-1]["event"] == "rejected"


def test_curl_whole_file_put(serve, real_bundle):
    if not shutil.which("curl"):
        pytest.skip("curl not installed")
    server = serve()
    sha = sha256_file(real_bundle)
    base = ["curl", "-sS", "-T", str(real_bundle), "-H", f"Authorization: Bearer {TOKEN_A}"]
    bad = subprocess.run([*base, "-H", f"X-Content-SHA256: {'0' * 64}", "-w", "%{http_code}",
                          "-o", "/dev/null", f"{server.url}/v1/bundles/{real_bundle.name}"],
                         capture_output=True, text=True, timeout=60)
    assert bad.stdout == "422" and not (server.store / "a" / real_bundle.name).exists()
    good = subprocess.run([*base, "-H", f"X-Content-SHA256: {sha}", f"{server.url}/v1/bundles/{real_bundle.name}"],
                          capture_output=True, text=True, timeout=60)
    assert json.loads(good.stdout)["receipt"]["sha256"] == sha
    assert sha256_file(server.store / "a" / real_bundle.name) == sha


def test_twenty_clients_at_once(serve, analyst_keys, tmp_path):
    _, pub, _ = analyst_keys
    server = serve()
    bundles = [make_encrypted(tmp_path / "b", 300_000 + 1000 * i, pub, seed=100 + i) for i in range(20)]
    procs = [triage_popen("upload", b, "--to", server.url, "--token", TOKEN_A, "--chunk-size", "32KiB")
             for b in bundles]
    results = [(p.wait(180), p.stdout.read(), p.stderr.read()) for p in procs]
    for rc, _out, err in results:
        assert rc == 0, err
    for b, (_rc, out, _err) in zip(bundles, results, strict=True):
        stored = server.store / "a" / b.name
        assert sha256_file(stored) == sha256_file(b) == json.loads(out)["sha256"]
    assert len(server.stored("a")) == 20
    assert sorted(e["name"] for e in _custody(server.store) if e["event"] == "stored") == sorted(b.name for b in bundles)
    assert server.staging_files() == []


def test_server_side_damage_makes_client_start_over(shared_server, analyst_keys, tmp_path):
    """Chunks held by the server got damaged (e.g. lost in a server crash): the whole-file check at
    completion catches it, the upload is discarded and the client starts over by itself."""
    _, pub, _ = analyst_keys
    bundle = make_encrypted(tmp_path / "b", 40_000, pub, seed=21)
    server = shared_server
    data = bundle.read_bytes()
    meta = {"name": bundle.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "chunk_size": 16384}
    uid = requests.post(f"{server.url}/v1/uploads", json=meta, headers=AUTH_A, timeout=10).json()["id"]
    for i in range(P.chunk_count(len(data), 16384)):
        part = data[i * 16384:(i + 1) * 16384]
        r = requests.put(f"{server.url}/v1/uploads/{uid}/chunks/{i}", data=part, timeout=10,
                         headers={**AUTH_A, P.CHUNK_HASH_HEADER: hashlib.sha256(part).hexdigest()})
        assert r.status_code == 200
    staged = server.store / ".staging" / uid / bundle.name
    damaged = bytearray(staged.read_bytes())
    damaged[20_000] ^= 0xFF
    staged.write_bytes(bytes(damaged))
    r = _upload(server.url, bundle, "--chunk-size", "16KiB")
    assert r.returncode == 0, r.stderr
    assert "starting over" in r.stderr
    assert sha256_file(server.store / "a" / bundle.name) == sha256_file(bundle)
    assert [e["event"] for e in _custody(server.store) if e["name"] == bundle.name] == ["rejected", "stored"]


def test_local_bundle_damaged_after_collection(serve, real_bundle, tmp_path):
    """The sidecar's hash is declared; the server finds the received file differs, and the client
    then proves its own copy damaged instead of retrying forever. Nothing is stored."""
    server = serve()
    local = tmp_path / real_bundle.name
    data = bytearray(real_bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    local.write_bytes(bytes(data))
    shutil.copy(real_bundle.with_name(real_bundle.name + ".sha256"), tmp_path)
    r = _upload(server.url, local)
    assert r.returncode == 5 and "does not match its .sha256 sidecar" in r.stderr
    assert server.stored("a") == []
    assert local.exists()


def test_size_limits(serve, analyst_keys, tmp_path):
    _, pub, _ = analyst_keys
    server = serve("--max-bundle-size", "100KB", "--max-chunk-size", "32KiB")
    big = make_encrypted(tmp_path / "b", 150_000, pub, seed=31)
    r = _upload(server.url, big, "--chunk-size", "16KiB")
    assert r.returncode == 5 and "413" in r.stderr
    r = requests.put(f"{server.url}/v1/bundles/{big.name}", data=big.read_bytes(), timeout=30,
                     headers={**AUTH_A, P.CONTENT_HASH_HEADER: sha256_file(big)})
    assert r.status_code == 413
    small = make_encrypted(tmp_path / "s", 50_000, pub, seed=32)
    r = _upload(server.url, small, "--chunk-size", "64KiB")        # larger than the server allows: it says so
    assert r.returncode == 0 and f"using the server's chunk size {32 << 10}" in r.stderr
    assert [p.name for p in server.stored("a")] == [small.name]


def test_encrypted_real_bundle_end_to_end(shared_server, real_bundle, analyst_keys, tmp_path):
    """Suspect host: encrypt + upload. Analyst: the stored .tbe decrypts to the original, verifiable bundle."""
    priv, pub, _ = analyst_keys
    enc = encrypt.encrypt_file(real_bundle, tmp_path, [pub])
    r = _upload(shared_server.url, enc)
    assert r.returncode == 0, r.stderr
    receipt = json.loads(r.stdout)
    assert receipt["verification"]["kind"] == "encrypted" and receipt["verification"]["ok"]
    stored = shared_server.store / "a" / enc.name
    out = tmp_path / "analyst"
    out.mkdir()
    plain = decrypt.decrypt_file(stored, out, priv)
    assert plain.path.name == real_bundle.name and plain.sha256 == sha256_file(real_bundle)
    assert verify_bundle(plain.path).ok
