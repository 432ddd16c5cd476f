// Cobalt Strike: default named pipes, beacon strings, PowerShell stagers and psexec services.

rule C2_CobaltStrike_Named_Pipes
{
    meta:
        description = "Cobalt Strike default named pipes (MSSE-<n>-server, postex_, msagent_)"
        severity = "critical"
        attack = "T1071, T1570"
        reference = "https://www.cobaltstrike.com/blog/named-pipe-pivoting"
        date = "2026-11-25"
        author = "triage"
    strings:
        $p1 = /\\MSSE-[0-9]{1,5}-server/ ascii wide
        $p2 = /\\postex_(ssh_)?[0-9a-f]{4}/ ascii wide
        $p3 = /\\msagent_[0-9a-f]{2}/ ascii wide
    condition:
        any of them
}

rule C2_CobaltStrike_Beacon_Strings
{
    meta:
        description = "Cobalt Strike beacon strings in a file or memory image"
        severity = "critical"
        attack = "T1071.001"
        reference = "https://github.com/Neo23x0/signature-base/blob/master/yara/apt_cobaltstrike.yar"
        date = "2026-11-25"
        author = "triage"
    strings:
        $s1 = "beacon.dll" ascii
        $s2 = "beacon.x64.dll" ascii
        $s3 = "%s as %s\\%s: %d" ascii
        $s4 = "could not spawn %s: %d" ascii
        $s5 = "ReflectiveLoader" ascii
        $s6 = "%02d/%02d/%02d %02d:%02d:%02d" ascii
        $s7 = "Started service %s on %s" ascii
    condition:
        3 of them
}

rule C2_CobaltStrike_PowerShell_Stager
{
    meta:
        description = "Cobalt Strike PowerShell stager template (var_code, func_get_proc_address)"
        severity = "critical"
        attack = "T1059.001, T1620"
        reference = "https://www.mandiant.com/resources/blog/defining-cobalt-strike-components"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = "func_get_proc_address" ascii wide
        $b = "func_get_delegate_type" ascii wide
        $c = "$var_code" ascii wide
        $d = "$var_buffer" ascii wide
        $e = "$DoIt = @'" ascii wide
    condition:
        2 of them
}

rule C2_PsExec_PowerShell_Service
{
    meta:
        description = "Service command of Cobalt Strike / Metasploit psexec_psh lateral movement"
        severity = "critical"
        attack = "T1569.002, T1021.002"
        reference = "https://attack.mitre.org/techniques/T1569/002/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /%COMSPEC% \/b \/c start \/b \/min powershell/ ascii nocase
    condition:
        $a
}
