// Webshells: one-liners (China Chopper), PHP eval/exec of request data, ASPX/JSP command shells.

import "math"  // math.min: proximity checks look at the first 100 places of a string at most

rule Webshell_China_Chopper
{
    meta:
        description = "China Chopper style one-line webshell (eval of a request parameter)"
        severity = "critical"
        attack = "T1505.003"
        reference = "https://www.mandiant.com/resources/blog/breaking-down-the-china-chopper-web-shell-part-i"
        date = "2026-11-25"
        author = "triage"
    strings:
        $aspx = /eval\(Request(\.Item)?\[["'][^"'\r\n]{1,40}["']\](, {0,2}["']unsafe["'])?\)/ ascii nocase
        $php = /eval\( {0,2}\$_(POST|GET|REQUEST|COOKIE)\[/ ascii nocase
    condition:
        any of them
}

rule Webshell_PHP_Eval_Encoded
{
    meta:
        description = "PHP eval of base64/gzinflate/str_rot13-decoded data (packed webshell)"
        severity = "high"
        attack = "T1505.003, T1027"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /eval\( {0,3}base64_decode\( {0,3}\$_(POST|GET|REQUEST|COOKIE|SERVER)/ ascii nocase
        $b = /eval\( {0,3}gzinflate\( {0,3}base64_decode\(/ ascii nocase
        $c = /eval\( {0,3}gzuncompress\( {0,3}base64_decode\(/ ascii nocase
        $d = /eval\( {0,3}str_rot13\( {0,3}base64_decode\(/ ascii nocase
        $e = /assert\( {0,3}base64_decode\( {0,3}\$_(POST|GET|REQUEST|COOKIE)/ ascii nocase
    condition:
        any of them
}

rule Webshell_PHP_Command_Exec
{
    meta:
        description = "PHP webshell running request data as an OS command"
        severity = "critical"
        attack = "T1505.003"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /system\( {0,2}\$_(GET|POST|REQUEST|COOKIE)\[/ ascii nocase
        $b = /passthru\( {0,2}\$_(GET|POST|REQUEST|COOKIE)\[/ ascii nocase
        $c = /shell_exec\( {0,2}\$_(GET|POST|REQUEST|COOKIE)\[/ ascii nocase
        $d = /popen\( {0,2}\$_(GET|POST|REQUEST|COOKIE)\[/ ascii nocase
        $e = /proc_open\( {0,2}\$_(GET|POST|REQUEST|COOKIE)\[/ ascii nocase
    condition:
        any of them
}

rule Webshell_ASPX_Command_Shell
{
    meta:
        description = "ASP.NET page that starts cmd.exe/powershell with request data"
        severity = "critical"
        attack = "T1505.003"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $page = "<%@ Page" ascii wide nocase
        $psi = "ProcessStartInfo" ascii wide
        $start = "Process.Start(" ascii wide
        $cmd = "cmd.exe" ascii wide nocase
        $ps = "powershell" ascii wide nocase
        $req1 = "Request.Form" ascii wide
        $req2 = "Request.QueryString" ascii wide
        $req3 = "Request.Item" ascii wide
        $req4 = "Request[" ascii wide
    condition:
        // the page's own code: within 64 KiB after its <%@ Page directive
        for any i in (1..math.min(#page, 100)) : (
            (#psi in (@page[i] .. @page[i] + 65536) > 0 or #start in (@page[i] .. @page[i] + 65536) > 0) and
            (#cmd in (@page[i] .. @page[i] + 65536) > 0 or #ps in (@page[i] .. @page[i] + 65536) > 0) and
            (#req1 in (@page[i] .. @page[i] + 65536) > 0 or #req2 in (@page[i] .. @page[i] + 65536) > 0 or
             #req3 in (@page[i] .. @page[i] + 65536) > 0 or #req4 in (@page[i] .. @page[i] + 65536) > 0))
}

rule Webshell_JSP_Command_Exec
{
    meta:
        description = "JSP webshell: Runtime.exec of a request parameter"
        severity = "critical"
        attack = "T1505.003"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /Runtime\.getRuntime\(\)\.exec\( {0,2}request\.getParameter\(/ ascii nocase
        $b = /new ProcessBuilder\([^\r\n]{0,80}request\.getParameter\(/ ascii nocase
    condition:
        any of them
}

rule Webshell_Known_Kits
{
    meta:
        description = "Strings of well-known webshell kits (WSO FilesMan, c99, r57)"
        severity = "critical"
        attack = "T1505.003"
        reference = "https://attack.mitre.org/techniques/T1505/003/"
        date = "2026-11-25"
        author = "triage"
    strings:
        // WSO names its default action 'FilesMan' (quoted) and its handler actionFilesMan(). The bare
        // word is also a piece of benign Windows names (the COM interface
        // IVsSharedMSBuildFilesManagerHierarchy in SYSTEM/SOFTWARE hives): never match it alone.
        $wso1 = "'FilesMan'" ascii wide
        $wso2 = "\"FilesMan\"" ascii wide
        $wso3 = "actionFilesMan" ascii wide fullword
        $wso4 = "WSO_VERSION" ascii wide fullword
        $c99 = "c99shell" ascii wide nocase fullword
        $r57 = "r57shell" ascii wide nocase fullword
    condition:
        uint16(0) != 0x5A4D and any of them
}
