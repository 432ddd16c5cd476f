"""ShellBags (UsrClass.dat BagMRU) against regipy's usrclass_shellbag_plugin and truth.json, entry for entry.

Deliberate differences (asserted below):
- regipy aborts the whole hive when libfwsi rejects one item (the Acronis TIB item of
  ez-usrclass-acronis: truth.json's reference_parser_error); we report that value as an Issue and keep
  every other folder.
- Folder names for shell-folder GUIDs come from our own table: 'Quick access' where regipy's says
  'Home Folder' for {679f85cb-...}; a GUID we do not name stays '{guid}'. Users-property-view items
  (Vista+ 'Desktop Background' style entries) are named from a property store regipy decodes with
  libfwps; we show '<property view>' (libfwps is not a dependency).
- Shell item file times are kept as UTC datetimes (regipy returns them naive).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from regipy.constants import KNOWN_GUIDS
from regipy.plugins.usrclass.shellbags_usrclass import ShellBagUsrclassPlugin
from regipy.registry import RegistryHive

from triage.model import Issue
from triage.parsers.base import input_from_file
from triage.parsers.registry.parser import RegistryParser
from triage.parsers.registry.shellbags import ShellBag, _mru_positions

CORPUS = (Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus").resolve()
HIVES = ["registry/plaso-usrclass/UsrClass.dat", "registry/ez-usrclass-acronis/UsrClass.dat",
         "registry/goldpaper-win10-usrclass/UsrClass.dat", "registry/goldpaper-win11-usrclass/UsrClass.dat"]
REL = "Users/cfuser/AppData/Local/Microsoft/Windows/UsrClass.dat"


def _parse(rel: str, *, replay: bool) -> list:
    path = CORPUS / rel
    logs = tuple(sorted(p for p in path.parent.iterdir() if p.name.lower().startswith(path.name.lower() + ".log")))
    item = input_from_file(path, REL, companions=logs)
    item.options = {"replay_logs": replay}
    return list(RegistryParser().parse(item))


def _bags(records) -> list[ShellBag]:
    return [r for r in records if isinstance(r, ShellBag)]


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((CORPUS / "truth.json").read_text())["files"]


def _same_segment(ours: ShellBag, theirs: str) -> bool:
    if ours.segment == theirs:
        return True
    if ours.guid and KNOWN_GUIDS.get(ours.guid) == theirs:  # both name the same shell folder
        return True
    if ours.segment.startswith("{") or ours.segment == "<property view>":  # not named here
        return True
    return ours.item_type == "control_panel" and ours.guid is not None and theirs == KNOWN_GUIDS.get(ours.guid)


@pytest.mark.parametrize("rel", HIVES)
def test_shellbags_match_regipy_entry_for_entry(rel, truth):
    ours = _bags(_parse(rel, replay=False))
    facts = truth[rel]
    if "reference_parser_error" in facts:  # regipy aborted: we keep the rest and say which value we lost
        recs = _parse(rel, replay=False)
        assert len(ours) > 20
        assert any(isinstance(i, Issue) and "ShellBag item not decodable" in i.message for i in recs)
        return
    assert len(ours) == facts["shellbag_entry_count"]
    sample = facts["sample_paths"]
    assert len(sample) == min(10, len(ours))
    plugin = ShellBagUsrclassPlugin(RegistryHive(str(CORPUS / rel)), as_json=True)  # needs libfwps (dev extra)
    plugin.run()
    ref = plugin.entries
    assert len(ref) == len(ours)
    for mine, theirs in zip(ours, ref, strict=True):
        assert _same_segment(mine, theirs["value"]), (mine.path, theirs["path"])
        assert mine.value_name == theirs["value_name"]
        assert mine.position == theirs["mru_order_location"]
        t = theirs["modification_time"]
        if mine.item_type == "directory":
            assert mine.modified is not None and mine.modified.replace(tzinfo=None).isoformat() == t
    for mine, path in zip(ours, sample, strict=False):
        if all(not s.startswith("{") and s != "<property view>" for s in mine.path.split("\\")):
            assert mine.path == path or mine.path.replace("Quick access", "Home Folder") == path


def test_dirty_hive_gains_shellbags_after_log_replay(truth):
    rel = "registry/goldpaper-win10-usrclass/UsrClass.dat"
    before, after = _bags(_parse(rel, replay=False)), _bags(_parse(rel, replay=True))
    assert len(before) == truth[rel]["shellbag_entry_count"] == 15
    assert len(after) == truth[rel]["after_log_replay"]["shellbag_entry_count"] == 17


def test_shellbag_records_carry_times_and_provenance():
    bags = _bags(_parse("registry/goldpaper-win10-usrclass/UsrClass.dat", replay=False))
    users = [b for b in bags if b.path.endswith("\\Users")]
    assert users and users[0].item_type == "directory" and users[0].modified.tzinfo is not None
    assert all(b.user == "cfuser" and b.source.locator.startswith("HKU\\cfuser_Classes\\Local Settings") for b in bags)
    assert all(b.key_last_write for b in bags)
    descs = {d for b in bags for _t, d in b.times()}
    assert "ShellBag newest folder of this node opened (key last write)" in descs
    assert any(b.file_reference for b in bags)


def test_mru_positions_and_hostile_item_bytes():
    assert _mru_positions(bytes.fromhex("01000000" "00000000" "ffffffff")) == {1: 0, 0: 1}
    assert _mru_positions(None) == {}


def test_shellbags_summary_section_validates_and_renders():
    from triage.analyze.state import AnalysisData
    from triage.analyze.summary import build_summary, validate
    from triage.report.html import render

    recs = [r for r in _parse("registry/goldpaper-win10-usrclass/UsrClass.dat", replay=True) if not isinstance(r, Issue)]
    s = build_summary(AnalysisData(bundle_path=Path("x.zip"), records=recs, hostname="H", verified=True))
    validate(s)
    sec = s["artifacts"]["shellbags"]
    assert sec["total"] == 17 and sec["entries"][0]["path"] == "Maps"
    assert '<table id="t-art-shellbags">' in render(s)


NTUSER_HIVES = ["registry/plaso-xp-joe/NTUSER.DAT", "registry/plaso-win7-nfury/NTUSER.DAT",
                "registry/notatin-patrick/NTUSER.DAT", "registry/win10-wsl-user/NTUSER.DAT"]


@pytest.mark.parametrize("rel", NTUSER_HIVES)
def test_ntuser_shellbags_match_regipy(rel):
    """NTUSER.DAT Software\\Microsoft\\Windows\\Shell\\BagMRU against regipy's ntuser_shellbag_plugin (which
    reads that key only; XP's ShellNoRoam\\BagMRU is ours alone)."""
    from regipy.plugins.ntuser.shellbags_ntuser import ShellBagNtuserPlugin

    item = input_from_file(CORPUS / rel, "Users/u/NTUSER.DAT")
    item.options = {"replay_logs": False}
    ours = [b for b in _bags(RegistryParser().parse(item)) if "\\Windows\\Shell\\BagMRU" in b.bag_key]
    plugin = ShellBagNtuserPlugin(RegistryHive(str(CORPUS / rel)), as_json=True)
    plugin.run()
    assert len(plugin.entries) == len(ours)
    for mine, theirs in zip(ours, plugin.entries, strict=True):
        assert _same_segment(mine, theirs["value"]), (mine.path, theirs["path"])
        assert mine.position == theirs["mru_order_location"]
