"""Sysmon-only fields in process_creation rules mapped to Security 4688 are unknown there, not absent:
a filter that cannot be checked does not let a record through (SQL's three-valued logic, as the
pySigma SQLite backend answers), while a selection's other branches still match."""

from __future__ import annotations

import pytest

from triage.sigma.compile import unknowable
from triage.sigma.engine import KNOWN_4688


def _f(field, op, arg):
    return ("f", field, op, arg, False)


SACRIFICIAL = ("and", (_f("newprocessname", "fref", ("parentprocessname", False, False)),
                       ("not", ("or", (_f("newprocessname", "sw", "c:\\program files\\"),
                                       _f("originalfilename", "eq", "smss.exe"), _f("product", "eq", "avira"))))))


@pytest.mark.parametrize("tree, expected", [
    # a filter on OriginalFileName/Product cannot be checked: the rule cannot be true on 4688
    (SACRIFICIAL, ("false",)),
    # a selection with a Sysmon-only alternative keeps its other branch
    (("or", (_f("newprocessname", "ew", "\\whoami.exe"), _f("originalfilename", "eq", "whoami.exe"))),
     _f("newprocessname", "ew", "\\whoami.exe")),
    # null and exists have known answers for a field that is never there
    (("not", _f("originalfilename", "null", None)), ("false",)),
    (("and", (_f("newprocessname", "ew", "x"), ("not", _f("hashes", "exists", True)))), _f("newprocessname", "ew", "x")),
    # a field reference to a Sysmon-only field is unknown too
    (("not", _f("commandline", "fref", ("parentcommandline", False, False))), ("false",)),
    # double negation: unknown stays unknown (never true on its account)
    (("not", ("not", _f("description", "ct", "x"))), ("false",)),
    # nothing Sysmon-only: unchanged
    (("and", (_f("commandline", "ct", "-enc"), ("not", _f("parentprocessname", "ew", "\\explorer.exe")))), None),
])
def test_unknowable_fields_follow_three_valued_logic(tree, expected):
    assert unknowable(tree, KNOWN_4688) == (tree if expected is None else expected)


def test_smss_starting_smss_is_not_an_alarm_on_4688(sigmahq):
    """smss.exe starts a copy of itself per session at boot. The sacrificial-process rule's filter
    excludes it by OriginalFileName, which 4688 does not log: triage used to fire the rule on every
    boot of a host without Sysmon (190 records on the bench host); the peer engines do not."""
    _, eng = sigmahq
    smss = "C:\\Windows\\System32\\smss.exe"
    record = {"Channel": "Security", "EventID": "4688", "Provider_Name": "Microsoft-Windows-Security-Auditing",
              "NewProcessName": smss, "ParentProcessName": smss, "CommandLine": "\\SystemRoot\\System32\\smss.exe 000000b0 00000080",
              "SubjectUserName": "SYSTEM", "MandatoryLabel": "S-1-16-16384", "TargetUserName": "-"}
    titles = {r.title for r in eng.match_fields(record)}
    assert "Potential Executable Run Itself As Sacrificial Process" not in titles
    # the same process start logged by Sysmon, with its original file name: excluded by the filter
    sysmon = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": "1", "Image": smss, "ParentImage": smss,
              "OriginalFileName": "smss.exe", "Product": "Microsoft Windows Operating System",
              "CommandLine": record["CommandLine"]}
    assert "Potential Executable Run Itself As Sacrificial Process" not in {r.title for r in eng.match_fields(sysmon)}
    # and a binary that runs itself under another original name is still caught by Sysmon's record
    odd = {**sysmon, "Image": "C:\\Users\\Public\\upd.exe", "ParentImage": "C:\\Users\\Public\\upd.exe",
           "OriginalFileName": "loader.exe", "Product": "-"}
    assert "Potential Executable Run Itself As Sacrificial Process" in {r.title for r in eng.match_fields(odd)}


def test_4688_rules_with_a_checkable_selection_still_fire(sigmahq):
    """The three-valued logic takes away only what 4688 cannot tell: a whoami run is still found."""
    _, eng = sigmahq
    record = {"Channel": "Security", "EventID": "4688", "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
              "ParentProcessName": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "whoami /priv",
              "SubjectUserName": "bob", "TargetUserName": "-", "MandatoryLabel": "S-1-16-12288"}
    titles = {r.title for r in eng.match_fields(record)}
    assert any("whoami" in t.lower() for t in titles), titles
