"""YARA scanning on the analyst's side.

The collector carries no detection content (nothing for endpoint antivirus to flag, and rules can
change after collection), so every rule runs here: over the raw bundle files and over the decoded
content the parsers produce. ``rules`` finds and compiles rule files, ``lint`` checks them for
missing meta and slow patterns, ``yara`` scans, ``command`` is ``triage rules``.
"""
