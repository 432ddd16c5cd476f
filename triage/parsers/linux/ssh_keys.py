"""~/.ssh/authorized_keys(2) -> one record per key: who can log in as whom, with which restrictions.

Format (sshd(8) AUTHORIZED_KEYS FILE FORMAT): [options] keytype base64-key [comment]. Options are
comma-separated, values may be double-quoted (with \\" inside), e.g. command="...",from="10.0.0.0/8".
A forced ``command=`` runs on every login with that key: a backdoor's favourite. The fingerprint is
OpenSSH's SHA256 form (base64 of the SHA-256 of the key blob, no padding), comparable with
``ssh-keygen -lf`` and sshd's "Accepted publickey ... SHA256:..." log lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from triage.model import ArtifactRecord, Issue, Record
from triage.parsers.base import ParseInput, Parser
from triage.parsers.linux.text import LineStats, file_modified, lines, stat_issues, volume_path
from triage.parsers.userpath import user_from_path

MAX_KEY_LINES = 10_000
_KEYTYPE = re.compile(r"^(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp\d+|sk-\S+@openssh\.com|"
                      r"\S+-cert-v01@openssh\.com)$")
_OPTION = re.compile(r'([A-Za-z0-9_-]+)(?:="((?:[^"\\]|\\.)*)")?(?:,|(?=\s)|$)')


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizedKey(ArtifactRecord):
    """One key line of an authorized_keys file."""

    record_type: ClassVar[str] = "linux/ssh/authorized_key"
    artifact: ClassVar[str] = "linux_authorized_keys"
    title: ClassVar[str] = "SSH authorized keys"
    description: ClassVar[str] = (
        "Keys that may log in to an account without its password; a forced command= runs on each login. "
        "The comment is free text chosen by whoever added the key.")
    columns: ClassVar[tuple[tuple[str, str], ...]] = (
        ("user", "Account"), ("key_type", "Type"), ("fingerprint", "Fingerprint"), ("comment", "Comment"),
        ("command", "Forced command"), ("options", "Options"), ("file_modified", "File modified (UTC)"))
    docs: ClassVar[dict[str, str]] = {
        "path": "the authorized_keys file", "user": "account the key logs in to (home directory owner)",
        "line": "line number", "key_type": "ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 ...",
        "fingerprint": "SHA256:... as ssh-keygen -l prints it (null when the key is not valid base64)",
        "comment": "the key's comment (free text)", "options": "the options as written, one per item",
        "command": "the command= option's value (forced command), unescaped",
        "file_modified": "the file's modification time from the manifest, UTC"}
    path: str
    user: str | None
    line: int
    key_type: str
    fingerprint: str | None
    comment: str
    options: tuple[str, ...]
    command: str | None
    file_modified: datetime | None

    def times(self) -> list[tuple[datetime, str]]:
        return [(self.file_modified, "authorized_keys modified")] if self.file_modified else []

    def activity_times(self) -> list[tuple[datetime, str]]:
        return []

    def message(self) -> str:
        return f"authorized key for {self.user}: {self.key_type} {self.fingerprint} {self.comment}"


def fingerprint(blob_b64: str) -> str | None:
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def split_line(line: str) -> tuple[tuple[str, ...], str, str, str] | None:
    """(options, key type, base64 key, comment) or None when the line is not a key."""
    fields = line.split(None, 2)
    if fields and _KEYTYPE.match(fields[0]):
        opts: tuple[str, ...] = ()
        rest = line
    else:
        opts_list, pos = [], 0
        while pos < len(line) and not line[pos].isspace():
            m = _OPTION.match(line, pos)
            if m is None or m.end() == pos:
                return None
            opts_list.append(m[0].rstrip(","))
            pos = m.end()
        opts, rest = tuple(opts_list), line[pos:].strip()
    f = rest.split(None, 2)
    if len(f) < 2 or not _KEYTYPE.match(f[0]):
        return None
    return opts, f[0], f[1], f[2] if len(f) > 2 else ""


class AuthorizedKeysParser(Parser):
    name = "linux_authorized_keys"
    patterns = ("*/.ssh/authorized_keys", "*/.ssh/authorized_keys2")

    def parse(self, item: ParseInput) -> Iterator[Record | Issue]:
        stats = LineStats()
        user, path, modified = user_from_path(item), volume_path(item), file_modified(item)
        for n, raw in lines(item, stats, max_lines=MAX_KEY_LINES, max_chars=32768):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = split_line(line)
            if parts is None:
                yield item.issue("not an authorized_keys entry", "warning", f"line {n}")
                continue
            opts, ktype, blob, comment = parts
            command = next((o[len('command="'):-1].replace('\\"', '"') for o in opts
                            if o.lower().startswith('command="')), None)
            fp = fingerprint(blob)
            if fp is None:
                yield item.issue("key is not valid base64", "warning", f"line {n}")
            yield AuthorizedKey(source=item.source(f"line {n}"), path=path, user=user, line=n, key_type=ktype,
                                fingerprint=fp, comment=comment, options=opts, command=command,
                                file_modified=modified)
        yield from stat_issues(item, stats, "authorized_keys")
