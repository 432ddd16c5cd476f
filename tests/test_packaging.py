"""Packaging contracts: installed copies carry every profile and rule directory; every command has help
and is documented in the README."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from triage.cli import COMMANDS

# not "from conftest import REPO": with tests/portable on the same command line, that name is its conftest
REPO = Path(__file__).resolve().parent.parent


def test_every_rule_and_profile_directory_is_installed():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    data = cfg["options.data_files"]
    targets = {k.strip(): v.strip() for k, v in data.items()}
    assert targets["share/triage/profiles"] == "profiles/*.yaml"
    for d in sorted(p for p in (REPO / "yara_rules").iterdir() if p.is_dir()):
        key = f"share/triage/yara_rules/{d.name}"
        assert targets.get(key) == f"yara_rules/{d.name}/*.yar", f"{d} is not shipped by setup.cfg"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_and_is_in_the_readme(command):
    out = subprocess.run([sys.executable, "-m", "triage", command, "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usage: triage " + command in out.stdout
    readme = (REPO / "README.md").read_text()
    assert re.search(rf"triage {command}\b", readme), f"'triage {command}' is not documented in README.md"
