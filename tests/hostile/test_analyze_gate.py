"""Analyze checks a member's magic number and declared size before copying it out: a 4 MB bundle
holding a 1.5 GiB "hive" (and a 64 MiB "prefetch" file of zeros) costs neither the temp disk nor
the time to write them. Measured in a child process by the bytes it wrote (/proc/self/io)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import craft

from triage.bundle import MANIFEST_NAME

REPO = Path(__file__).resolve().parents[2]

_RUN = """
import json, sys
from triage.analyze.host import analyze_bundle
res = analyze_bundle(sys.argv[1], sys.argv[2], force=True)
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
issues = [i["message"] for i in res.summary.get("issues", [])]
print(json.dumps({"wchar": int(io["wchar"]), "issues": issues}))
"""


def _entry(bundle_path: str, original: str, m: craft.Member, artifact: str, seq: int) -> bytes:
    return json.dumps({"path": original, "volume": "C", "bundle_path": bundle_path, "artifact": artifact,
                       "priority": 1, "outcome": "collected", "size": m.size, "sha256": m.sha256,
                       "seq": seq}).encode() + b"\n"


def test_oversized_hive_and_wrong_magic_are_refused_before_any_copy(honest_bundle, tmp_path):
    hive_name = "files/C/Users/evil/NTUSER.DAT"
    pf_name = "files/C/Windows/Prefetch/EVIL.EXE-0000AAAA.pf"
    hive = craft.bomb(hive_name, 3 << 29, byte=b"\0", head=b"regf", sha256=True)    # 1.5 GiB, honest hashes
    pf = craft.bomb(pf_name, 64 << 20, byte=b"\0", sha256=True)
    with zipfile.ZipFile(honest_bundle) as z:
        manifest = z.read(MANIFEST_NAME)
    manifest += _entry(hive_name, "C:\\Users\\evil\\NTUSER.DAT", hive, "registry_user", 90001)
    manifest += _entry(pf_name, "C:\\Windows\\Prefetch\\EVIL.EXE-0000AAAA.pf", pf, "prefetch", 90002)
    members = craft.replace(craft.members_of(honest_bundle), MANIFEST_NAME, craft.deflated(MANIFEST_NAME, manifest))
    bundle = craft.write_zip(tmp_path / "gate.zip", members + [hive, pf])
    assert bundle.stat().st_size < 16 << 20

    r = subprocess.run([sys.executable, "-c", _RUN, str(bundle), str(tmp_path / "out")], cwd=REPO,
                       capture_output=True, text=True, timeout=900,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert any(m.startswith(f"registry: {3 << 29} bytes (declared), above this parser's") for m in out["issues"]), \
        out["issues"]
    assert any(m.startswith("prefetch: file does not start with the expected signature") for m in out["issues"])
    assert out["wchar"] < 256 << 20, out["wchar"]          # outputs only: no 1.5 GiB or 64 MiB copy
