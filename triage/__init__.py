"""triage: fast forensic collection and analysis.

The collector (``triage.collect`` + ``triage.bundle``) imports only the standard library plus PyYAML,
tqdm and psutil so that it can be frozen into one small executable; the analyzer and everything else
live behind the ``analyze``/``ship``/``raw``/``fleet`` extras.
"""

__version__ = "0.1.0"
