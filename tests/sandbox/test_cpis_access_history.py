"""The sandbox's CP-IS access history is capped as CP-IS caps it: the 25 most recent accesses,
most recent first, no older page and no total promising more (a real loopback server, read
both raw and through the toolkit's CP-IS API client)."""

from __future__ import annotations

import json

import httpx

from interop.fixtures import load_manifest
from interop.identifiers import NHS_NUMBER_SYSTEM
from interop.sandbox.fhir_server.bundles import to_transaction
from interop.sandbox.fhir_server.running import running_server
from interop.transport.cpis_api import ACCESS_HISTORY_INCLUDE, ACCESS_HISTORY_LIMIT, CpisApi
from interop.transport.fhir_client import FhirClient

ACCESSES = ACCESS_HISTORY_LIMIT + 5


def _flag_bundle() -> dict[str, object]:
    fixture = next(
        f
        for f in load_manifest()
        if f.expect == "valid" and f.format == "fhir-json"
        and f.path.endswith("child-protection-flag/lac-s31.json")
    )  # fmt: skip
    return dict(json.loads(fixture.read_bytes()))


def test_the_access_history_is_the_25_most_recent() -> None:
    bundle = _flag_bundle()
    nhs = next(
        i["value"]
        for e in bundle["entry"]  # type: ignore[attr-defined]
        if e["resource"]["resourceType"] == "Patient"
        for i in e["resource"]["identifier"]
        if i["system"] == NHS_NUMBER_SYSTEM
    )
    lookup = {"patient:identifier": f"{NHS_NUMBER_SYSTEM}|{nhs}"}
    with running_server() as base, httpx.Client(base_url=base, timeout=30) as http:
        assert http.post("", json=to_transaction(bundle)).status_code == 200
        for n in range(ACCESSES):
            headers = {
                "IsUnscheduledAccessEvent": "true",
                "NHSD-End-User-Organisation-ODS": f"R{n:02d}",
            }
            assert http.get("/CareTeam", params=lookup, headers=headers).status_code == 200
        # every access is stored: a plain search pages through all of them
        plain = http.get("/AuditEvent", params={**lookup, "_summary": "count"}).json()
        assert plain["total"] == ACCESSES

        history = http.get(
            "/AuditEvent", params={**lookup, "_include": ACCESS_HISTORY_INCLUDE, "_count": "100"}
        ).json()
        assert "total" not in history
        assert [link["relation"] for link in history["link"]] == ["self"]
        who = [e["resource"]["agent"][0]["who"]["identifier"]["value"] for e in history["entry"]]
        # the most recent first: the last accessor first, the five oldest left out
        assert who == [f"R{n:02d}" for n in reversed(range(5, ACCESSES))]

        fewer = http.get(
            "/AuditEvent", params={**lookup, "_include": ACCESS_HISTORY_INCLUDE, "_count": "3"}
        ).json()
        assert len(fewer["entry"]) == 3

        with FhirClient(base) as client:
            events = CpisApi(client).audit_events(nhs)
        assert len(events) == ACCESS_HISTORY_LIMIT
        assert events[0]["agent"][0]["who"]["identifier"]["value"] == f"R{ACCESSES - 1:02d}"
