"""The analyzer: from verified bundles to per-host summaries, findings, timelines and the fleet view."""
