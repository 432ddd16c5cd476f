// Copying the credential stores: SAM/SECURITY/SYSTEM hives and the domain's ntds.dit.

rule CredTheft_Registry_Hive_Save
{
    meta:
        description = "reg save of the SAM, SECURITY or SYSTEM hive (offline hash extraction)"
        severity = "high"
        attack = "T1003.002"
        reference = "https://attack.mitre.org/techniques/T1003/002/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /reg(\.exe)? {1,3}save {1,3}"?(hklm|HKEY_LOCAL_MACHINE)\\(sam|security|system)[" ]/ ascii nocase
    condition:
        $a
}

rule CredTheft_NTDS_Extraction
{
    meta:
        description = "ntds.dit copied out: ntdsutil IFM or a copy from a volume shadow copy"
        severity = "critical"
        attack = "T1003.003"
        reference = "https://attack.mitre.org/techniques/T1003/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /ntdsutil(\.exe)?[^\r\n]{0,80}ifm[^\r\n]{0,40}create full/ ascii nocase
        $b = /HarddiskVolumeShadowCopy[0-9]{1,4}\\Windows\\NTDS\\ntds\.dit/ ascii nocase
    condition:
        any of them
}

rule CredTheft_Rubeus_Kerberos
{
    meta:
        description = "Rubeus Kerberos abuse (kerberoast, asreproast, asktgt, s4u) or Invoke-Kerberoast"
        severity = "high"
        attack = "T1558.003, T1558.004"
        reference = "https://github.com/GhostPack/Rubeus"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /Rubeus(\.exe)? {1,4}(kerberoast|asreproast|asktgt|asktgs|s4u|ptt|dump|tgtdeleg)/ ascii nocase
        $b = "Invoke-Kerberoast" ascii wide nocase
        $c = "Invoke-Rubeus" ascii wide nocase
    condition:
        any of them
}
