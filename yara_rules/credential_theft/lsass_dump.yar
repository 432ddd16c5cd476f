// Dumping LSASS memory with tools that ship with Windows or Sysinternals.

import "math"  // math.min: proximity checks look at the first 100 places of a string at most

rule CredTheft_Comsvcs_MiniDump
{
    meta:
        description = "LSASS dump through comsvcs.dll MiniDump (rundll32 comsvcs.dll, MiniDump <pid> <file> full)"
        severity = "critical"
        attack = "T1003.001"
        reference = "https://lolbas-project.github.io/lolbas/Libraries/comsvcs/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /comsvcs(\.dll)?[^\r\n]{0,40}(MiniDump|#24)/ ascii nocase
    condition:
        $a
}

rule CredTheft_Procdump_Lsass
{
    meta:
        description = "ProcDump (or a renamed copy) run against lsass"
        severity = "high"
        attack = "T1003.001"
        reference = "https://learn.microsoft.com/sysinternals/downloads/procdump"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /procdump(64)?(\.exe)?[^\r\n]{0,80}lsass/ ascii nocase
        $b = /[-\/]ma {1,3}lsass(\.exe)?/ ascii nocase
    condition:
        any of them
}

rule CredTheft_Lsass_Dump_PowerShell
{
    meta:
        description = "PowerShell LSASS dump helpers (Out-Minidump, MiniDumpWriteDump via reflection)"
        severity = "high"
        attack = "T1003.001"
        reference = "https://github.com/PowerShellMafia/PowerSploit/blob/master/Exfiltration/Out-Minidump.ps1"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = "Out-Minidump" ascii wide nocase
        $b = "MiniDumpWriteDump" ascii wide
        $c = "Get-Process lsass" ascii wide nocase
        $d = "GetMethod('MiniDumpWriteDump'" ascii wide nocase
    condition:
        // MiniDumpWriteDump and "Get-Process lsass" near each other (64 KiB, one script's worth)
        uint16(0) != 0x5A4D and ($a or $d or
            for any i in (1..math.min(#b, 100)) : (#c in (@b[i] - 65536 .. @b[i] + 65536) > 0))
}
