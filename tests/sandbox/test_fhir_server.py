"""The FHIR sandbox end to end: a real server on 127.0.0.1 (``running_server``), plain httpx."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interop.fhir.structure import check_structure
from interop.fixtures import load_manifest
from interop.identifiers import NHS_NUMBER_SYSTEM
from interop.sandbox.fhir_server.bundles import to_transaction
from interop.sandbox.fhir_server.running import running_server

pytestmark = pytest.mark.integration

FHIR_JSON = "application/fhir+json"
NHS = NHS_NUMBER_SYSTEM
TEST_SYSTEM = "https://example.org/Id/test"
PLAN_TYPE = "https://fhir.safeguarding-interop.org/CodeSystem/plan-type"
FLAG_CATEGORY = "https://fhir.nhs.uk/England/CodeSystem/PatientFlagCategory"

JSON = dict[str, Any]


@pytest.fixture(scope="module")
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fhir-audit") / "audit.log"


@pytest.fixture(scope="module")
def base(audit_log: Path) -> Iterator[str]:
    with running_server(audit_log=audit_log) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, headers={"Content-Type": FHIR_JSON}, timeout=30) as c:
        yield c


def patient(nhs: str = "9434765919", *, tag: str | None = None) -> JSON:
    resource: JSON = {
        "resourceType": "Patient",
        "identifier": [{"system": NHS, "value": nhs}],
        "name": [{"family": "Testpatient", "given": ["Synthetic"]}],
        "birthDate": "2015-03-02",
    }
    if tag:
        resource["identifier"].append({"system": TEST_SYSTEM, "value": tag})
    return resource


def flag(subject: str, *, tag: str, status: str = "active", plan: str = "CPP") -> JSON:
    return {
        "resourceType": "Flag",
        "identifier": [{"system": TEST_SYSTEM, "value": tag}],
        "status": status,
        "code": {
            "coding": [
                {"system": FLAG_CATEGORY, "code": "CP-IS"},
                {"system": PLAN_TYPE, "code": plan},
            ]
        },
        "subject": {"reference": subject},
    }


def issues(response: httpx.Response) -> list[JSON]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert response.headers["content-type"].startswith(FHIR_JSON)
    return list(body["issue"])


def entries(bundle: JSON) -> list[JSON]:
    return list(bundle.get("entry", []))


def ids(bundle: JSON) -> list[str]:
    return [e["resource"]["id"] for e in entries(bundle) if e["search"]["mode"] == "match"]


def tag() -> str:
    return uuid.uuid4().hex


# --- metadata --------------------------------------------------------------------------------


def test_metadata_is_a_valid_capability_statement_that_says_sandbox(client: httpx.Client) -> None:
    response = client.get("/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    statement = response.json()
    assert check_structure(statement) == []
    assert statement["fhirVersion"] == "4.0.1"
    assert "sandbox" in statement["description"].lower()
    assert "not a production server" in statement["description"].lower()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    care_team_params = {p["name"] for p in resources["CareTeam"]["searchParam"]}
    assert {"patient", "status", "category", "identifier"} <= care_team_params
    assert "code" not in care_team_params  # CareTeam has no code element
    assert "OperationOutcome" not in resources
    assert statement["implementation"]["url"] == str(client.base_url).rstrip("/")


def test_a_fresh_sandbox_answers_metadata_without_loading_the_resource_models() -> None:
    """The first GET /metadata once imported every R4 resource model (132 modules, 1-2 s
    idle, several seconds on a busy machine) to list search parameters: a first pull against
    a fresh sandbox waited for it. A fresh interpreter, so no other test has loaded them."""
    script = (
        "import sys, httpx\n"
        "from interop.sandbox.fhir_server.running import running_server\n"
        "with running_server() as base:\n"
        "    statement = httpx.get(base + '/metadata', timeout=60).json()\n"
        "models = [m for m in sys.modules if m.startswith('fhir.resources.R4B.')]\n"
        "print(statement['resourceType'], len(statement['rest'][0]['resource']), len(models))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["CapabilityStatement", "126", "0"]


# --- create, read, vread, update -------------------------------------------------------------


def test_create_read_vread_update_history(client: httpx.Client) -> None:
    created = client.post("/Patient", json={**patient(tag=tag()), "id": "ignored"})
    assert created.status_code == 201
    body = created.json()
    pid = body["id"]
    assert pid != "ignored"  # a POST's id is the server's
    assert body["meta"]["versionId"] == "1"
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["location"].endswith(f"/fhir/Patient/{pid}/_history/1")

    read = client.get(f"/Patient/{pid}")
    assert read.status_code == 200
    assert read.json() == body
    assert read.headers["etag"] == 'W/"1"'
    assert read.headers["last-modified"].endswith("GMT")

    changed = {**body, "gender": "female"}
    updated = client.put(f"/Patient/{pid}", json=changed)
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    assert updated.headers["etag"] == 'W/"2"'

    old = client.get(f"/Patient/{pid}/_history/1")
    assert old.status_code == 200
    assert "gender" not in old.json()
    assert client.get(f"/Patient/{pid}/_history/2").json()["gender"] == "female"
    assert client.get(f"/Patient/{pid}/_history/3").status_code == 404

    history = client.get(f"/Patient/{pid}/_history").json()
    assert history["type"] == "history"
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']


def test_update_with_identical_content_writes_no_new_version(client: httpx.Client) -> None:
    pid = f"same-{tag()}"
    first = client.put(f"/Patient/{pid}", json={**patient(), "id": pid})
    assert first.status_code == 201  # update as create, with the client's id
    again = client.put(f"/Patient/{pid}", json={**patient(), "id": pid})
    assert again.status_code == 200
    assert again.headers["etag"] == 'W/"1"'
    # the server's own meta does not count as a change either
    echoed = client.put(f"/Patient/{pid}", json=first.json())
    assert echoed.headers["etag"] == 'W/"1"'
    assert len(client.get(f"/Patient/{pid}/_history").json()["entry"]) == 1


def test_if_match_guards_updates(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=patient()).json()["id"]
    resource = {**patient(), "id": pid, "gender": "male"}
    stale = client.put(f"/Patient/{pid}", json=resource, headers={"If-Match": 'W/"7"'})
    assert stale.status_code == 412
    assert issues(stale)[0]["code"] == "conflict"
    fresh = client.put(f"/Patient/{pid}", json=resource, headers={"If-Match": 'W/"1"'})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == 'W/"2"'
    bad = client.put(f"/Patient/{pid}", json=resource, headers={"If-Match": "yesterday"})
    assert bad.status_code == 400


def test_put_needs_the_url_id_in_the_body(client: httpx.Client) -> None:
    response = client.put("/Patient/abc", json={**patient(), "id": "xyz"})
    assert response.status_code == 400
    assert issues(response)[0]["expression"] == ["Patient.id"]


def test_delete_then_read_is_gone(client: httpx.Client) -> None:
    pid = client.post("/Patient", json=patient()).json()["id"]
    assert client.delete(f"/Patient/{pid}").status_code == 204
    gone = client.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert issues(gone)[0]["code"] == "deleted"
    assert client.delete(f"/Patient/{pid}").status_code == 204  # already deleted
    assert client.get(f"/Patient/{pid}/_history/1").status_code == 200
    assert client.delete("/Patient/never-was").status_code == 404


# --- conditional create and update -----------------------------------------------------------


def test_conditional_create_is_idempotent(client: httpx.Client) -> None:
    marker = tag()
    condition = {"If-None-Exist": f"identifier={TEST_SYSTEM}|{marker}"}
    first = client.post("/Patient", json=patient(tag=marker), headers=condition)
    second = client.post("/Patient", json=patient(tag=marker), headers=condition)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["etag"] == 'W/"1"'
    found = client.get("/Patient", params={"identifier": f"{TEST_SYSTEM}|{marker}"}).json()
    assert found["total"] == 1


def conditional_write(
    base: str, how: str, marker: str, barrier: threading.Barrier, answers: list[httpx.Response]
) -> None:
    """Create the Patient tagged ``marker`` conditionally, once ``barrier`` lets go."""
    query = f"identifier={TEST_SYSTEM}|{marker}"
    with httpx.Client(base_url=base, headers={"Content-Type": FHIR_JSON}, timeout=30) as c:
        barrier.wait(timeout=30)
        if how == "create":
            answer = c.post("/Patient", json=patient(tag=marker), headers={"If-None-Exist": query})
        elif how == "update":
            answer = c.put(f"/Patient?{query}", json=patient(tag=marker))
        else:
            request = {"method": "POST", "url": "Patient", "ifNoneExist": query}
            entry = {"resource": patient(tag=marker), "request": request}
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
            answer = c.post("", json=bundle)
        answers.append(answer)


@pytest.mark.parametrize("how", ["create", "update", "transaction"])
def test_concurrent_conditional_writes_make_one_resource(base: str, how: str) -> None:
    """Eight clients at once, released by one barrier, each creating the same Patient
    conditionally (``If-None-Exist``, ``PUT Patient?identifier=``, or a transaction's
    ``ifNoneExist``): the server resolves each condition atomically (R4 http.html#ccreate),
    so exactly one is created, and every answer is that one; several rounds."""
    for _ in range(4):
        marker, barrier, answers = tag(), threading.Barrier(8), []
        threads = [
            threading.Thread(target=conditional_write, args=(base, how, marker, barrier, answers))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert [a.status_code for a in answers if a.status_code not in (200, 201)] == []
        found = httpx.get(f"{base}/Patient", params={"identifier": f"{TEST_SYSTEM}|{marker}"})
        (held,) = [e["resource"]["id"] for e in found.json().get("entry", [])]
        if how == "transaction":
            written = {a.json()["entry"][0]["response"]["location"] for a in answers}
            assert {w.split("/")[1] for w in written} == {held}
        else:
            assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
            assert {a.json()["id"] for a in answers} == {held}


def test_conditional_update_creates_then_updates_then_refuses_ambiguity(
    client: httpx.Client,
) -> None:
    marker = tag()
    url = f"/Patient?identifier={TEST_SYSTEM}|{marker}"
    created = client.put(url, json=patient(tag=marker))
    assert created.status_code == 201
    pid = created.json()["id"]
    same = client.put(url, json=patient(tag=marker))
    assert same.status_code == 200
    assert (same.json()["id"], same.headers["etag"]) == (pid, 'W/"1"')
    changed = client.put(url, json={**patient(tag=marker), "gender": "other"})
    assert (changed.json()["id"], changed.headers["etag"]) == (pid, 'W/"2"')
    client.post("/Patient", json=patient(tag=marker))  # now two match
    ambiguous = client.put(url, json=patient(tag=marker))
    assert ambiguous.status_code == 412


# --- transactions ----------------------------------------------------------------------------


def test_transaction_resolves_urn_uuid_references(client: httpx.Client) -> None:
    marker = tag()
    patient_url, flag_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": flag_url,
                "resource": flag(patient_url, tag=marker),
                "request": {"method": "POST", "url": "Flag"},
            },
            {
                "fullUrl": patient_url,
                "resource": patient("9434765870"),
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    response = client.post("", json=bundle)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "transaction-response"
    flag_location, patient_location = (e["response"]["location"] for e in answer["entry"])
    assert flag_location.startswith("Flag/")
    assert patient_location.startswith("Patient/")
    stored_flag = client.get("/" + flag_location.split("/_history")[0]).json()
    assert stored_flag["subject"]["reference"] == patient_location.split("/_history")[0]
    # the Flag was written before its Patient in the request: still found by NHS number
    found = client.get(
        "/Flag",
        params={"patient.identifier": f"{NHS}|9434765870", "identifier": f"{TEST_SYSTEM}|{marker}"},
    ).json()
    assert ids(found) == [stored_flag["id"]]


def test_transaction_conditional_entries_follow_r4(client: httpx.Client) -> None:
    """R4 http.html#trules: a conditional update (PUT Type?criteria) and a conditional create
    (POST with ifNoneExist) in a transaction, referring to each other by urn:uuid. Sent again:
    the same resources, 200, no new version. Criteria matching two resources: 412, nothing
    written."""
    marker = tag()
    patient_url, flag_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    criteria = f"identifier={TEST_SYSTEM}|{marker}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": flag_url,
                "resource": flag(patient_url, tag=marker),
                "request": {"method": "POST", "url": "Flag", "ifNoneExist": criteria},
            },
            {
                "fullUrl": patient_url,
                "resource": patient("9434765870", tag=marker),
                "request": {"method": "PUT", "url": f"Patient?{criteria}"},
            },
        ],
    }
    first = client.post("", json=bundle)
    assert first.status_code == 200, first.text
    created = [e["response"] for e in first.json()["entry"]]
    assert [r["status"][:3] for r in created] == ["201", "201"]
    again = client.post("", json=bundle)
    assert again.status_code == 200, again.text
    answered = [e["response"] for e in again.json()["entry"]]
    assert [r["status"][:3] for r in answered] == ["200", "200"]
    assert [r["location"] for r in answered] == [r["location"] for r in created]
    assert all(r["etag"] == 'W/"1"' for r in answered)
    stored = client.get("/" + created[0]["location"].split("/_history")[0]).json()
    assert stored["subject"]["reference"] == created[1]["location"].split("/_history")[0]
    client.post("/Patient", json=patient("9434765870", tag=marker))  # now two match
    ambiguous = client.post("", json=bundle)
    assert ambiguous.status_code == 412, ambiguous.text
    found = client.get("/Flag", params={"identifier": f"{TEST_SYSTEM}|{marker}"}).json()
    assert len(ids(found)) == 1  # nothing written


def test_transaction_is_all_or_nothing_on_an_invalid_entry(client: httpx.Client) -> None:
    marker = tag()
    bad_flag = {**flag("Patient/x", tag=marker), "colour": "red", "status": 5}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(tag=marker), "request": {"method": "POST", "url": "Patient"}},
            {"resource": bad_flag, "request": {"method": "POST", "url": "Flag"}},
        ],
    }
    response = client.post("", json=bundle)
    assert response.status_code == 422
    found = issues(response)
    assert len(found) >= 2  # every issue, not the first
    expressions = [e for i in found for e in i["expression"]]
    assert any(e.startswith("Bundle.entry[1].resource.ofType(Flag).colour") for e in expressions)
    assert any(e.startswith("Bundle.entry[1].resource.ofType(Flag).status") for e in expressions)
    assert all(i["severity"] == "error" and i["diagnostics"] for i in found)
    stored = client.get("/Patient", params={"identifier": f"{TEST_SYSTEM}|{marker}"}).json()
    assert stored["total"] == 0


def test_transaction_rolls_back_when_a_later_entry_fails(client: httpx.Client) -> None:
    marker = tag()
    pid = client.post("/Patient", json=patient()).json()["id"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(tag=marker), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {**patient(), "id": pid, "gender": "male"},
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"9"'},
            },
        ],
    }
    response = client.post("", json=bundle)
    assert response.status_code == 412
    assert "entry 1" in issues(response)[0]["diagnostics"]
    assert (
        client.get("/Patient", params={"identifier": f"{TEST_SYSTEM}|{marker}"}).json()["total"]
        == 0
    )


def test_transaction_refuses_two_writes_of_one_resource_and_unresolved_urns(
    client: httpx.Client,
) -> None:
    twice = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {**patient(), "id": "dup"},
                "request": {"method": "PUT", "url": "Patient/dup"},
            }
        ]
        * 2,
    }
    assert client.post("", json=twice).status_code == 409
    dangling = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": flag(f"urn:uuid:{uuid.uuid4()}", tag=tag()),
                "request": {"method": "POST", "url": "Flag"},
            }
        ],
    }
    response = client.post("", json=dangling)
    assert response.status_code == 400
    assert issues(response)[0]["expression"] == [
        "Bundle.entry[0].resource.ofType(Flag).subject.reference"
    ]


def test_batch_answers_each_entry(client: httpx.Client) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {**patient(), "birthDate": "not a date"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/never-was"}},
        ],
    }
    response = client.post("", json=bundle)
    assert response.status_code == 200
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "404 Not Found"]
    outcome = response.json()["entry"][1]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == [
        "Bundle.entry[1].resource.ofType(Patient).birthDate"
    ]


def test_a_document_bundle_is_refused_with_a_pointer_to_transactions(client: httpx.Client) -> None:
    response = client.post("", json={"resourceType": "Bundle", "type": "collection"})
    assert response.status_code == 400
    assert "transaction" in issues(response)[0]["diagnostics"]


# --- the toolkit's fixtures ------------------------------------------------------------------

VALID_FHIR = [f for f in load_manifest() if f.format == "fhir-json" and f.expect == "valid"]


def _subject_nhs_number(bundle: JSON) -> str:
    patients = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert len(patients) == 1
    return next(i["value"] for i in patients[0]["identifier"] if i["system"] == NHS)


def test_every_valid_fixture_bundle_is_stored_and_found_by_nhs_number(
    client: httpx.Client,
) -> None:
    assert len(VALID_FHIR) >= 20
    for fixture in VALID_FHIR:
        bundle = json.loads(fixture.read_bytes())
        response = client.post("", json=to_transaction(bundle))
        assert response.status_code == 200, (fixture.path, response.text[:2000])
        statuses = {e["response"]["status"] for e in response.json()["entry"]}
        assert statuses <= {"201 Created", "200 OK"}
        nhs = _subject_nhs_number(bundle)
        # a Task names its patient in ``for``, other resources in ``subject``
        about_patient = [
            e["resource"]
            for e in bundle["entry"]
            if "subject" in e["resource"] or "for" in e["resource"]
        ]
        assert about_patient, fixture.path
        for resource in about_patient:
            kind = resource["resourceType"]
            found = client.get(f"/{kind}", params={"patient:identifier": f"{NHS}|{nhs}"}).json()
            assert resource["id"] in ids(found), (fixture.path, kind)
        # references inside the stored resources now point at stored resources
        first = about_patient[0]
        stored = client.get(f"/{first['resourceType']}/{first['id']}").json()
        assert (stored.get("subject") or stored["for"])["reference"].startswith("Patient/")


def test_a_repeated_fixture_transaction_creates_no_new_versions(client: httpx.Client) -> None:
    bundle = json.loads(VALID_FHIR[0].read_bytes())
    transaction = to_transaction(bundle)
    client.post("", json=transaction)
    again = client.post("", json=transaction).json()
    assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
    for item in bundle["entry"]:
        resource = item["resource"]
        history = client.get(f"/{resource['resourceType']}/{resource['id']}/_history").json()
        assert history["total"] == 1


def test_cpis_search_reads_back_as_the_flag_artefact(client: httpx.Client) -> None:
    from interop.artefact_json import parse_artefact
    from interop.mappings.fhir import fhir_to_artefact

    fixture = next(
        f for f in VALID_FHIR if f.path.endswith("child-protection-flag/cpp-active.json")
    )
    bundle = json.loads(fixture.read_bytes())
    client.post("", json=to_transaction(bundle))
    care_team = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CareTeam"
    )
    found = client.get(
        "/CareTeam",
        params=[
            ("patient:identifier", f"{NHS}|{_subject_nhs_number(bundle)}"),
            ("_id", care_team["id"]),
            ("_include", "CareTeam:subject"),
            ("_include", "CareTeam:managingOrganization"),
        ],
    ).json()
    modes = sorted(e["search"]["mode"] for e in found["entry"])
    assert modes == ["include", "include", "match"]
    assert fixture.twin_of is not None
    twin = next(f for f in load_manifest() if f.path == fixture.twin_of)
    expected = parse_artefact(twin.read_bytes()).artefact
    assert fhir_to_artefact(found) == expected


# --- search ----------------------------------------------------------------------------------


def test_search_by_code_status_and_last_updated(client: httpx.Client) -> None:
    marker = tag()
    subject = f"Patient/{client.post('/Patient', json=patient()).json()['id']}"
    active = client.post("/Flag", json=flag(subject, tag=marker)).json()
    ended = client.post(
        "/Flag", json=flag(subject, tag=marker, status="inactive", plan="LAC")
    ).json()
    mine = {"identifier": f"{TEST_SYSTEM}|{marker}"}

    def found(**params: str) -> list[str]:
        response = client.get("/Flag", params={**mine, **params})
        assert response.status_code == 200, response.text
        return sorted(ids(response.json()))

    both = sorted([active["id"], ended["id"]])
    assert found() == both
    assert found(code=f"{PLAN_TYPE}|CPP") == [active["id"]]
    assert found(code="LAC") == [ended["id"]]  # any system
    assert found(code=f"{PLAN_TYPE}|") == both  # any code of the system
    assert found(code=f"{PLAN_TYPE}|CPP,{PLAN_TYPE}|LAC") == both  # OR
    assert found(code="|CPP") == []  # no system: none here
    assert found(status="inactive") == [ended["id"]]
    stamp = ended["meta"]["lastUpdated"]
    assert found(_lastUpdated=f"le{stamp}") == both
    assert found(_lastUpdated=f"gt{stamp}") == []
    assert found(_lastUpdated=f"ge{stamp}") == [ended["id"]]
    assert found(_lastUpdated=f"lt{stamp}") == [active["id"]]
    assert found(_lastUpdated=stamp[:10]) == both  # the whole day
    assert found(_lastUpdated="gt2999-01-01") == []


def test_search_refuses_what_it_cannot_run(client: httpx.Client) -> None:
    for params in (
        {"name": "Smith"},
        {"code:text": "plan"},
        {"_lastUpdated": "xx2024"},
        {"_lastUpdated": "2024-13-45"},
        {"_count": "many"},
        {"_cursor": "1"},
        {"_include": "Flag:subject"},
        {"patient:identifier": f"{NHS}|9434765918"},  # wrong check digit
    ):
        response = client.get("/CareTeam", params=params, headers={"Prefer": "handling=strict"})
        assert response.status_code == 400, params
        assert issues(response)[0]["diagnostics"]


def test_search_ignores_unknown_parameters_and_says_so(client: httpx.Client) -> None:
    """Lenient handling (FHIR's default): an unsupported parameter is left out and listed in
    an OperationOutcome entry; a bad value of a supported one is still a 400."""
    response = client.get("/CareTeam", params={"name": "Smith", "_count": "1"})
    assert response.status_code == 200, response.text
    outcomes = [
        e["resource"] for e in response.json().get("entry", []) if e["search"]["mode"] == "outcome"
    ]
    assert [i["diagnostics"][:5] for i in outcomes[0]["issue"]] == ["name:"]
    assert client.get("/CareTeam", params={"_count": "many"}).status_code == 400
    counted = client.get("/CareTeam", params={"_summary": "count"}).json()
    assert "entry" not in counted
    assert isinstance(counted["total"], int)


def test_paging_has_no_duplicates_or_gaps_while_writes_continue(tmp_path: Path) -> None:
    marker = tag()
    kept = [
        {**patient(), "identifier": [{"system": TEST_SYSTEM, "value": f"{marker}-{i}"}]}
        for i in range(1000)
    ]
    with running_server(page_size=50) as base, httpx.Client(base_url=base, timeout=60) as client:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": r, "request": {"method": "POST", "url": "Patient"}} for r in kept
            ],
        }
        assert client.post("", json=bundle, headers={"Content-Type": FHIR_JSON}).status_code == 200
        written: list[int] = []

        def write_more(count: int) -> None:
            """New matching Patients between two pages: a page must not shift because of them."""
            for _ in range(count):
                extra = {
                    **patient(),
                    "identifier": [{"system": TEST_SYSTEM, "value": f"{marker}-x"}],
                }
                written.append(
                    client.post(
                        "/Patient", json=extra, headers={"Content-Type": FHIR_JSON}
                    ).status_code
                )

        seen: list[str] = []
        url: str | None = f"{base}/Patient?identifier={TEST_SYSTEM}|&_count=100"
        pages = 0
        while url:
            page = client.get(url).json()
            assert page["total"] == 1000  # the snapshot of the first page
            seen.extend(ids(page))
            write_more(5)
            url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
            if url:
                assert url.startswith(f"{base}/Patient?")
                assert "_cursor=" in url
            pages += 1
        assert written
        assert set(written) == {201}
        assert pages == 10
        assert len(seen) == len(set(seen)) == 1000
        values = set()
        for pid in seen:
            resource = client.get(f"/Patient/{pid}").json()
            values.add(resource["identifier"][0]["value"])
        assert values == {f"{marker}-{i}" for i in range(1000)}
        # a new search sees what was added meanwhile
        now = client.get(f"{base}/Patient?identifier={TEST_SYSTEM}|&_count=1").json()
        assert now["total"] == 1000 + len(written)


# --- CP-IS -----------------------------------------------------------------------------------


def test_cpis_unscheduled_access_records_an_audit_event_only_when_true(
    client: httpx.Client, audit_log: Path
) -> None:
    fixture = next(f for f in VALID_FHIR if f.path.endswith("child-protection-flag/lac-s31.json"))
    bundle = json.loads(fixture.read_bytes())
    client.post("", json=to_transaction(bundle))
    nhs = _subject_nhs_number(bundle)
    lookup = {"patient:identifier": f"{NHS}|{nhs}"}
    care_team = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CareTeam"
    )

    def audit_events() -> list[JSON]:
        found = client.get("/AuditEvent", params=lookup).json()
        return [e["resource"] for e in entries(found)]

    silent = client.get("/CareTeam", params=lookup)
    assert ids(silent.json()) == [care_team["id"]]
    scheduled = client.get(
        "/CareTeam", params=lookup, headers={"IsUnscheduledAccessEvent": "false"}
    )
    assert ids(scheduled.json()) == [care_team["id"]]
    assert audit_events() == []

    headers = {"IsUnscheduledAccessEvent": "true", "NHSD-End-User-Organisation-ODS": "RR8"}
    unscheduled = client.get("/CareTeam", params=lookup, headers=headers)
    assert ids(unscheduled.json()) == [care_team["id"]]
    events = audit_events()
    assert len(events) == 1
    event = events[0]
    # the CP-IS subtype is outside R4's extensible audit-event-sub-type: a warning, no error
    assert [i for i in check_structure(event) if i.is_error] == []
    assert event["agent"][0]["who"]["identifier"]["value"] == "RR8"
    assert event["entity"][0]["what"]["identifier"] == {"system": NHS, "value": nhs}
    assert event["entity"][1]["what"]["reference"] == f"CareTeam/{care_team['id']}"
    assert "name" not in json.dumps(event)  # who, when, which child: nothing more

    log_text = audit_log.read_text(encoding="utf-8")
    assert nhs not in log_text
    line = json.loads(log_text.strip().splitlines()[-1])
    assert line["patient"] == f"*** *** {nhs[-4:]}"
    assert line["organisation_ods"] == "RR8"
    assert line["audit_event"] == f"AuditEvent/{event['id']}"

    no_org = client.get("/CareTeam", params=lookup, headers={"IsUnscheduledAccessEvent": "true"})
    assert no_org.status_code == 400
    assert issues(no_org)[0]["expression"] == ["NHSD-End-User-Organisation-ODS"]
    odd = client.get("/CareTeam", params=lookup, headers={"IsUnscheduledAccessEvent": "maybe"})
    assert odd.status_code == 400
    assert len(audit_events()) == 1


def test_unscheduled_lookup_of_a_child_not_on_cpis_records_nothing(client: httpx.Client) -> None:
    lookup = {"patient:identifier": f"{NHS}|9876543210"}
    headers = {"IsUnscheduledAccessEvent": "true", "NHSD-End-User-Organisation-ODS": "RR8"}
    response = client.get("/CareTeam", params=lookup, headers=headers)
    assert response.status_code == 200
    assert response.json()["total"] == 0
    assert client.get("/AuditEvent", params=lookup).json()["total"] == 0


# --- refusals --------------------------------------------------------------------------------


def test_an_invalid_resource_gets_422_listing_every_issue(client: httpx.Client) -> None:
    response = client.post(
        "/Patient", json={**patient(), "birthDate": "2015-02-30x", "favouriteColour": "blue"}
    )
    assert response.status_code == 422
    found = issues(response)
    assert {tuple(i["expression"]) for i in found} >= {
        ("Patient.birthDate",),
        ("Patient.favouriteColour",),
    }
    assert all(set(i) >= {"severity", "code", "expression", "diagnostics"} for i in found)


def test_a_custom_validator_decides_validity(tmp_path: Path) -> None:
    from interop.issues import IssueCode, error

    def no_flags(resource: JSON) -> list[Any]:
        if resource["resourceType"] == "Flag":
            return [error(IssueCode.BUSINESS_RULE, "Flag", "no flags today", rule_id="T1")]
        return []

    with running_server(validator=no_flags) as base:
        response = httpx.post(
            f"{base}/Flag",
            json=flag("Patient/x", tag=tag()),
            headers={"Content-Type": FHIR_JSON},
        )
        assert response.status_code == 422
        issue = issues(response)[0]
        assert issue["code"] == "business-rule"
        assert "rule T1" in issue["diagnostics"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/Patient/never-was", 404, "not-found"),
        ("GET", "/Nonsense/1", 404, "not-supported"),
        ("GET", "/OperationOutcome/1", 404, "not-supported"),
        ("POST", "/Patient/abc", 405, "not-supported"),
        ("GET", "/Patient/bad id!", 400, "invalid"),
        ("GET", "/Patient/x/_history/one", 404, "not-found"),
        ("GET", "/Patient/$everything", 404, "not-supported"),
        ("DELETE", "", 405, "not-supported"),
    ],
)
def test_errors_are_operation_outcomes(
    client: httpx.Client, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path, content=b"{}")
    assert response.status_code == status
    assert issues(response)[0]["code"] == code


def test_outside_the_fhir_base_is_a_404_outcome(base: str) -> None:
    response = httpx.get(base.removesuffix("/fhir") + "/nothing-here")
    assert response.status_code == 404
    assert issues(response)[0]["code"] == "not-found"


def _still_serving(client: httpx.Client) -> None:
    assert client.get("/metadata").status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, FHIR_JSON, 400, "too-costly"),
        (
            json.dumps(json.loads('{"a":' * 150 + "1" + "}" * 150)).encode(),
            FHIR_JSON,
            400,
            "too-costly",
        ),
        (
            b'{"resourceType": "Patient", "name": [{"family": "M\xfcller"}]}',
            FHIR_JSON,
            400,
            "invalid",
        ),
        (b'{"resourceType": "Patient"', FHIR_JSON, 400, "invalid"),
        (b"", FHIR_JSON, 400, "invalid"),
        (b'{"resourceType": "Patient", "resourceType": "Flag"}', FHIR_JSON, 400, "structure"),
        (b"[1, 2]", FHIR_JSON, 400, "structure"),
        (b'{"resourceType": "Patient"}', "text/plain", 415, "not-supported"),
        (b'<Patient xmlns="http://hl7.org/fhir"/>', "application/fhir+xml", 415, "not-supported"),
    ],
)
def test_hostile_input_is_refused_with_an_outcome(
    client: httpx.Client, body: bytes, content_type: str, status: int, code: str
) -> None:
    response = client.post("/Patient", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text[:500]
    assert issues(response)[0]["code"] == code
    _still_serving(client)


def test_a_huge_body_is_refused_with_413(client: httpx.Client) -> None:
    body = b'{"resourceType": "Patient", "text": "' + b"x" * (21 * 1024 * 1024) + b'"}'
    response = client.post("/Patient", content=body)
    assert response.status_code == 413
    assert issues(response)[0]["code"] == "too-costly"
    _still_serving(client)


def test_only_json_is_spoken(client: httpx.Client) -> None:
    xml = client.get("/metadata", headers={"Accept": "application/fhir+xml"})
    assert xml.status_code == 406
    assert issues(xml)[0]["code"] == "not-supported"
    assert client.get("/metadata", params={"_format": "xml"}).status_code == 406
    assert client.get("/metadata", params={"_format": "json"}).status_code == 200
    assert client.get("/metadata", headers={"Accept": "application/json"}).status_code == 200
    assert client.get("/metadata", headers={"Accept": "*/*"}).status_code == 200


def test_trace_ids_are_echoed_and_prefer_minimal_is_honoured(client: httpx.Client) -> None:
    response = client.post(
        "/Patient",
        json=patient(),
        headers={"X-Request-ID": "req-123", "Prefer": "return=minimal"},
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "req-123"
    assert response.content == b""
    assert response.headers["location"]


# --- persistence -----------------------------------------------------------------------------


def test_the_sandbox_persists_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite"
    with running_server(db) as base:
        created = httpx.post(
            f"{base}/Patient", json=patient(), headers={"Content-Type": FHIR_JSON}
        ).json()
        updated = httpx.put(
            f"{base}/Patient/{created['id']}",
            json={**created, "gender": "female"},
            headers={"Content-Type": FHIR_JSON},
        )
        assert updated.status_code == 200
    with running_server(db) as base:
        read = httpx.get(f"{base}/Patient/{created['id']}")
        assert read.status_code == 200
        assert read.headers["etag"] == 'W/"2"'
        found = httpx.get(f"{base}/Patient", params={"identifier": f"{NHS}|9434765919"}).json()
        assert found["total"] == 1
