"""`triage collect --encrypt-to`: the bundle is encrypted as it is written; the sidecar is the ciphertext's
hash; decrypting gives a plain bundle that verifies; no plaintext bundle ever touches the disk."""

from __future__ import annotations

import hashlib

from triage.bundle.verify import verify_bundle
from triage.cli import main
from triage.commands.verify import verify_path


def test_collect_encrypted_round_trip(make_hosts, tmp_path):
    host = make_hosts(hosts=1, seed=0, filler_mb=1) / "host-000"
    keys = tmp_path / "keys"
    keys.mkdir()
    assert main(["keygen", "--out", str(keys / "analyst")]) == 0
    out = tmp_path / "out"
    assert main(["collect", "--target", str(host), "--output", str(out), "--quiet",
                 "--encrypt-to", str(keys / "analyst.pub")]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 2 and files[0].endswith(".tbe") and files[1] == files[0] + ".sha256"
    assert not list(out.glob("*.zip")), "a plaintext bundle was written"
    tbe = out / files[0]
    assert "host-000" not in tbe.name  # file names hidden: the host name travels inside
    assert (out / files[1]).read_text().split()[0] == hashlib.sha256(tbe.read_bytes()).hexdigest()
    assert verify_path(tbe).ok
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["decrypt", "--key", str(keys / "analyst.key"), "--output", str(plain), str(tbe)]) == 0
    bundles = list(plain.glob("host-000_*.zip"))
    assert len(bundles) == 1
    report = verify_bundle(bundles[0])
    assert report.ok, report.problems
    assert report.checked > 10
