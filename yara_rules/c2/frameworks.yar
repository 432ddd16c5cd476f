// Other C2 frameworks: Sliver, Metasploit Meterpreter.

rule C2_Sliver_Implant
{
    meta:
        description = "Sliver implant (Go package paths and protobuf names of the framework)"
        severity = "critical"
        attack = "T1071.001"
        reference = "https://github.com/BishopFox/sliver"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = "github.com/bishopfox/sliver" ascii nocase
        $b = "sliverpb" ascii
        $c = "sliver/protobuf/" ascii
        $d = "implant/sliver/" ascii
    condition:
        any of them
}

rule C2_Metasploit_Meterpreter
{
    meta:
        description = "Metasploit Meterpreter components (metsrv, stdapi extension commands)"
        severity = "critical"
        attack = "T1071.001"
        reference = "https://github.com/rapid7/metasploit-payloads"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = "metsrv.dll" ascii wide nocase
        $b = "ext_server_stdapi" ascii wide
        $c = "stdapi_sys_process_execute" ascii wide
        $d = "stdapi_fs_file" ascii wide
        $e = "core_channel_open" ascii wide
        $f = "ReflectiveLoader" ascii
    condition:
        2 of them
}

rule C2_Metasploit_PowerShell_Payload
{
    meta:
        description = "msfvenom PowerShell payload: gzip+base64 blob decompressed into memory"
        severity = "high"
        attack = "T1059.001, T1027"
        reference = "https://github.com/rapid7/metasploit-framework/tree/master/lib/msf/core/exploit/powershell"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = /IO\.MemoryStream\(,\[(System\.)?Convert\]::FromBase64String\(/ ascii nocase
        $b = "IO.Compression.GzipStream" ascii wide nocase
        $c = "IO.Compression.CompressionMode]::Decompress" ascii wide nocase
    condition:
        $a and ($b or $c)
}
