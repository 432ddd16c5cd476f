#!/usr/bin/env python3
"""Hostile input, measured against an honest baseline in the same run.

    python3 bench/hostile.py [--upload-size 100MB] [--clients 200] [--workdir DIR]

1. ``verify`` in a fresh interpreter (peak RSS, wall time): an honest bundle (``triage collect`` of a
   make-host-tree host) against the same bundle with its manifest replaced by a 6 GiB one-line bomb
   (a few MB on disk), by a 300 MiB line (under the manifest limit, over the line limit) and by
   500,000 small valid lines naming members that do not exist (over the entry cap).
2. ``triage upload`` of an encrypted bundle to ``triage serve`` on 127.0.0.1: alone, then while N
   clients hold connections open (partial headers trickled, bodies stalled, silent sockets).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "hostile"))

import craft  # noqa: E402

from triage.bundle.sidecar import write_sidecar  # noqa: E402
from triage.ship import encrypt, keys  # noqa: E402
from triage.units import parse_size  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
MEASURE = """
import json, sys, time
t = time.perf_counter()
from triage.bundle.verify import verify_bundle
r = verify_bundle(sys.argv[1])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"rss_mb": hwm / 1024,
                  "seconds": time.perf_counter() - t, "ok": r.ok, "problems": len(r.problems)}))
"""


def verify_measured(bundle: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", MEASURE, str(bundle)], cwd=REPO, env=ENV, capture_output=True,
                       text=True, check=True)
    return json.loads(r.stdout)


def honest_bundle(work: Path) -> Path:
    hosts = work / "hosts"
    subprocess.run([sys.executable, str(REPO.parent / "shared" / "tools" / "make-host-tree"), "--out", str(hosts),
                    "--quiet", "--hosts=1", "--seed=0", "--filler-mb=1"], check=True)
    out = work / "bundle"
    subprocess.run([sys.executable, "-m", "triage", "collect", "--target", str(hosts / "host-000"), "--output",
                    str(out), "--quiet"], cwd=REPO, env=ENV, check=True)
    return next(out.glob("*.zip"))


def start_server(store: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "triage", "serve", "--store", str(store), "--port", "0",
                             "--token", f"bench:{TOKEN}", "--quiet", "--header-timeout", "10s",
                             "--body-timeout", "10s"], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"listening on (\S+)", proc.stdout.readline())
    if not m:
        proc.kill()
        raise SystemExit("server did not start")
    return proc, m.group(1)


def encrypted(work: Path, size: int) -> Path:
    _, pub = keys.generate_key_pair()
    path = work / encrypt.encrypted_name()
    block = os.urandom(1 << 20)
    with open(path, "xb") as fh:
        w = encrypt.EncryptingWriter(fh, [pub], "bench-host_20260101T000000Z.zip")
        left = size
        while left > 0:
            w.write(block[:min(left, len(block))])
            left -= len(block)
        w.close()
    write_sidecar(path, w.sha256)
    return path


def stalled_clients(url: str, n: int) -> list[socket.socket]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    out = []
    for i in range(n):
        s = socket.create_connection((host, int(port)))
        s.setblocking(False)
        if i % 3 == 0:
            s.send(b"GET /v1/health HTTP/1.1\r\nX-a: ")
        elif i % 3 == 1:
            s.send(f"PUT /v1/bundles/h{i}_20260101T000000Z.zip HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}"
                   f"\r\nX-Content-SHA256: {'0' * 64}\r\nContent-Length: 4096\r\n\r\n".encode() + b"x" * 10)
        out.append(s)
    return out


def timed_upload(url: str, bundle: Path, trickle: list[socket.socket]) -> float:
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "triage", "upload", str(bundle), "--to", url, "--token", TOKEN,
                             "--no-progress"], cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while proc.poll() is None:
        for s in trickle[::3]:
            try:
                s.send(b"a")
            except OSError:
                pass
        time.sleep(0.5)
    if proc.returncode != 0:
        raise SystemExit(f"upload failed: {proc.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upload-size", default="100MB")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-", dir=args.workdir))
    try:
        honest = honest_bundle(work)
        members = craft.members_of(honest)
        bomb = craft.write_zip(work / "bomb.zip", craft.replace(members, "meta/manifest.jsonl",
                                                                craft.bomb("meta/manifest.jsonl", 6 << 30)))
        line = craft.write_zip(work / "line.zip", craft.replace(members, "meta/manifest.jsonl",
                                                                craft.bomb("meta/manifest.jsonl", 300 << 20)))
        many = b"".join(json.dumps({"path": f"C:\\f{i}", "volume": "C", "bundle_path": f"files/C/f{i}",
                                    "artifact": "a", "priority": 1, "outcome": "collected", "size": 1,
                                    "sha256": "0" * 64}).encode() + b"\n" for i in range(500_000))
        lines = craft.write_zip(work / "many.zip", craft.replace(members, "meta/manifest.jsonl",
                                                                 craft.deflated("meta/manifest.jsonl", many)))
        base = verify_measured(honest)
        print(f"verify honest bundle ({honest.stat().st_size / 1e6:.1f} MB): {base['rss_mb']:.0f} MB peak RSS, "
              f"{base['seconds']:.2f} s, ok={base['ok']}")
        for label, path in (("6 GiB manifest bomb", bomb), ("300 MiB manifest line", line),
                            ("500,000 small manifest lines", lines)):
            m = verify_measured(path)
            print(f"verify {label} ({path.stat().st_size / 1e6:.1f} MB on disk): {m['rss_mb']:.0f} MB peak RSS "
                  f"({m['rss_mb'] / base['rss_mb']:.2f}x honest), {m['seconds']:.2f} s "
                  f"({m['seconds'] / base['seconds']:.2f}x), {m['problems']} problem(s)")

        size = parse_size(args.upload_size)
        bundle = encrypted(work, size)
        proc, url = start_server(work / "store")
        try:
            alone = timed_upload(url, bundle, [])
            shutil.rmtree(work / "store" / "bench")
            (work / "store" / "custody.jsonl").unlink()
            clients = stalled_clients(url, args.clients)
            crowded = timed_upload(url, bundle, clients)
            for s in clients:
                s.close()
        finally:
            proc.terminate()
            proc.wait(10)
        print(f"upload {size / 1e6:.0f} MB alone: {alone:.2f} s; with {args.clients} stalled clients: {crowded:.2f} s "
              f"({crowded / alone:.2f}x)")
        print(f"load average: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
