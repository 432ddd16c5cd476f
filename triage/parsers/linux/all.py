"""Importing this module registers every Linux parser but the journal's (see __init__)."""

from triage.parsers.linux import (  # noqa: F401  (imports register the parsers)
    accounts,
    cron,
    live,
    login_hooks,
    packages,
    shell_commands,
    ssh_keys,
    syslog,
    systemd_units,
    utmp,
)
