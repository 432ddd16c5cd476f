"""Parsers for what the linux-triage profile collects: logs, login records, accounts, persistence
(cron, systemd, login hooks, authorized keys), package logs and the live snapshot.

One module per artifact, each with its typed record; ``all`` imports (registers) them, so importing a
helper such as ``text`` registers nothing. The journal reader lives in its own module
(``triage.parsers.linux.journal``, registered separately) because it needs libsystemd's Python
binding: a host without it still gets every other Linux parser.
"""
