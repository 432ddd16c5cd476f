"""Human-facing reports made from summary.json (one self-contained HTML file per host)."""
