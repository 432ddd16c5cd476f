"""``triage recover`` of an interrupted bundle whose journal names members outside the bundle tree
(``../``, absolute, under meta/): those are refused and listed as lost; the new bundle verifies and
holds only safe names."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import craft

from triage.bundle import COLLECTION_NAME, MANIFEST_NAME
from triage.bundle.names import is_safe_member
from triage.bundle.verify import verify_bundle

REPO = Path(__file__).resolve().parents[2]
EVIL = ["files/C/../../../../tmp/evil.txt", "/etc/cron.d/evil", "meta/collection.json", "files\\C\\..\\x"]


def test_recover_refuses_unsafe_member_names(honest_bundle, tmp_path):
    members = [m for m in craft.members_of(honest_bundle) if m.name not in (MANIFEST_NAME, COLLECTION_NAME)]
    for i, name in enumerate(EVIL):
        data = f"payload {i}".encode()
        members.append(craft.deflated(name, data))
        entry = {"path": f"C:\\evil{i}.txt", "volume": "C", "bundle_path": name, "artifact": "x", "priority": 1,
                 "outcome": "collected", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                 "seq": 99000 + i}
        members.append(craft.deflated(f"meta/journal/{99000 + i:08d}.json", json.dumps(entry).encode()))
    src = craft.write_zip(tmp_path / "host-r_20260101T000000Z.zip", members, sidecar=False, central=False)

    r = subprocess.run([sys.executable, "-m", "triage", "recover", str(src), "--output", str(tmp_path / "out")],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 4, r.stderr[-3000:]  # partial: the unsafe members are lost
    (dest,) = (tmp_path / "out").glob("*.recovered.zip")
    with zipfile.ZipFile(dest) as z:
        names = z.namelist()
        record = json.loads(z.read(COLLECTION_NAME))
    assert all(is_safe_member(n) for n in names), [n for n in names if not is_safe_member(n)]
    assert not any("evil" in n for n in names)
    assert names.count(COLLECTION_NAME) == 1
    lost = {x["bundle_path"]: x["reason"] for x in record["recovery"]["files_lost"]}
    assert set(EVIL) <= set(lost), lost
    assert all(reason.startswith("unsafe member name") for reason in lost.values())
    assert record["recovery"]["files_recovered"] > 10
    report = verify_bundle(dest)
    assert report.ok, report.problems
