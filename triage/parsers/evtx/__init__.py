"""Windows event logs: the reader and parser (:mod:`.parser`), System-block decoding (:mod:`.system`),
PowerShell script-block reassembly (:mod:`.scripts`), chunk windows for parallel parsing
(:mod:`.windows`), the extraction tables (:mod:`.events`, :mod:`.fields`, :mod:`.wmi`), message
templates (:mod:`.template`) and one table per channel family (:mod:`.event_types`).

The parser drives the Sigma engine from its hot loop (every record is handed to it once), which is
why ``triage.sigma`` sits below the parsers in the layering."""
