"""Event types beyond the core table of :mod:`triage.parsers.evtx.events`, one module per channel
family, each a table (provider, event id) -> fields -> message template.

``SPECS`` is merged into the parser's lookup (the core table wins on a clash: tests check there is
none); ``SKIP`` holds patterns that drop routine records of a typed id before any JSON decoding
(4672 of SYSTEM); ``WHEN`` says, per category, what an event's time means in the timeline.
"""

from __future__ import annotations

import re

from triage.parsers.evtx.event_types import defender, remote, security, sysmon, system, tasks
from triage.parsers.evtx.events import Spec

FAMILIES = (security, system, sysmon, defender, tasks, remote)

SPECS: dict[tuple[str, int], Spec] = {}
SKIP: dict[tuple[str, int], re.Pattern[str]] = {}
WHEN: dict[str, str] = {}
for _family in FAMILIES:
    SPECS.update(_family.SPECS)
    SKIP.update(_family.SKIP)
    WHEN.update(_family.WHEN)

# What the time of the core table's categories means (timeline 'timestamp_desc').
WHEN.update({"logon": "Logon", "logon_failed": "Failed logon", "explicit_logon": "Explicit credentials used",
             "rdp": "RDP session event", "service_install": "Service installed", "task_created": "Scheduled task created",
             "log_cleared": "Event log cleared", "account_change": "Account changed", "group_change": "Group changed",
             "process": "Process started", "powershell": "PowerShell activity",
             "powershell_script": "PowerShell script block logged", "defender": "Defender detection/action",
             "network": "Network connection (Sysmon)", "file_created": "File created",
             "registry_set": "Registry value set", "vpn": "VPN event"})
