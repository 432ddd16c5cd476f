// In-memory loading from PowerShell: .NET assemblies from base64, shellcode runners.

import "math"  // math.min: proximity checks look at the first 100 places of a string at most

rule PS_Reflective_Assembly_Load
{
    meta:
        description = "PowerShell loads a .NET assembly from a base64 or downloaded byte array"
        severity = "high"
        attack = "T1620, T1059.001"
        reference = "https://attack.mitre.org/techniques/T1620/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $load = /Reflection\.Assembly\]::Load\(/ ascii nocase
        $b64 = "FromBase64String" ascii wide nocase
        $dl = ".DownloadData(" ascii wide nocase
    condition:
        uint16(0) != 0x5A4D and $load and ($b64 or $dl)
}

rule PS_Shellcode_Runner
{
    meta:
        description = "PowerShell shellcode runner (VirtualAlloc + delegate for a function pointer / CreateThread)"
        severity = "high"
        attack = "T1055, T1059.001"
        reference = "https://attack.mitre.org/techniques/T1055/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $alloc = "VirtualAlloc" ascii wide
        $deleg = "GetDelegateForFunctionPointer" ascii wide nocase
        $thread = "CreateThread" ascii wide
        $addtype = "Add-Type" ascii wide nocase
        $dllimport = "DllImport(\"kernel32" ascii wide nocase
    condition:
        // near each other (64 KiB, one script's worth): a raw event log holds many unrelated scripts
        uint16(0) != 0x5A4D and for any i in (1..math.min(#alloc, 100)) : (
            #deleg in (@alloc[i] - 65536 .. @alloc[i] + 65536) > 0 or
            (#thread in (@alloc[i] - 65536 .. @alloc[i] + 65536) > 0 and
             (#addtype in (@alloc[i] - 65536 .. @alloc[i] + 65536) > 0 or
              #dllimport in (@alloc[i] - 65536 .. @alloc[i] + 65536) > 0)))
}
