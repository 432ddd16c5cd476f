"""`triage collect`: one command on the suspect host (or a mounted disk) -> one verifiable bundle."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from triage import exit_codes as X
from triage.bundle.sidecar import sidecar_path
from triage.terminal import safe
from triage.units import human_size, parse_duration, parse_size


def configure(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--target", metavar="DIR", help="a mounted Windows volume or host tree (read-only)")
    src.add_argument("--live", action="store_true", help="the running system (volatile state first)")
    src.add_argument("--image", metavar="FILE", help="an NTFS volume image, a raw MBR/GPT disk image, E01 or QCOW2")
    p.add_argument("--profile", default=None,
                   help="profile name or YAML file (default: windows-triage; linux-triage for --live on Linux)")
    p.add_argument("--output", "-o", metavar="DIR", default=".", help="where to write the bundle (default: .)")
    p.add_argument("--max-size", type=_size, metavar="SIZE",
                   help="take at most this much source data, in priority order (e.g. 500MB, 2GiB)")
    p.add_argument("--max-time", type=_duration, metavar="DURATION",
                   help="stop starting new files after this long (e.g. 90s, 10m)")
    p.add_argument("--compression", choices=("store", "deflate"), default="deflate",
                   help="how members are packed (default deflate, level 1: event logs shrink 5-10x for shipping)")
    p.add_argument("--hash", action="append", choices=("md5", "sha1"), default=[], dest="extra_hashes",
                   help="also compute MD5/SHA-1 per file (SHA-256 always); repeatable")
    p.add_argument("--hostname", help="host name for the bundle (default: the machine's, or the target folder's name)")
    p.add_argument("--volume", default=None, help="volume name under files/ for --target (default C; root for Linux)")
    p.add_argument("--operator", help="who ran the collection (default: the current user)")
    p.add_argument("--case", help="case identifier recorded in the bundle")
    p.add_argument("--reference-time", metavar="ISO",
                   help="trusted UTC time from the responder's watch/phone, to record the host clock's skew")
    p.add_argument("--vss", action="store_true", help="also collect from every Volume Shadow Copy (images)")
    p.add_argument("--encrypt-to", action="append", metavar="KEY.pub", default=[],
                   help="encrypt the bundle as it is written to this analyst public key (repeatable)")
    p.add_argument("--upload", metavar="URL", help="upload the finished bundle to an intake server")
    p.add_argument("--token", help="bearer token for --upload")
    p.add_argument("--no-volatile", action="store_true", help="with --live: skip the process/network snapshot")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar or closing table: only the bundle's path (and warnings) are printed")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON object on stdout (bundle, sha256, status, counts, exit code)")


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sources(args, profile_os: str):
    from triage.collect.source import DirectorySource
    from triage.commands import UsageError

    if args.target:
        root = Path(args.target)
        if not root.is_dir():
            raise UsageError(f"--target {root} is not a directory")
        windows = profile_os == "windows"
        return [DirectorySource(root, volume=args.volume or ("C" if windows else "root"), kind="directory",
                                case_sensitive=not windows, path_style="windows" if windows else "posix")]
    if args.image:
        from triage.collect.images import open_image

        opened = open_image(args.image)
        for note in opened.notes:
            print(f"triage: image: {safe(note)}", file=sys.stderr)
        sources = list(opened.sources)
        if not sources:
            raise UsageError(f"no NTFS volume to collect in {args.image}")
        if args.vss:
            from triage.collect.vss import shadow_sources

            sources = sources + [v for s in list(sources) for v in shadow_sources(s)]
        return sources
    # --live
    if platform.system() == "Windows":
        drive = os.environ.get("SYSTEMDRIVE", "C:")
        try:
            from triage.collect.fallback import live_windows_source

            return [live_windows_source(drive)]
        except ImportError:
            return [DirectorySource(drive + "\\", volume=drive.rstrip(":"), kind="live")]
    return [DirectorySource("/", volume="root", kind="live", case_sensitive=True, path_style="posix")]


def run(args) -> int:
    from triage.collect.collector import CollectOptions, Log, collect, summary_table
    from triage.profile import ProfileError, load_profile

    default_profile = "linux-triage" if args.live and platform.system() != "Windows" else "windows-triage"
    try:
        profile = load_profile(args.profile or default_profile)
    except ProfileError as exc:
        print(f"triage: error: {exc}", file=sys.stderr)
        return X.USAGE
    reference = None
    if args.reference_time:
        try:
            reference = datetime.fromisoformat(args.reference_time.replace("Z", "+00:00"))
            if reference.tzinfo is None:
                raise ValueError("it must say its time zone, e.g. 2026-11-25T10:00:00Z")
        except ValueError as exc:
            print(f"triage: error: --reference-time: {exc}", file=sys.stderr)
            return X.USAGE
    sources = _sources(args, profile.os)
    options = CollectOptions(
        profile=profile, output_dir=Path(args.output), max_size=args.max_size, max_time=args.max_time,
        compression=args.compression, hashes=("sha256", *args.extra_hashes), hostname=args.hostname,
        operator=args.operator, case=args.case, live=bool(args.live), progress=not args.quiet and sys.stderr.isatty(),
        command_line=list(getattr(args, "argv", sys.argv)), reference_time=reference)
    if args.vss and not args.image:
        print("triage: error: --vss needs --image (shadow copies are read from the volume itself)", file=sys.stderr)
        return X.USAGE
    if args.encrypt_to:
        try:  # keys are loaded now: a bad --encrypt-to fails before anything is collected
            from triage.ship.encrypt import encrypted_output

            options.open_output = encrypted_output(args.encrypt_to)
        except ImportError as exc:
            print(f"triage: error: --encrypt-to needs the 'cryptography' library, which cannot load here: {exc}",
                  file=sys.stderr)
            return X.USAGE
        except (ValueError, OSError) as exc:
            print(f"triage: error: --encrypt-to: {exc}", file=sys.stderr)
            return X.USAGE
    if args.upload and not (args.token or os.environ.get("TRIAGE_UPLOAD_TOKEN")):
        print("triage: error: --upload needs --token (or TRIAGE_UPLOAD_TOKEN)", file=sys.stderr)
        return X.USAGE
    if args.vss:
        from triage.collect.vss import skip_identical_to_live

        options.skip_hook = skip_identical_to_live(sources)
    volatile = None
    if args.live and not args.no_volatile:
        from triage.collect.volatile import snapshot

        volatile = snapshot()
    result = collect(sources, options, volatile, Log(echo=False))
    outcome = Outcome.of(result)
    if not args.quiet and not args.json:
        print(summary_table(result))
        for line in outcome.closing_lines():
            print(line)
    elif args.quiet and not args.json:
        print(result.bundle_path)  # scripts need the path even when told to be quiet
        for line in outcome.closing_lines(summary_only=True):
            print(line, file=sys.stderr)
    code = outcome.exit_code
    receipt = upload_error = None
    if args.upload:
        from triage.ship.client import UploadError, upload_file

        try:
            receipt = upload_file(result.bundle_path, args.upload,
                                  token=args.token or os.environ.get("TRIAGE_UPLOAD_TOKEN"))
        except (UploadError, OSError) as exc:
            upload_error = safe(exc)
            print(f"triage: error: upload failed: {upload_error}. The bundle is kept: {result.bundle_path} "
                  f"(retry with: triage upload {result.bundle_path} --to {args.upload}; it resumes)", file=sys.stderr)
            code = X.UPLOAD_FAILED
        else:
            if not args.json:
                print("uploaded; receipt:")
                print(json.dumps(receipt, indent=2, default=str))
    if args.json:
        print(json.dumps({**outcome.to_dict(), "exit_code": code, "meaning": X.MEANINGS[code],
                          "upload": None if not args.upload else {"url": args.upload, "receipt": receipt,
                                                                  "error": upload_error}},
                         indent=2, default=str, ensure_ascii=False))
    return code


@dataclass
class Outcome:
    """What a finished collection means for the responder: the exit code and the closing lines.

    Why here and not in the table: the table lists every artifact, and a skipped file scrolls out of
    sight above it. A collection that left files out (budget, interruption, read failures) must say
    so in its very last lines and in its exit status, where a script or a tired responder looks."""

    bundle: Path
    sha256: str
    status: str                                   # the collector's: complete | interrupted
    totals: dict[str, int]
    budget_skipped: int = 0
    budget_skipped_bytes: int = 0
    interrupted_skipped: int = 0
    failed: int = 0
    budgets: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, result) -> Outcome:
        from triage.bundle import manifest as M

        budget = [e for e in result.entries if e.outcome == M.SKIPPED_BUDGET]
        return cls(bundle=Path(result.bundle_path), sha256=result.sha256, status=result.status,
                   totals=dict(result.record.get("totals") or {}),
                   budget_skipped=len(budget), budget_skipped_bytes=sum(e.source_size or 0 for e in budget),
                   interrupted_skipped=sum(1 for e in result.entries if e.outcome == M.SKIPPED_INTERRUPTED),
                   failed=sum(1 for e in result.entries if e.outcome == M.FAILED),
                   budgets=dict(result.record.get("budgets") or {}), warnings=list(result.warnings))

    @property
    def partial(self) -> bool:
        return bool(self.budget_skipped or self.interrupted_skipped or self.failed or self.status != "complete")

    @property
    def exit_code(self) -> int:
        return X.PARTIAL if self.partial else X.OK

    def closing_lines(self, summary_only: bool = False) -> list[str]:
        lines = []
        if self.budget_skipped:
            limits = []
            if self.budgets.get("max_size") is not None:
                limits.append(f"--max-size {human_size(self.budgets['max_size'])}")
            if self.budgets.get("max_time_seconds") is not None:
                limits.append(f"--max-time {self.budgets['max_time_seconds']:g}s")
            lines.append(f"PARTIAL: {_files(self.budget_skipped)} ({human_size(self.budget_skipped_bytes)}) did not "
                         f"fit the budget ({', '.join(limits) or 'budget'}) and were not collected "
                         "(skipped_budget in the manifest)")
        if self.interrupted_skipped or self.status == "interrupted":
            lines.append(f"PARTIAL: the collection was interrupted; {_files(self.interrupted_skipped)} not reached "
                         "(skipped_interrupted in the manifest)")
        if self.failed:
            lines.append(f"PARTIAL: {_files(self.failed)} could not be read (failed in the manifest: see the table "
                         "and meta/collection.log)")
        if self.partial:
            lines.append(f"exit {X.PARTIAL}: partial collection; the bundle is complete for what it holds and verifies")
        elif not summary_only:
            lines.append("complete: every planned file that exists was collected")
        return lines

    def to_dict(self) -> dict:
        return {"bundle": str(self.bundle), "sha256": self.sha256,
                "sidecar": str(sidecar_path(self.bundle)),
                "status": "partial" if self.partial else "complete", "collector_status": self.status,
                "totals": self.totals,
                "skipped_budget": {"files": self.budget_skipped, "bytes": self.budget_skipped_bytes},
                "skipped_interrupted": self.interrupted_skipped, "failed": self.failed,
                "budgets": self.budgets, "warnings": self.warnings}


def _files(n: int) -> str:
    return f"{n} file{'' if n == 1 else 's'}"
