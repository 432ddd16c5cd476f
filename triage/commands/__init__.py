"""The sub-commands of ``triage``: one module each, thin over the library.

Why a package of its own: a command wires the library's layers together (the analyze command runs the
fleet's batch over the analyzer; verify dispatches encrypted bundles to the shipping layer), so it
sits above every library package; putting it inside one of them would make that package import its
peers and close an import cycle. Each module provides ``configure(parser)`` and ``run(args) -> int``;
:mod:`triage.cli` imports only the one that runs, so ``triage collect`` never pays for the analyzer.
"""

from __future__ import annotations


class UsageError(Exception):
    """Raised by a command for a command line it cannot act on; ``triage.cli.main`` prints it and
    exits USAGE."""
