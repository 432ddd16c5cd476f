"""WMI-Activity 5857-5861 are typed by the event parser's table (the corpus holds no WMI-Activity log:
the UserData below is laid out as the provider's manifest and the EVTX JSON rendering give it)."""

from __future__ import annotations

from triage.parsers.evtx import events as ee
from triage.parsers.evtx.wmi import PROVIDER

USERDATA_5861 = {"Operation_ESStoConsumerBinding": {
    "Namespace": "//./root/subscription",
    "ESS": "UpdaterFilter",
    "CONSUMER": "CommandLineEventConsumer=\"Updater\"",
    "PossibleCause": "Binding EventFilter: instance of __EventFilter { Name = \"UpdaterFilter\"; Query = "
                     "\"SELECT * FROM __InstanceModificationEvent WITHIN 60\"; }; Perm. Consumer: instance of "
                     "CommandLineEventConsumer { CommandLineTemplate = \"powershell.exe -enc SQBFAFgA\"; };"}}


def test_wmi_activity_ids_are_notable():
    for eid in (5857, 5858, 5859, 5860, 5861):
        assert (PROVIDER, eid) in ee.NOTABLE and eid in ee.NOTABLE_IDS
        assert ee.NOTABLE[(PROVIDER, eid)].category == "wmi"
    assert (PROVIDER, 5862) not in ee.NOTABLE  # only the ids this module owns


def test_wmi_5861_permanent_consumer_fields():
    spec = ee.NOTABLE[(PROVIDER, 5861)]
    f = spec.extract(ee.payload_data(None, USERDATA_5861))
    assert f["namespace"] == "//./root/subscription" and f["filter"] == "UpdaterFilter"
    assert f["consumer"] == "CommandLineEventConsumer=\"Updater\""
    assert "powershell.exe -enc SQBFAFgA" in f["possible_cause"]
    assert spec.describe(f) == ("WMI permanent event consumer bound in //./root/subscription: "
                                "CommandLineEventConsumer=\"Updater\" to UpdaterFilter")


def test_wmi_5857_5858_fields_and_caps():
    f = ee.NOTABLE[(PROVIDER, 5857)].extract(ee.payload_data(None, {"Operation_StartedOperational": {
        "ProviderName": "Evil", "Code": "0x0", "HostProcess": "wmiprvse.exe", "ProcessID": "2468",
        "ProviderPath": "C:\\Users\\Public\\evil.dll"}}))
    assert (f["provider"], f["pid"], f["provider_path"]) == ("Evil", 2468, "C:\\Users\\Public\\evil.dll")
    f = ee.NOTABLE[(PROVIDER, 5858)].extract(ee.payload_data(None, {"Operation_ClientFailure": {
        "Id": "{1}", "ClientMachine": "WS01", "User": "CORP\\bob", "ClientProcessId": "77", "Component": "Unknown",
        "Operation": "Start IWbemServices::ExecQuery - root\\cimv2 : " + "x" * 10_000, "ResultCode": "0x80041017",
        "PossibleCause": "Unknown"}}))
    assert f["user"] == "CORP\\bob" and f["pid"] == 77 and f["result_code"] == "0x80041017"
    assert len(f["operation"]) == 4096  # hostile sizes are cut
