// Persistence commands: scheduled tasks, Run keys, services, WMI subscriptions, IFEO, Winlogon.

import "math"  // math.min: proximity checks look at the first 100 places of a string at most

rule Persist_Schtasks_Suspicious_Action
{
    meta:
        description = "schtasks /create whose action is a script host or a file in a user-writable folder"
        severity = "high"
        attack = "T1053.005"
        reference = "https://attack.mitre.org/techniques/T1053/005/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $shell = /schtasks(\.exe)?["']?[^\r\n]{0,40} \/create[^\r\n]{0,300}\/tr {1,3}[^\r\n]{0,20}(powershell|cmd(\.exe)? \/c|mshta|wscript|cscript|rundll32)/ ascii nocase
        $path = /schtasks(\.exe)?["']?[^\r\n]{0,40} \/create[^\r\n]{0,300}\/tr {1,3}[^\r\n]{0,120}(\\AppData\\|\\Temp\\|\\Users\\Public\\|%TEMP%|%APPDATA%|%PUBLIC%)/ ascii nocase
    condition:
        any of them
}

rule Persist_Run_Key_Added
{
    meta:
        description = "Run/RunOnce value added from a command line or script (reg add, New-/Set-ItemProperty)"
        severity = "medium"
        attack = "T1547.001"
        reference = "https://attack.mitre.org/techniques/T1547/001/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $reg = /reg(\.exe)?["']? {1,3}add {1,3}["']?(HKLM|HKCU|HKEY_LOCAL_MACHINE|HKEY_CURRENT_USER)\\Software\\(WOW6432Node\\)?Microsoft\\Windows\\CurrentVersion\\Run/ ascii nocase
        $ps = /(New|Set)-ItemProperty[^\r\n]{0,60}(HKLM|HKCU):\\Software\\(WOW6432Node\\)?Microsoft\\Windows\\CurrentVersion\\Run/ ascii nocase
    condition:
        any of them
}

rule Persist_Service_UserWritable_Binary
{
    meta:
        description = "sc create/config with a binPath in a user-writable folder or running a script host"
        severity = "high"
        attack = "T1543.003"
        reference = "https://attack.mitre.org/techniques/T1543/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /sc(\.exe)?["']? [^\r\n]{0,80}(create|config) [^\r\n]{1,100}binpath= {0,3}["']?[^\r\n]{0,40}(\\AppData\\|\\Temp\\|\\Users\\Public\\|\\ProgramData\\|%TEMP%|%APPDATA%)/ ascii nocase
        $b = /sc(\.exe)?["']? [^\r\n]{0,80}(create|config) [^\r\n]{1,100}binpath= {0,3}["']?[^\r\n]{0,40}(powershell|cmd(\.exe)? \/c|mshta|rundll32)/ ascii nocase
        $c = /New-Service [^\r\n]{0,120}-BinaryPathName {1,3}["']?[^\r\n]{0,40}(\\AppData\\|\\Temp\\|\\Users\\Public\\|powershell)/ ascii nocase
    condition:
        any of them
}

rule Persist_WMI_Event_Subscription
{
    meta:
        description = "WMI permanent event subscription created from a script (CommandLine/ActiveScript consumer)"
        severity = "high"
        attack = "T1546.003"
        reference = "https://attack.mitre.org/techniques/T1546/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $c1 = "CommandLineEventConsumer" ascii wide nocase
        $c2 = "ActiveScriptEventConsumer" ascii wide nocase
        $s1 = "Set-WmiInstance" ascii wide nocase
        $s2 = "New-CimInstance" ascii wide nocase
        $s3 = "__FilterToConsumerBinding" ascii wide nocase
        $s4 = "instance of __EventFilter" ascii wide nocase
    condition:
        // consumer, binding and the cmdlet near each other (64 KiB, one script's worth), not spread
        // over unrelated records of a raw WMI-Activity or PowerShell log
        uint16(0) != 0x5A4D and (
            for any i in (1..math.min(#c1, 100)) : (
                (#s3 in (@c1[i] - 65536 .. @c1[i] + 65536) > 0 or #s4 in (@c1[i] - 65536 .. @c1[i] + 65536) > 0) and
                (#s1 in (@c1[i] - 65536 .. @c1[i] + 65536) > 0 or #s2 in (@c1[i] - 65536 .. @c1[i] + 65536) > 0 or
                 #s4 in (@c1[i] - 65536 .. @c1[i] + 65536) > 0)) or
            for any i in (1..math.min(#c2, 100)) : (
                (#s3 in (@c2[i] - 65536 .. @c2[i] + 65536) > 0 or #s4 in (@c2[i] - 65536 .. @c2[i] + 65536) > 0) and
                (#s1 in (@c2[i] - 65536 .. @c2[i] + 65536) > 0 or #s2 in (@c2[i] - 65536 .. @c2[i] + 65536) > 0 or
                 #s4 in (@c2[i] - 65536 .. @c2[i] + 65536) > 0)))
}

rule Persist_IFEO_Debugger
{
    meta:
        description = "Image File Execution Options Debugger value set from a command (accessibility backdoor)"
        severity = "high"
        attack = "T1546.012"
        reference = "https://attack.mitre.org/techniques/T1546/012/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /\\Image File Execution Options\\[^\r\n]{1,80} \/v {1,3}["']?Debugger/ ascii nocase
        $b = /\\Image File Execution Options\\[^\r\n]{1,80}-Name {1,3}["']?Debugger/ ascii nocase
    condition:
        any of them
}

rule Persist_Accessibility_Binary_Replaced
{
    meta:
        description = "cmd.exe or powershell copied over an accessibility binary (sethc, utilman, osk...)"
        severity = "critical"
        attack = "T1546.008"
        reference = "https://attack.mitre.org/techniques/T1546/008/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /copy [^\r\n]{0,80}(cmd|powershell)\.exe[^\r\n]{0,80}\\(sethc|utilman|osk|Magnify|Narrator|DisplaySwitch|AtBroker)\.exe/ ascii nocase
    condition:
        $a
}

rule Persist_Winlogon_Hijack
{
    meta:
        description = "Winlogon Userinit or Shell value changed from a command"
        severity = "high"
        attack = "T1547.004"
        reference = "https://attack.mitre.org/techniques/T1547/004/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /\\Windows NT\\CurrentVersion\\Winlogon["']?[^\r\n]{0,40} \/v {1,3}["']?(Userinit|Shell)\b/ ascii nocase
        $b = /\\Windows NT\\CurrentVersion\\Winlogon["']?[^\r\n]{0,60}-Name {1,3}["']?(Userinit|Shell)\b/ ascii nocase
    condition:
        any of them
}
