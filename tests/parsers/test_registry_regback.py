"""The DEFAULT hive, the RegBack parser and the regback_autostart_diff rule on their own: the live DEFAULT
hive's autostarts as the .DEFAULT user, a copy that is not a hive, the DEFAULT copy read as the .DEFAULT user, and the rule's three outcomes (same entry: nothing; live hive absent:
info; live hive present: medium, low for services). The whole path through collect/analyze is in
tests/analyze/test_artifact_gaps_host.py."""

from __future__ import annotations

from _hivex import merged_hive

from triage.analyze.findings import Context
from triage.analyze.findings_regback import rule_regback_autostart_diff
from triage.model import Autorun, Issue, Source
from triage.parsers.base import input_from_file
from triage.parsers.registry.regback import RegBackAutostart, RegBackParser

RB = "files/C/Windows/System32/config/RegBack/SOFTWARE"
LIVE = "files/C/Windows/System32/config/SOFTWARE"
RUN = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"


def test_a_copy_that_is_not_a_hive_is_a_warning(tmp_path):
    p = tmp_path / "SAM"
    p.write_bytes(b"MZ" + b"\x00" * 100)
    (issue,) = list(RegBackParser().parse(input_from_file(p, "Windows/System32/config/RegBack/SAM")))
    assert isinstance(issue, Issue) and issue.severity == "warning" and "not a registry hive" in issue.message


def test_default_copy_autostarts_are_backup_rows_of_the_default_user(corpus, tmp_path):
    hive = merged_hive(corpus / "registry/artemis-win10-default/NTUSER.DAT", tmp_path / "DEFAULT",
                       '[HKEY_USERS\\.DEFAULT\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]\n"X"="x.exe"\n',
                       "HKEY_USERS\\.DEFAULT")
    out = list(RegBackParser().parse(input_from_file(hive, "Windows/System32/config/RegBack/DEFAULT")))
    rows = [r for r in out if isinstance(r, RegBackAutostart)]
    assert ("DEFAULT", "X", "x.exe", ".DEFAULT") in [(r.hive, r.name, r.command, r.autorun_user) for r in rows]
    assert {r.autorun_user for r in rows} == {".DEFAULT"} and not any(isinstance(r, Autorun) for r in out)
    assert all(r.location.lower().startswith("hku\\.default\\software") for r in rows)


def _backup(name: str, command: str, category: str = "run") -> RegBackAutostart:
    return RegBackAutostart(source=Source(bundle_path=RB, locator=f"{RUN}\\{name}"), hive="SOFTWARE", category=category, location=RUN,
                            name=name, command=command)


def _live(name: str, command: str, category: str = "run") -> Autorun:
    return Autorun(source=Source(bundle_path=LIVE, locator=f"{RUN}\\{name}"), category=category, location=RUN, name=name, command=command)


def test_rule_outcomes():
    backups = [_backup("Same", "a.exe"), _backup("Case", "C:\\X\\b.exe "), _backup("Gone", "g.exe"), _backup("Svc", "old.sys", "service"),
               _backup("Changed", "c.exe")]
    live = [_live("Same", "a.exe"), _live("Case", "c:\\x\\B.EXE"), _live("Svc", "new.sys", "service"), _live("changed", "C2.exe")]
    found = {f.evidence[0]["name"]: f for f in rule_regback_autostart_diff(Context.build(backups + live, "h"))}
    assert {k: f.severity for k, f in found.items()} == {"Gone": "medium", "Svc": "low", "Changed": "medium"}
    assert found["Changed"].evidence[0]["live_commands"] == ["C2.exe"]
    assert found["Gone"].source.bundle_path == RB
    only_backups = list(rule_regback_autostart_diff(Context.build(backups, "h")))
    assert {f.severity for f in only_backups} == {"info"} and len(only_backups) == 5
    assert "was not available" in only_backups[0].reason


def test_patterns_split_live_default_from_regback_copies(tmp_path):
    from triage.parsers.registry.parser import RegistryParser

    assert RegistryParser.matches("Windows/System32/config/DEFAULT")
    for rel in ("Windows/System32/config/RegBack/SOFTWARE", "Windows/System32/config/RegBack/DEFAULT"):
        assert RegBackParser.matches(rel) and not RegistryParser.matches(rel), rel
    log = tmp_path / "SOFTWARE.LOG1"
    log.write_bytes(b"DIRT" * 64)
    assert list(RegBackParser().parse(input_from_file(log, "Windows/System32/config/RegBack/SOFTWARE.LOG1"))) == []


def test_live_default_hive_autostarts_belong_to_the_default_user(corpus, tmp_path):
    from triage.parsers.registry.parser import RegistryParser

    hive = merged_hive(corpus / "registry/artemis-win10-default/NTUSER.DAT", tmp_path / "DEFAULT",
                       '[HKEY_USERS\\.DEFAULT\\Software\\Microsoft\\Windows NT\\CurrentVersion\\Windows]\n'
                       '"Load"="C:\\\\ProgramData\\\\l.exe"\n', "HKEY_USERS\\.DEFAULT")
    out = list(RegistryParser().parse(input_from_file(hive, "Windows/System32/config/DEFAULT")))
    runs = [a for a in out if isinstance(a, Autorun)]
    assert runs and {a.user for a in runs} == {".DEFAULT"}
    load = [a for a in runs if a.name == "Load"]
    assert [(a.command, a.location.lower()) for a in load] == [
        ("C:\\ProgramData\\l.exe", "hku\\.default\\software\\microsoft\\windows nt\\currentversion\\windows")]
    assert not [i for i in out if isinstance(i, Issue) and i.severity != "info"]
