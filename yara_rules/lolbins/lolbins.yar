// Living-off-the-land binaries used to download or run code (in scripts and command lines).

rule LOLBin_Certutil_Download
{
    meta:
        description = "certutil used to download a file (-urlcache -split -f, -verifyctl -f)"
        severity = "high"
        attack = "T1105"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Certutil/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /certutil(\.exe)?["']?[^\r\n]{0,60}[-\/]urlcache[^\r\n]{0,60}https?:\/\// ascii nocase
        $b = /certutil(\.exe)?["']?[^\r\n]{0,60}[-\/]verifyctl[^\r\n]{0,40}https?:\/\// ascii nocase
    condition:
        any of them
}

rule LOLBin_Certutil_Decode
{
    meta:
        description = "certutil used to decode a base64/hex payload (-decode, -decodehex)"
        severity = "medium"
        attack = "T1140"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Certutil/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /certutil(\.exe)?["']?[^\r\n]{0,40} [-\/]decode(hex)? / ascii nocase
    condition:
        $a
}

rule LOLBin_Bitsadmin_Transfer
{
    meta:
        description = "bitsadmin job downloading from a URL (/transfer, /addfile)"
        severity = "medium"
        attack = "T1197, T1105"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Bitsadmin/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /bitsadmin(\.exe)?["']?[^\r\n]{0,60}\/(transfer|addfile)[^\r\n]{0,200}https?:\/\// ascii nocase
    condition:
        $a
}

rule LOLBin_Mshta_Remote_Script
{
    meta:
        description = "mshta running a remote HTA or inline script (http:, javascript:, vbscript:)"
        severity = "high"
        attack = "T1218.005"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Mshta/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /mshta(\.exe)?["']? {1,3}["']?(https?:\/\/|javascript:|vbscript:)/ ascii nocase
    condition:
        $a
}

rule LOLBin_Regsvr32_Squiblydoo
{
    meta:
        description = "regsvr32 loading a remote scriptlet through scrobj.dll (Squiblydoo)"
        severity = "high"
        attack = "T1218.010"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Regsvr32/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /regsvr32(\.exe)?["']?[^\r\n]{0,60}\/i:["']?https?:\/\/[^\r\n]{0,200}scrobj(\.dll)?/ ascii nocase
        $b = /regsvr32(\.exe)?["']?[^\r\n]{0,60}scrobj(\.dll)?[^\r\n]{0,60}\/i:["']?https?:\/\// ascii nocase
    condition:
        any of them
}

rule LOLBin_Rundll32_Script
{
    meta:
        description = "rundll32 running script code (javascript:, mshtml RunHTMLApplication)"
        severity = "high"
        attack = "T1218.011"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Rundll32/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /rundll32(\.exe)?["']?[^\r\n]{0,40}javascript:/ ascii nocase
        $b = /rundll32(\.exe)?["']?[^\r\n]{0,60}mshtml(\.dll)?,{0,1} {0,2}#?RunHTMLApplication/ ascii nocase
    condition:
        any of them
}

rule LOLBin_WMIC_Process_Create
{
    meta:
        description = "wmic process call create (local or remote process start)"
        severity = "medium"
        attack = "T1047"
        reference = "https://attack.mitre.org/techniques/T1047/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /wmic(\.exe)?["']?[^\r\n]{0,100} process call create/ ascii nocase
    condition:
        $a
}

rule LOLBin_Msiexec_Remote_Package
{
    meta:
        description = "msiexec installing a package straight from a URL, quietly"
        severity = "medium"
        attack = "T1218.007"
        reference = "https://lolbas-project.github.io/lolbas/Binaries/Msiexec/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /msiexec(\.exe)?["']?[^\r\n]{0,20} \/(i|package)[^\r\n]{0,10}https?:\/\/[^\r\n]{1,200} \/(q|qn|quiet)\b/ ascii nocase
    condition:
        $a
}
