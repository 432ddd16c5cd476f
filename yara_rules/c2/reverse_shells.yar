// Generic reverse shells on Linux and in PowerShell.

import "math"  // math.min: proximity checks look at the first 100 places of a string at most

rule C2_Reverse_Shell_Unix
{
    meta:
        description = "Unix reverse shell one-liners (/dev/tcp, nc -e, python pty)"
        severity = "high"
        attack = "T1059.004"
        reference = "https://github.com/swisskyrepo/PayloadsAllTheThings/blob/master/Methodology%20and%20Resources/Reverse%20Shell%20Cheatsheet.md"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /\/dev\/tcp\/[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\/[0-9]{1,5}/ ascii
        $b1 = /nc(at)?(\.exe)? [^\r\n]{0,60} -e \/bin\/(ba)?sh/ ascii
        $b2 = /nc(at)?(\.exe)? [^\r\n]{0,60} -e cmd\.exe/ ascii
        $c = /pty\.spawn\(["']\/bin\/(ba)?sh/ ascii
        $d = /socket\.SOCK_STREAM[^\r\n]{0,200}subprocess\.call\(\[["']\/bin\/(ba)?sh/ ascii
        $e = /mkfifo [^\r\n]{1,60}\| {0,2}\/bin\/(ba)?sh -i/ ascii
    condition:
        any of them
}

rule C2_Reverse_Shell_PowerShell
{
    meta:
        description = "PowerShell TCP reverse shell (TCPClient stream fed to Invoke-Expression)"
        severity = "high"
        attack = "T1059.001, T1095"
        reference = "https://github.com/samratashok/nishang/blob/master/Shells/Invoke-PowerShellTcp.ps1"
        date = "2026-11-25"
        author = "triage"
    strings:
        $tcp = "Net.Sockets.TCPClient(" ascii wide nocase
        $stream = ".GetStream()" ascii wide nocase
        $x1 = "Invoke-Expression" ascii wide nocase
        $x2 = /\(iex \$/ ascii nocase
        $x4 = "Invoke-PowerShellTcp" ascii wide nocase
    condition:
        // near each other (64 KiB, one script's worth): Invoke-Expression alone is common in a raw log
        $x4 or for any i in (1..math.min(#tcp, 100)) : (
            #stream in (@tcp[i] - 65536 .. @tcp[i] + 65536) > 0 and
            (#x1 in (@tcp[i] - 65536 .. @tcp[i] + 65536) > 0 or #x2 in (@tcp[i] - 65536 .. @tcp[i] + 65536) > 0))
}
