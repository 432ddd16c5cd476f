"""A hostile network in front of a real ``triage serve`` on 127.0.0.1: custody lines that would not
fit a fixed tail, spoofed X-Forwarded-For, deep JSON, per-token quotas, stalled headers and bodies,
a full store, abandoned reservations — and 200 slow or stalled clients while a real upload completes."""

from __future__ import annotations

import hashlib
import json
import select
import shutil
import socket
import sys
import time
import zipfile
from pathlib import Path

import requests
from shiptools import TOKEN_A, sha256_file, triage, triage_popen

from triage.ship import protocol as P

AUTH_A = {"Authorization": f"Bearer {TOKEN_A}"}


def _custody(store: Path) -> list[dict]:
    path = store / "custody.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _upload(url: str, bundle: Path, timeout: float = 120):
    return triage("upload", bundle, "--to", url, "--token", TOKEN_A, "--retries", "6", timeout=timeout)


def _create(url: str, name: str, size: int, sha: str, **kw) -> requests.Response:
    return requests.post(f"{url}{P.API}/uploads", headers=AUTH_A, timeout=30,
                         json={"name": name, "size": size, "sha256": sha, **kw})


def _raw(url: str) -> socket.socket:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    return s


def _closed_by_server(s: socket.socket) -> bool:
    """True once the server closes the connection (reads until EOF; a reply before it is fine)."""
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_custody_chain_survives_huge_names_and_a_restart(serve, real_bundle, tmp_path):
    """The review's attack: a rejected upload naming 25 members of 60 kB each. The reply and the
    custody line stay small; after a restart the chain continues from the right hash."""
    server = serve()
    evil = tmp_path / "host-evil_20260101T000000Z.zip"
    shutil.copy(real_bundle, evil)
    with zipfile.ZipFile(evil, "a") as z:
        for i in range(25):
            z.writestr(f"../{i:02d}" + "n" * 60_000, b"x")
    r = requests.put(f"{server.url}{P.API}/bundles/{evil.name}", data=evil.read_bytes(), timeout=60,
                     headers={**AUTH_A, P.CONTENT_HASH_HEADER: sha256_file(evil)})
    assert r.status_code == 422
    assert len(r.content) < 64 << 10
    problems = r.json()["verification"]["problems"]
    assert any("unsafe member name" in p and "60005 characters" in p for p in problems)
    lines = (server.store / "custody.jsonl").read_bytes().splitlines()
    assert max(len(line) for line in lines) <= 16 << 10
    server.stop()

    again = serve(store=server.store)                              # restart on the same store
    assert _upload(again.url, real_bundle).returncode == 0
    again.stop()
    assert [e["event"] for e in _custody(server.store)] == ["rejected", "stored"]
    check = triage("serve", "--store", server.store, "--check-custody")
    assert check.returncode == 0 and check.stdout.startswith("OK"), check.stdout


