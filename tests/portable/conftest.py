"""Fixtures of the portable-collector tests: session builds (see _portable_build.py) and their figures."""

from _portable_build import FIGURES, linux_collector, windows_collector

__all__ = ["linux_collector", "windows_collector"]


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.write_sep("-", "portable collector figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
