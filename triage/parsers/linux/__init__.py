"""Parsers for what the linux-triage profile collects: logs, login records, accounts, persistence
(cron, systemd, login hooks, authorized keys), package logs and the live snapshot.

One module per artifact, each with its typed record. The journal reader lives in its own module
(``triage.parsers.linux.journal``, registered separately) because it needs libsystemd's Python
binding: a host without it still gets every other Linux parser.
"""

from triage.parsers.linux import (  # noqa: F401  (imports register the parsers)
    accounts,
    cron,
    live,
    login_hooks,
    packages,
    ssh_keys,
    syslog,
    systemd_units,
    utmp,
)
