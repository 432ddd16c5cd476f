// Mimikatz: its module::command syntax on command lines and in scripts, and the tool's own strings.

rule CredTheft_Mimikatz_Commands
{
    meta:
        description = "Mimikatz module::command syntax (credential dumping, ticket forging)"
        severity = "critical"
        attack = "T1003.001, T1558.001"
        reference = "https://github.com/gentilkiwi/mimikatz/wiki"
        date = "2026-11-25"
        author = "triage"
    strings:
        // fullword: a command is a word of its own on a command line or in a script; inside a longer
        // identifier ("mycrypto::capiHelper", "token::elevated") it is somebody else's code, not mimikatz.
        $c1 = "sekurlsa::logonpasswords" ascii wide nocase fullword
        $c2 = "sekurlsa::pth" ascii wide nocase fullword
        $c3 = "sekurlsa::tickets" ascii wide nocase fullword
        $c4 = "sekurlsa::ekeys" ascii wide nocase fullword
        $c5 = "lsadump::sam" ascii wide nocase fullword
        $c6 = "lsadump::dcsync" ascii wide nocase fullword
        $c7 = "lsadump::secrets" ascii wide nocase fullword
        $c8 = "lsadump::lsa" ascii wide nocase fullword
        $c9 = "kerberos::golden" ascii wide nocase fullword
        $c10 = "kerberos::ptt" ascii wide nocase fullword
        $c11 = "crypto::capi" ascii wide nocase fullword
        $c12 = "token::elevate" ascii wide nocase fullword
    condition:
        any of them
}

rule CredTheft_Mimikatz_Binary
{
    meta:
        description = "Mimikatz executable or library (author and module strings inside a PE)"
        severity = "critical"
        attack = "T1003.001"
        reference = "https://github.com/gentilkiwi/mimikatz"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a1 = "gentilkiwi" ascii wide
        $a2 = "Benjamin DELPY" ascii wide
        $a3 = "mimikatz" ascii wide nocase
        $a4 = "mimilib" ascii wide nocase
        $a5 = "kiwi_msv1_0" ascii wide
        $a6 = "sekurlsa" ascii wide nocase
    condition:
        uint16(0) == 0x5A4D and 3 of them
}
