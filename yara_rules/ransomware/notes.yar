// Ransom notes: the phrases and the payment instructions they carry.

rule Ransom_Note_Phrases
{
    meta:
        description = "Ransom note wording (your files have been encrypted, to decrypt your files...)"
        severity = "critical"
        attack = "T1486"
        reference = "https://attack.mitre.org/techniques/T1486/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $a = "your files have been encrypted" ascii wide nocase
        $b = "all your files are encrypted" ascii wide nocase
        $c = "your files are encrypted" ascii wide nocase
        $d = "all of your files have been encrypted" ascii wide nocase
        $e = "your network has been penetrated" ascii wide nocase
        $f = "files have been encrypted by" ascii wide nocase
        $g = /to decrypt (your|all) files[^\r\n]{0,200}(bitcoin|BTC|private key|decryptor|decryption tool)/ ascii nocase
    condition:
        any of them
}

rule Ransom_Note_Payment
{
    meta:
        description = "Payment instructions of a ransom note: a Tor .onion address with a bitcoin address or wording"
        severity = "high"
        attack = "T1486"
        reference = "https://attack.mitre.org/techniques/T1486/"
        date = "2026-11-25"
        author = "triage"
    strings:
        $onion = /[a-z2-7]{16}([a-z2-7]{40})?\.onion/ ascii
        $tor = "Tor Browser" ascii wide nocase
        $btc1 = "bitcoin" ascii wide nocase
        $btc2 = /\bbc1q[a-z0-9]{38,58}\b/ ascii
        $key = "decrypt" ascii wide nocase
    condition:
        filesize < 1MB and $onion and ($tor or any of ($btc*)) and $key
}
