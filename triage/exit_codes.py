"""Exit codes shared by every ``triage`` command (and the portable collector).

Why one table: responders script these commands (a collection from a login script, a verify in a
pipeline, an analyze over a share) and the script can only react to what the exit status says. Each
command maps its outcomes onto these five values and nothing else; the README's table is the
promise, and tests run the real commands against it.
"""

from __future__ import annotations

OK = 0
"""Everything asked for was done: a complete bundle, every bundle intact, every bundle analyzed."""

EVIDENCE = 1
"""The evidence has a problem: a bundle that fails verification, is not a bundle, cannot be written,
decrypted or recovered; nothing usable came out. Also a check that fails (rules, custody log)."""

USAGE = 2
"""The command line cannot be acted on: unknown option, bad value, an input that does not exist, an
output that cannot be created, a key that would be overwritten. Nothing was collected or changed."""

PARTIAL = 4
"""Done in part: a collection that skipped files for a budget or was interrupted (the bundle still
verifies), an analysis where some bundles could not be analyzed, a recovery that lost files."""

UPLOAD_FAILED = 5
"""The bundle is fine and kept locally, but the upload did not complete (re-run to resume)."""

INTERRUPTED = 130
"""Ctrl-C outside a collection (a collection finishes its bundle and exits PARTIAL instead)."""

MEANINGS: dict[int, str] = {
    OK: "ok",
    EVIDENCE: "evidence problem",
    USAGE: "usage error",
    PARTIAL: "partial",
    UPLOAD_FAILED: "upload failed",
    INTERRUPTED: "interrupted",
}
