"""Entry point of the portable collector executable (``scripts/build-collector``).

The frozen collector is triage's own command line with a smaller command table: only what a
responder runs on a suspect host (``collect``, ``verify``, ``recover``, ``profiles``). It reuses
:mod:`triage.cli` rather than copying it, so options, messages and exit codes are the same as the
installed ``triage``. The analyzer (parsers, YARA, fleet, report) and the intake server are not
reachable from here and are excluded from the build; :data:`FORBIDDEN_MODULES` lists them for the
build spec and for the tests that check the executable's import graph.
"""

from __future__ import annotations

from triage import cli

COLLECTOR_COMMAND_NAMES = ("collect", "verify", "recover", "profiles")
COLLECTOR_COMMANDS: dict[str, tuple[str, str]] = {name: cli.COMMANDS[name] for name in COLLECTOR_COMMAND_NAMES}

# Top-level packages and triage sub-packages that must never be in the collector: the analyzer's
# libraries, the analyzer itself and the server side of shipping.
# isal: the analyzer's faster inflate; the collector's own verify uses zlib (triage.bundle.inflate).
FORBIDDEN_MODULES = (
    "yara", "pefile", "Registry", "regipy", "evtx", "Evtx", "pyscca", "pyfwnt", "jsonschema",
    "dask", "distributed", "aiohttp", "tkinter", "isal",
    "triage.analyze", "triage.parsers", "triage.scan", "triage.fleet", "triage.report",
    "triage.ship.server", "triage.commands.serve", "triage.commands.keygen",
    "triage.commands.decrypt", "triage.commands.upload", "triage.commands.analyze", "triage.commands.fleet",
    "triage.commands.rules",
)


def is_forbidden(module_name: str) -> bool:
    """True when ``module_name`` is one of :data:`FORBIDDEN_MODULES` or inside one."""
    return any(module_name == f or module_name.startswith(f + ".") for f in FORBIDDEN_MODULES)


def main(argv: list[str] | None = None) -> int:
    """Run triage's CLI with the collector's command table only.

    ``triage.cli`` reads its module-level ``COMMANDS`` table, so the table is swapped for the
    duration of the call (and restored, so that importing this module in a test changes nothing).
    """
    saved = cli.COMMANDS
    cli.COMMANDS = COLLECTOR_COMMANDS
    try:
        return cli.main(argv)
    finally:
        cli.COMMANDS = saved


if __name__ == "__main__":
    raise SystemExit(main())