def test_forwarded_for_only_with_trust_forwarded(serve, real_bundle):
    sha = sha256_file(real_bundle)
    for trust, expected in (((), None), (("--trust-forwarded",), "203.0.113.9")):
        server = serve(*trust)
        r = requests.put(f"{server.url}{P.API}/bundles/{real_bundle.name}", data=real_bundle.read_bytes(),
                         headers={**AUTH_A, P.CONTENT_HASH_HEADER: sha, "X-Forwarded-For": "203.0.113.9"},
                         timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["receipt"]["forwarded_for"] == expected
        assert _custody(server.store)[-1]["forwarded_for"] == expected


def test_deep_or_large_json_requests_are_400_and_413(shared_server):
    url = f"{shared_server.url}{P.API}/uploads"
    deep = requests.post(url, data=b"[" * 30_000 + b"]" * 30_000, headers=AUTH_A, timeout=30)
    assert deep.status_code == 400 and "nested deeper" in deep.json()["error"]
    big = requests.post(url, data=b'{"name": "' + b"a" * (100 << 10) + b'"}', headers=AUTH_A, timeout=30)
    assert big.status_code == 413
    # the server is still there for honest requests
    ok = _create(shared_server.url, "host-j_20260101T000000Z.zip", 10, "1" * 64)
    assert ok.status_code in (200, 201)


def test_per_token_quotas(serve):
    server = serve("--max-open-uploads", "2", "--token-quota", "3MiB")
    assert _create(server.url, "host-q_20260101T000000Z.zip", 1 << 20, "1" * 64).status_code == 201
    assert _create(server.url, "host-q_20260101T000001Z.zip", 1 << 20, "2" * 64).status_code == 201
    third = _create(server.url, "host-q_20260101T000002Z.zip", 1 << 20, "3" * 64)
    assert third.status_code == 429 and "uploads open" in third.json()["error"]
    # resuming an upload already open is not a new reservation
    assert _create(server.url, "host-q_20260101T000000Z.zip", 1 << 20, "1" * 64).status_code == 200

    other = serve("--token-quota", "3MiB")
    assert _create(other.url, "host-q_20260101T000000Z.zip", 2 << 20, "1" * 64).status_code == 201
    over = _create(other.url, "host-q_20260101T000001Z.zip", 2 << 20, "2" * 64)
    assert over.status_code == 429 and "quota" in over.json()["error"]


def test_abandoned_reservations_expire_while_the_server_runs(serve):
    server = serve("--staging-ttl", "2s", "--max-open-uploads", "1")
    created = _create(server.url, "host-e_20260101T000000Z.zip", 4096, "1" * 64)
    assert created.status_code == 201
    uid = created.json()["id"]
    for _ in range(120):                        # housekeeping runs every half TTL or so
        if requests.get(f"{server.url}{P.API}/uploads/{uid}", headers=AUTH_A, timeout=30).status_code == 404:
            break
        time.sleep(0.25)
    else:
        raise AssertionError("the abandoned upload was never expired")
    assert _create(server.url, "host-e_20260101T000001Z.zip", 4096, "2" * 64).status_code == 201


def test_unfinished_headers_are_cut_off(serve):
    server = serve("--header-timeout", "2s")
    s = _raw(server.url)
    s.sendall(b"POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ")
    assert _closed_by_server(s)
    s.close()


def test_a_stalled_chunk_does_not_hold_its_lock(serve):
    server = serve("--body-timeout", "2s")
    data = bytes(range(256)) * 16                           # one 4 KiB chunk
    sha = hashlib.sha256(data).hexdigest()
    uid = _create(server.url, "host-s_20260101T000000Z.zip", len(data), sha).json()["id"]
    path = f"{P.API}/uploads/{uid}/chunks/0"
    stalled = _raw(server.url)
    stalled.sendall(f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n"
                    f"{P.CHUNK_HASH_HEADER}: {sha}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data[:100])
    time.sleep(0.5)                                         # the stalled request holds the chunk's lock
    honest = requests.put(f"{server.url}{path}", data=data, timeout=30,
                          headers={**AUTH_A, P.CHUNK_HASH_HEADER: sha})
    assert honest.status_code == 200, honest.text
    assert b" 408 " in stalled.recv(4096).split(b"\r\n", 1)[0]
    stalled.close()


def test_no_write_route_fills_the_store(serve, real_bundle):
    server = serve("--min-free", "1000000GiB", "--max-bundle-size", "2000000GiB")
    sha = sha256_file(real_bundle)
    created = _create(server.url, real_bundle.name, real_bundle.stat().st_size, sha)
    assert created.status_code == 507
    whole = requests.put(f"{server.url}{P.API}/bundles/{real_bundle.name}", data=real_bundle.read_bytes(),
                         headers={**AUTH_A, P.CONTENT_HASH_HEADER: sha}, timeout=60)
    assert whole.status_code == 507 and "free space" in whole.json()["error"]
    # a declared 50 TB body is refused from its headers, before any byte is sent
    s = _raw(server.url)
    s.sendall(f"PUT {P.API}/bundles/{real_bundle.name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n"
              f"{P.CONTENT_HASH_HEADER}: {sha}\r\nContent-Length: {50 << 40}\r\n\r\n".encode())
    assert b" 507 " in s.recv(4096).split(b"\r\n", 1)[0]
    s.close()
    assert not list((server.store / ".staging").iterdir())


def test_two_hundred_slow_clients_and_one_real_upload(serve, real_bundle):
    """200 connections that never finish (partial headers trickled, chunk bodies stalled, silent
    sockets) while ``triage upload`` sends a real bundle: it is stored, and the server still answers."""
    server = serve("--header-timeout", "4s", "--body-timeout", "4s")
    data = b"z" * 4096
    sha = hashlib.sha256(data).hexdigest()
    uid = _create(server.url, "host-l_20260101T000000Z.zip", len(data), sha).json()["id"]
    hostile: list[socket.socket] = []
    for i in range(200):
        s = _raw(server.url)
        s.setblocking(False)
        kind = i % 3
        if kind == 0:    # slowloris: headers a few bytes at a time
            s.send(b"GET /v1/health HTTP/1.1\r\nX-a: ")
        elif kind == 1 and i < 15:  # a chunk body that stalls after 10 bytes (holding the chunk's lock)
            s.send(f"PUT {P.API}/uploads/{uid}/chunks/0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n"
                   f"{P.CHUNK_HASH_HEADER}: {sha}\r\nContent-Length: 4096\r\n\r\n".encode() + data[:10])
        elif kind == 1:  # a whole-file body that stalls after 10 bytes
            s.send(f"PUT {P.API}/bundles/host-l{i}_20260101T000000Z.zip HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {TOKEN_A}\r\n{P.CONTENT_HASH_HEADER}: {sha}\r\n"
                   "Content-Length: 4096\r\n\r\n".encode() + data[:10])
        hostile.append(s)                  # kind 2: connected, silent
    proc = triage_popen("upload", real_bundle, "--to", server.url, "--token", TOKEN_A, "--retries", "6")
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        for s in hostile[::3]:
            try:
                s.send(b"a")               # keep trickling header bytes
            except OSError:
                pass
        time.sleep(0.5)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert (server.store / "a" / real_bundle.name).is_file()
    assert requests.get(f"{server.url}{P.API}/health", timeout=30).status_code == 200
    still_open = set(hostile)              # every stalled connection is cut (header or body timeout)
    give_up = time.monotonic() + 60
    while still_open and time.monotonic() < give_up:
        readable, _, _ = select.select(list(still_open), [], [], 1.0)
        for s in readable:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                still_open.discard(s)
    for s in hostile:
        s.close()
    assert not still_open, f"{len(still_open)} of {len(hostile)} stalled connections still open"


def test_manifest_bomb_upload_is_rejected_in_bounded_memory(serve, real_bundle, tmp_path):
    """The review's 6 MB bundle whose manifest inflates to 6 GiB, sent to the server: a 422 naming the
    limit, and the server's peak RSS stays small (it used to read the manifest whole, then die)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hostile"))
    import craft

    members = craft.replace(craft.members_of(real_bundle), "meta/manifest.jsonl",
                            craft.bomb("meta/manifest.jsonl", 6 << 30))
    bomb = craft.write_zip(tmp_path / "host-bomb_20260101T000000Z.zip", members)
    server = serve()
    r = requests.put(f"{server.url}{P.API}/bundles/{bomb.name}", data=bomb.read_bytes(), timeout=300,
                     headers={**AUTH_A, P.CONTENT_HASH_HEADER: sha256_file(bomb)})
    assert r.status_code == 422, r.text[:2000]
    assert any("manifest.jsonl is 6.0 GiB, above the" in p for p in r.json()["verification"]["problems"])
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    peak_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    assert peak_kib < 200 * 1024, status
    assert requests.get(f"{server.url}{P.API}/health", timeout=30).status_code == 200
