"""What make-host-tree can place on a host, read from the tool's own corpus inventory, and which corpus
sets hold attack traces. Shared by the precision tests and bench/yara_pack.py.

Why the tool's own inventory (its ``Corpus`` class, loaded from the script) rather than a copy of its
rules: hosts of every seed are selections from it, so whatever scans the inventory covers every seed,
and a change in what the tool places changes the tests with it.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

ATTACK_SET_MARK = "aptsimulatorvm"  # sets recorded on APTSimulator machines (corpus README)


def load_make_host_tree(corpus: Path):
    script = corpus.parent / "tools" / "make-host-tree"
    loader = importlib.machinery.SourceFileLoader("make_host_tree", str(script))
    spec = importlib.util.spec_from_loader("make_host_tree", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)  # defines functions only; main() runs under __name__ == "__main__"
    return module


def placeable_files(inv) -> dict[str, set[str]]:
    """Corpus paths make-host-tree can place on a host, by kind, with --extra-artifacts, from its own
    inventory ``inv`` (which already leaves out corrupted/truncated samples, unparseable files and
    empty logs)."""
    hive_pools = inv.system + inv.software + inv.sam + inv.security + inv.usrclass
    return {
        "evtx": {rel for lst in inv.evtx_sets.values() for rel, _ch in lst},
        "hive": {rel for rel, _logs in hive_pools} | {rel for rel, _user, _logs, _dirty in inv.users},
        "hive-log": {lg for _rel, logs in hive_pools for lg in logs}
                    | {lg for _rel, _user, logs, _dirty in inv.users for lg in logs},
        "prefetch": {rel for lst in inv.prefetch_sets.values() for rel in lst},
        "browser": set(inv.chrome) | set(inv.edge) | set(inv.firefox),
        "pe": set(inv.pe),
        "srum": {rel for lst in inv.srum_sets.values() for rel in lst},
        "timeline": {rel for lst in inv.timeline_sets.values() for rel in lst},
        "defender": {rel for lst in inv.defender_sets.values() for rel in lst},
        "lnk": set(inv.lnk),
        "jumplist": set(inv.jumplists),
        "setupapi": set(inv.setupapi),
    }


def hive_logs(inv) -> dict[str, list[str]]:
    """Hive -> its transaction logs, as make-host-tree places them beside it."""
    out = {rel: list(logs) for rel, logs in inv.system + inv.software + inv.sam + inv.security + inv.usrclass}
    out.update({rel: list(logs) for rel, _user, logs, _dirty in inv.users})
    return out


def is_attack_set(rel: str) -> bool:
    """Whether a corpus path lies in a set recorded on an APTSimulator machine, in any artifact
    folder (evtx, defender, srum, jumplists, timeline...): real attack traces, not benign text."""
    return any(ATTACK_SET_MARK in part.lower() for part in rel.split("/")[:-1])
