// Inhibiting recovery before encryption: shadow copies, backup catalog, boot recovery.

rule Ransom_Shadow_Copy_Deletion
{
    meta:
        description = "Volume shadow copies deleted (vssadmin, wmic shadowcopy, Win32_ShadowCopy.Delete)"
        severity = "high"
        attack = "T1490"
        reference = "https://attack.mitre.org/techniques/T1490/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /vssadmin(\.exe)?["']?[^\r\n]{0,20} delete shadows/ ascii nocase
        $b = /wmic(\.exe)?["']?[^\r\n]{0,20} shadowcopy delete/ ascii nocase
        $c = /Win32_ShadowCopy[^\r\n]{0,120}\.Delete\(\)/ ascii nocase
        $d = /vssadmin(\.exe)?["']?[^\r\n]{0,20} resize shadowstorage [^\r\n]{0,80}\/maxsize=(401MB|1MB|320MB)/ ascii nocase
    condition:
        any of them
}

rule Ransom_Backup_Catalog_Deletion
{
    meta:
        description = "Windows backup catalog or system-state backups deleted with wbadmin"
        severity = "high"
        attack = "T1490"
        reference = "https://attack.mitre.org/techniques/T1490/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /wbadmin(\.exe)?["']?[^\r\n]{0,20} delete (catalog|systemstatebackup|backup)/ ascii nocase
    condition:
        $a
}

rule Ransom_Boot_Recovery_Disabled
{
    meta:
        description = "Boot recovery disabled with bcdedit (recoveryenabled no, bootstatuspolicy ignoreallfailures)"
        severity = "high"
        attack = "T1490"
        reference = "https://attack.mitre.org/techniques/T1490/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /bcdedit(\.exe)?["']?[^\r\n]{0,60}recoveryenabled {1,3}(no|off|0)\b/ ascii nocase
        $b = /bcdedit(\.exe)?["']?[^\r\n]{0,60}bootstatuspolicy {1,3}ignoreallfailures/ ascii nocase
    condition:
        any of them
}
