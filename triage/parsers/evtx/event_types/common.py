"""Building blocks of the per-channel event tables: one ``typed()`` call per (provider, event id).

Each family module (security, system, sysmon, defender, tasks, remote) holds a table
``SPECS: {(provider lower-case, event id): Spec}`` and the meaning of its categories' times
``WHEN: {category: timestamp_desc}``; the package merges them. The Spec type and the value
cleaning come from :mod:`triage.parsers.evtx.events`, so the parser's hot path treats a new
event exactly as an old one (looked up once per distinct System header, typed only when listed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from triage.parsers.evtx.events import Spec, account, sid_name, split_hashes
from triage.parsers.evtx.template import template

Fields = dict[str, str | tuple[str, ...]]
Extra = Callable[[dict[str, Any], dict[str, Any]], None]

def typed(category: str, text: str, fields: Fields, ints: tuple[str, ...] = (),
          extra: Extra | None = None) -> Spec:
    """A Spec whose message is the template ``text`` (see triage/parsers/evtx/template.py)."""
    return Spec(category, template(text), fields, ints, extra)


def chain(*steps: Extra) -> Extra:
    """Several extra() steps in order."""
    def run(data: dict[str, Any], f: dict[str, Any]) -> None:
        for step in steps:
            step(data, f)
    return run


def subject(data: dict[str, Any], f: dict[str, Any]) -> None:
    """f['by'] = DOMAIN\\user of the subject, else the well-known name of its SID, else the SID."""
    f["by"] = account(f.get("subject_domain"), f.get("subject_user")) or sid_name(f.get("subject_sid"))


def target(data: dict[str, Any], f: dict[str, Any]) -> None:
    """f['account'] = DOMAIN\\user of the target."""
    f["account"] = account(f.get("target_domain"), f.get("target_user"))


def hashes(name: str = "hashes") -> Extra:
    """Sysmon 'SHA1=..,MD5=..' text of field ``name`` -> dict."""
    def run(data: dict[str, Any], f: dict[str, Any]) -> None:
        f[name] = split_hashes(f.get(name))
    return run


def lines(name: str) -> Extra:
    """A multi-line field (4672's PrivilegeList) -> list of its non-empty lines."""
    def run(data: dict[str, Any], f: dict[str, Any]) -> None:
        v = f.get(name)
        if isinstance(v, str):
            f[name] = [x.strip() for x in v.splitlines() if x.strip()]
    return run


def const(**values: Any) -> Extra:
    """Fixed fields (e.g. action='deleted') for events that share a template."""
    def run(data: dict[str, Any], f: dict[str, Any]) -> None:
        f.update(values)
    return run


SUBJECT: Fields = {"subject_user": "SubjectUserName", "subject_domain": "SubjectDomainName",
                   "subject_sid": "SubjectUserSid", "logon_id": "SubjectLogonId"}
