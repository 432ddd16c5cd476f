"""PE parser against every file in the corpus pe/ folder and truth.json (an independent struct walk).

Deliberate difference: truth's ``pe_type`` (PE32 / PE32+) and ``subsystem`` have no field in PEInfo,
so they are not compared (machine amd64 <-> PE32+ holds for every file here and is checked).
The truncated copy yields a PEInfo from its intact headers plus a warning Issue, and its section
entropies are None (the section bytes are not in the file).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC
from pathlib import Path

import pefile
import pytest

from triage.model import Issue, PEInfo
from triage.parsers.base import input_from_file
from triage.parsers.pe import PEParser, plausible_compile_time
from triage.units import iso


@pytest.fixture(scope="session")
def parsed(corpus) -> dict[str, list]:
    parser = PEParser()
    return {p.relative_to(corpus).as_posix(): list(parser.parse(input_from_file(p, f"Windows/{p.name}")))
            for p in sorted((corpus / "pe").rglob("*")) if p.is_file()}


def test_every_pe_matches_truth(corpus, parsed, truth):
    expected = {k for k, v in truth.items() if v.get("format") == "pe"}
    assert set(parsed) == expected and len(parsed) == 8
    for rel, out in parsed.items():
        ref = truth[rel]
        (info,) = [o for o in out if isinstance(o, PEInfo)]
        data = (corpus / rel).read_bytes()
        assert (info.sha256, info.size) == (ref["sha256"], ref["size"]), rel
        assert (info.md5, info.sha1) == (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest())
        assert info.machine == ref["machine"], rel
        assert (ref["pe_type"] == "PE32+") == (info.machine == "amd64")
        assert info.is_dll == ref["is_dll"], rel
        assert [s["name"] for s in info.sections] == ref["section_names"], rel
        assert len(info.sections) == ref["number_of_sections"]
        assert iso(info.compile_time) == ref["timedatestamp"], rel
        assert info.compile_time is None or info.compile_time.tzinfo is UTC
        assert info.signed is False  # none of the corpus files carries an Authenticode signature
        assert info.path == str(corpus / rel)


def test_sections_entropy_and_imphash(corpus, parsed):
    for rel, out in parsed.items():
        (info,) = [o for o in out if isinstance(o, PEInfo)]
        if "truncated" in rel:
            assert all(s["entropy"] is None for s in info.sections)
            continue
        assert all(s["entropy"] is None or 0.0 <= s["entropy"] <= 8.0 for s in info.sections), rel
        # imphash from the import directory alone equals pefile's full parse
        full = pefile.PE(str(corpus / rel))
        assert info.imphash == (full.get_imphash() or None), rel
        full.close()
    (info,) = [o for o in parsed["pe/plaso/test_pe.exe"] if isinstance(o, PEInfo)]
    assert info.imphash and len(info.imphash) == 32
    assert [round(s["entropy"], 1) for s in info.sections] == [4.3, 3.4, 0.1]


def test_truncated_copy_gives_headers_and_a_warning(parsed):
    out = parsed["pe/truncated/test_pe.exe.truncated"]
    issues = [o for o in out if isinstance(o, Issue)]
    assert issues and issues[0].severity == "warning" and "beyond end of file" in issues[0].message


def test_zero_and_absurd_timestamps_are_none(parsed):
    (info,) = [o for o in parsed["pe/omerbenamram-evtx/wevt_template_minimal_pe.bin"] if isinstance(o, PEInfo)]
    assert info.compile_time is None
    assert plausible_compile_time(0) is None
    assert plausible_compile_time(0x10000) is None          # 1970
    assert plausible_compile_time(0xFFFFFFFF) is None       # 2106, a reproducible-build hash
    assert iso(plausible_compile_time(1429628036)) == "2015-04-21T14:53:56Z"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_not_pe_and_broken_headers_are_issues(corpus, tmp_path):
    good = (corpus / "pe/plaso/test_pe.exe").read_bytes()
    cases = {
        "empty.exe": b"",
        "text.exe": b"hello world",
        "mz_only.exe": b"MZ",
        "bad_lfanew.exe": good[:0x3C] + b"\xff\xff\xff\x7f" + good[0x40:],
        "no_pe_sig.exe": good[:0xC8] + b"XX\x00\x00" + good[0xCC:],  # e_lfanew = 0xC8
    }
    for name, data in cases.items():
        out = list(PEParser().parse(input_from_file(_write(tmp_path, name, data))))
        assert out and all(isinstance(o, Issue) for o in out), (name, out)
    # cut anywhere: never an exception
    for n in range(0, len(good), 97):
        list(PEParser().parse(input_from_file(_write(tmp_path, "cut.dll", good[:n]))))


def test_size_cap_reports_info(corpus):
    item = input_from_file(corpus / "pe/winevt-kb/wrc_test.dll", "Windows/System32/wrc_test.dll")
    item.options["max_pe_size"] = 4096
    (issue,) = list(PEParser().parse(item))
    assert issue.severity == "info" and "cap" in issue.message
    assert "c6b4984cf216e2e945446e1bb0dd67cca9616436534869186db078e2bca66a07" in issue.message


def test_patterns():
    for rel in ("Users/a/Downloads/x.EXE", "Windows/System32/drivers/a.sys", "a/b.cpl", "c.ocx", "d.scr"):
        assert PEParser.matches(rel), rel
    assert not PEParser.matches("Windows/Prefetch/CMD.EXE-4A81B364.pf")
    assert PEParser.signatures == ((0, b"MZ"),)


@pytest.mark.skipif(not (shutil.which("osslsigncode") and shutil.which("openssl")),
                    reason="needs osslsigncode and openssl (apt) to make an Authenticode signature")
def test_authenticode_signed_copy_is_flagged(corpus, tmp_path):
    """Sign a corpus DLL with a throw-away certificate: the security directory appears, nothing else moves."""
    key, cert, signed = tmp_path / "k.pem", tmp_path / "c.pem", tmp_path / "signed.dll"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=triage test"], check=True, capture_output=True)
    subprocess.run(["osslsigncode", "sign", "-certs", str(cert), "-key", str(key), "-in",
                    str(corpus / "pe/winevt-kb/wrc_test.dll"), "-out", str(signed)], check=True, capture_output=True)
    (info,) = list(PEParser().parse(input_from_file(signed, "Program Files/x/signed.dll")))
    (orig,) = [o for o in PEParser().parse(input_from_file(corpus / "pe/winevt-kb/wrc_test.dll"))]
    assert info.signed is True and orig.signed is False
    assert info.sha256 == hashlib.sha256(signed.read_bytes()).hexdigest() != orig.sha256
    assert (info.imphash, info.machine, info.is_dll, info.compile_time) == (
        orig.imphash, orig.machine, orig.is_dll, orig.compile_time)
