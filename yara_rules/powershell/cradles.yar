// PowerShell download cradles and encoded / hidden launches.

rule PS_Download_Cradle
{
    meta:
        description = "PowerShell download cradle (WebClient.DownloadString/Data/File, Invoke-WebRequest piped to iex)"
        severity = "high"
        attack = "T1059.001, T1105"
        reference = "https://attack.mitre.org/techniques/T1105/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $wc = /Net\.WebClient\)? {0,3}\.Download(String|Data|File)\(/ ascii nocase
        $iwr = /Invoke-WebRequest [^\r\n|]{1,300}\| {0,2}(iex|Invoke-Expression)\b/ ascii nocase
        $irm = /Invoke-RestMethod [^\r\n|]{1,300}\| {0,2}(iex|Invoke-Expression)\b/ ascii nocase
        $iex = /iex {0,2}\( {0,2}iwr [^\r\n]{1,300}\)/ ascii nocase
    condition:
        any of them
}

rule PS_Encoded_Command
{
    meta:
        description = "PowerShell started with an encoded command (-e/-enc/-EncodedCommand and a base64 blob)"
        severity = "medium"
        attack = "T1059.001, T1027"
        reference = "https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_powershell_exe"
        date = "2026-11-25"
        author = "triage"
    strings:
        $ps = /powershell(\.exe)?["']?[^\r\n]{0,200} [-\/]e(c|n|nc|nco|ncod|ncode|ncoded|ncodedc|ncodedco|ncodedcom|ncodedcomm|ncodedcomma|ncodedcomman|ncodedcommand)? {1,3}["']?[A-Za-z0-9+\/]{40}/ ascii nocase
        $pwsh = /pwsh(\.exe)?["']?[^\r\n]{0,200} [-\/]e(c|n|nc|nco|ncod|ncode|ncoded|ncodedc|ncodedco|ncodedcom|ncodedcomm|ncodedcomma|ncodedcomman|ncodedcommand)? {1,3}["']?[A-Za-z0-9+\/]{40}/ ascii nocase
    condition:
        any of them
}

rule PS_Hidden_Bypass_Launch
{
    meta:
        description = "PowerShell launched hidden with the execution policy bypassed or without a profile"
        severity = "medium"
        attack = "T1059.001, T1564.003"
        reference = "https://attack.mitre.org/techniques/T1564/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /powershell(\.exe)?["']?[^\r\n]{0,120} -w(indowstyle)? {1,3}h(idden)?\b[^\r\n]{0,120} -(nop|noprofile|ep bypass|exec bypass|executionpolicy bypass)\b/ ascii nocase
        $b = /powershell(\.exe)?["']?[^\r\n]{0,120} -(nop|noprofile|ep bypass|exec bypass|executionpolicy bypass)\b[^\r\n]{0,120} -w(indowstyle)? {1,3}h(idden)?\b/ ascii nocase
    condition:
        any of them
}
