"""A YARA hit on volatile data names its process: the matched offset inside volatile/processes.json
is mapped to the process entry around it (pid, name, image)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from triage.bundle.writer import json_bytes
from triage.collect.volatile import processes
from triage.scan.yara_process import element_spans, process_at

MARKER = "triage-yara-process-marker"


@pytest.fixture(scope="module")
def snapshot() -> Iterator[bytes]:
    """This machine's real process list, serialised as the collector writes volatile/processes.json,
    taken while a real child process runs with a marker in its command line (so the YARA test has a
    known process to find, whatever command line started pytest)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", MARKER])
    try:
        yield json_bytes(processes())
    finally:
        child.kill()
        child.wait()


def test_offset_inside_an_entry_names_that_process(snapshot):
    marker = f'"pid": {os.getpid()},'.encode()
    offset = snapshot.find(marker)
    assert offset > 0
    proc = process_at(snapshot, offset + 3, "volatile/processes.json")
    assert proc is not None and proc["pid"] == os.getpid()
    assert proc["name"] and proc["locator"].startswith("element ")
    # the first entry, and the offset of its opening brace, belong to the first process
    first = element_spans(snapshot.decode())[0]
    assert process_at(snapshot, snapshot.index(b"{"), "m")["pid"] == first[2]["pid"]


def test_offsets_outside_entries_and_non_lists_name_nothing(snapshot):
    assert process_at(snapshot, 0, "m") is None                      # the '[' itself
    assert process_at(b'{"pid": 4, "name": "System"}', 3, "m") is None  # not a list
    assert process_at(b'[{"name": "no pid"}]', 3, "m") is None


def test_non_ascii_names_keep_offsets_in_bytes():
    data = json_bytes([{"pid": 1, "name": "\u00e9\u00e9\u00e9\u00e9.exe"}, {"pid": 2, "name": "b\u00fcro.exe"}])
    assert process_at(data, data.index("b\u00fcro".encode()), "m")["pid"] == 2


def test_truncated_list(snapshot):
    """A cut snapshot still names the processes before the cut; a hit in the broken tail is a
    ValueError, which attribute() turns into an unattributed hit."""
    cut = snapshot[: len(snapshot) // 2]
    assert process_at(cut, cut.index(b"{") + 2, "m") is not None
    with pytest.raises(ValueError):
        process_at(cut, len(cut) - 10, "m")


def test_real_yara_hit_on_the_process_list_names_the_process(snapshot, tmp_path):
    """YARA (the real scanner, a one-rule file) matches the marker child's command line in the
    snapshot: the hit's offset leads to that process."""
    import dataclasses
    import json

    from triage.model import Source
    from triage.scan.yara import YaraScanner

    rule = tmp_path / "marker.yar"
    rule.write_text('rule marker { strings: $a = "' + MARKER + '" condition: $a }')
    scanner = YaraScanner([rule], include_pack=False)
    hits = [h for h in scanner.scan_bytes(snapshot, Source(bundle_path="volatile/processes.json"))
            if getattr(h, "rule", None) == "marker"]
    assert hits and hits[0].strings
    proc = process_at(snapshot, hits[0].strings[0][1], "volatile/processes.json")
    assert proc is not None
    entry = next(p for p in json.loads(snapshot) if p["pid"] == proc["pid"])
    assert MARKER in " ".join(entry.get("cmdline") or [])
    assert dataclasses.replace(hits[0], process=proc).to_dict()["process"]["pid"] == proc["pid"]


def test_finding_reason_names_the_process(snapshot, tmp_path):
    """The finding built from that hit says which process matched (pid, name, image) in its reason
    and evidence, the way an analyst acts on it; a hit elsewhere names none."""
    import dataclasses
    import json

    from triage.model import Source
    from triage.scan.yara import YaraScanner
    from triage.scan.yara_findings import findings_from_hits

    rule = tmp_path / "marker.yar"
    rule.write_text('rule marker { strings: $a = "' + MARKER + '" condition: $a }')
    scanner = YaraScanner([rule], include_pack=False)
    hit = next(h for h in scanner.scan_bytes(snapshot, Source(bundle_path="volatile/processes.json"))
               if getattr(h, "rule", None) == "marker")
    proc = process_at(snapshot, hit.strings[0][1], "volatile/processes.json")
    entry = next(p for p in json.loads(snapshot) if p["pid"] == proc["pid"])
    (finding,) = findings_from_hits([dataclasses.replace(hit, process=proc)])
    assert f"in process {entry['pid']} {proc['name']}" in finding.reason
    assert finding.evidence[0]["process"]["pid"] == entry["pid"]
    (plain,) = findings_from_hits([hit])
    assert "in process" not in plain.reason and "process" not in plain.evidence[0]
