// Offensive PowerShell: AMSI bypasses, Invoke-Mimikatz, PowerSploit/PowerView/Empire/Nishang.

import "math"  // math.min: proximity checks look at the first 100 places of a string at most

rule PS_AMSI_Bypass
{
    meta:
        description = "AMSI bypass in PowerShell (amsiInitFailed via reflection, AmsiScanBuffer patch)"
        severity = "high"
        attack = "T1562.001"
        reference = "https://attack.mitre.org/techniques/T1562/001/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $init = "amsiInitFailed" ascii wide nocase
        $utils = "Automation.AmsiUtils" ascii wide nocase
        $getfield = ".GetField(" ascii wide nocase
        $setvalue = ".SetValue(" ascii wide nocase
        $scan = "AmsiScanBuffer" ascii wide nocase
        $protect = "VirtualProtect" ascii wide nocase
        $copy = "Marshal]::Copy(" ascii wide nocase
    condition:
        // near each other (64 KiB, one script's worth): .GetField( and .SetValue( are everywhere in a
        // raw PowerShell log, an AMSI name once is not a bypass
        uint16(0) != 0x5A4D and (
            for any i in (1..math.min(#init, 100)) : (
                #getfield in (@init[i] - 65536 .. @init[i] + 65536) > 0 or
                #setvalue in (@init[i] - 65536 .. @init[i] + 65536) > 0) or
            for any i in (1..math.min(#utils, 100)) : (
                #getfield in (@utils[i] - 65536 .. @utils[i] + 65536) > 0 and
                #setvalue in (@utils[i] - 65536 .. @utils[i] + 65536) > 0) or
            for any i in (1..math.min(#scan, 100)) : (
                #protect in (@scan[i] - 65536 .. @scan[i] + 65536) > 0 and
                #copy in (@scan[i] - 65536 .. @scan[i] + 65536) > 0))
}

rule PS_Invoke_Mimikatz
{
    meta:
        description = "Invoke-Mimikatz (PowerSploit / Empire reflective Mimikatz)"
        severity = "critical"
        attack = "T1003.001, T1059.001"
        reference = "https://github.com/PowerShellMafia/PowerSploit/blob/master/Exfiltration/Invoke-Mimikatz.ps1"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = "Invoke-Mimikatz" ascii wide nocase
        $b = "Invoke-Katz" ascii wide nocase
    condition:
        any of them
}

rule PS_PowerSploit_Offensive
{
    meta:
        description = "PowerSploit / Empire / Nishang offensive functions (injection, token theft, credential access)"
        severity = "high"
        attack = "T1059.001, T1055"
        reference = "https://github.com/PowerShellMafia/PowerSploit"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a1 = "Invoke-ReflectivePEInjection" ascii wide nocase
        $a2 = "Invoke-Shellcode" ascii wide nocase
        $a3 = "Invoke-DllInjection" ascii wide nocase
        $a4 = "Invoke-TokenManipulation" ascii wide nocase
        $a5 = "Get-GPPPassword" ascii wide nocase
        $a6 = "Invoke-NinjaCopy" ascii wide nocase
        $a7 = "Invoke-CredentialInjection" ascii wide nocase
        $a8 = "Get-Keystrokes" ascii wide nocase
        $a9 = "Invoke-Empire" ascii wide nocase
        $a10 = "Invoke-SMBExec" ascii wide nocase
        $a11 = "Invoke-WMIExec" ascii wide nocase
        $a12 = "Invoke-PsExec" ascii wide nocase
    condition:
        any of them
}

rule PS_PowerView_Recon
{
    meta:
        description = "PowerView / SharpHound domain reconnaissance functions"
        severity = "medium"
        attack = "T1087.002, T1069.002"
        reference = "https://github.com/PowerShellMafia/PowerSploit/blob/master/Recon/PowerView.ps1"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a1 = "Invoke-ShareFinder" ascii wide nocase
        $a2 = "Invoke-UserHunter" ascii wide nocase
        $a3 = "Find-LocalAdminAccess" ascii wide nocase
        $a4 = "Get-DomainUser -SPN" ascii wide nocase
        $a5 = "Invoke-BloodHound" ascii wide nocase
        $a6 = "Get-NetGroupMember" ascii wide nocase
        $a7 = "Invoke-ACLScanner" ascii wide nocase
    condition:
        any of them
}
