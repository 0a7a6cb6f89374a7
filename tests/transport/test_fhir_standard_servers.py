"""The client's scenarios against two servers: the toolkit's own FHIR sandbox and an
independent FHIR R4 engine nobody here wrote (Medplum's fhir-router, tests/fhir_engine_server.py).

Each scenario runs against both: a server that follows the standard and not the client's
assumptions is what a trust integrator meets at a partner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner
from fhir_pull_support import as_pulled, nhs_of
from fhir_race_support import RACING, for_child, nhs_number, push_at_once

from interop.cli.main import cli
from interop.domain import ArtefactBase, ChildProtectionFlag
from interop.mappings.convert import read_artefact
from interop.mappings.fhir import artefact_to_fhir, fhir_to_artefact
from interop.sandbox.fhir_server.running import running_server
from interop.transport.bundles import assemble
from interop.transport.cpis_api import CpisApi
from interop.transport.fhir_client import (
    FhirClient,
    FhirError,
    FhirTransportError,
    UnsupportedWrite,
)
from interop.transport.fhir_records import PushConflict
from interop.transport.flags import PatientFlags

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "artefacts"
VALID = sorted((FIXTURES / "valid").glob("*/*.json"))
FLAG_FIXTURE = FIXTURES / "valid" / "child-protection-flag" / "cpp-active.json"
FLAG_NHS = "9404405434"
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
JSON = dict[str, Any]


def load(path: Path) -> ArtefactBase:
    return read_artefact(path.read_bytes())[1]


SERVERS: dict[str, str] = {}


@pytest.fixture(params=["sandbox", "engine"])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The base URL of the sandbox or of the independent engine, empty."""
    if request.param == "engine":
        base = request.getfixturevalue("fhir_engine")
        SERVERS[base] = "engine"
        yield base
        return
    with running_server(page_size=50) as base:
        SERVERS[base] = "sandbox"
        yield base


def client_for(base: str, **options: Any) -> FhirClient:
    """A client of the server with the default settings: it searches the server the way the
    server's CapabilityStatement offers (patient_search = "auto")."""
    return FhirClient(base, **options)


# Medplum's in-memory repository implements neither the :identifier modifier nor chains, and
# the adapter's CapabilityStatement says so: it is searched the third standard way (the
# Patient by identifier, then patient=Patient/id); the sandbox lists both
CHOSEN = {"sandbox": "identifier", "engine": "resolve"}


def test_the_capability_statement_chooses_the_patient_search(server: str) -> None:
    with client_for(server) as client:
        assert client.search_style() == CHOSEN[SERVERS[server]]
        statement = client._statement
        assert client.search_style() == CHOSEN[SERVERS[server]]
        assert client._statement is statement  # read once per client
    with client_for(server, patient_search="chain") as client:
        assert client.search_style() == "chain"
        assert client._statement is None  # configured: metadata not asked


#: the write modes a scenario runs in: auto (both servers say updateCreate: client-ids), and
#: the two in which the server assigns the ids
WRITES = ("auto", "conditional", "create")


@pytest.mark.parametrize("write", WRITES)
def test_every_fixture_pushed_twice_in_each_write_mode(server: str, write: str) -> None:
    """Every fixture pushed twice: no new versions, exactly one Patient per child (created
    with the child's first artefact), and pulls by NHS number and since a date give back the
    artefacts."""
    artefacts = [load(path) for path in VALID]
    children: set[str] = set()
    keys: list[str] = []
    with client_for(server, write=write) as client:
        assert client.write_style(["Flag"]) == ("client-ids" if write == "auto" else write)
        for artefact in artefacts:
            bundle = artefact_to_fhir(artefact)
            result = client.push(bundle)
            assert len(result.outcomes) == len(bundle["entry"])
            seen, _ = nhs_of(artefact) in children, children.add(nhs_of(artefact))
            assert result.created == len(bundle["entry"]) - seen, artefact.local_id
            keys.extend(o.resource for o in result.outcomes)
        before = {k: r["meta"]["versionId"] for k, r in client.read_many(keys).items()}
        assert len(before) == len(set(keys))
        for artefact in artefacts:
            again = client.push(artefact_to_fhir(artefact))
            assert {o.status for o in again.outcomes} == {"200 unchanged"}
        after = {k: r["meta"]["versionId"] for k, r in client.read_many(keys).items()}
        assert after == before
        for nhs in sorted(children):  # one Patient per child, whatever their artefacts
            assert len(list(client.search("Patient", {"identifier": f"{NHS_SYSTEM}|{nhs}"}))) == 1
        assert len(list(client.search("Patient", {}))) == len(children)
        expected = as_pulled(artefacts)
        for nhs in sorted(children):
            groups = assemble(client.patient_record(nhs))
            pulled = sorted((fhir_to_artefact(g) for g in groups), key=lambda a: a.local_id)
            assert pulled == [a for a in expected if nhs_of(a) == nhs]
        changed = client.changed_since("2000-01-01")
        pulled = [fhir_to_artefact(g) for g in assemble(changed.resources)]
        assert sorted(pulled, key=lambda a: a.local_id) == expected
        assert changed.watermark is not None
        again_since = client.changed_since(changed.watermark)
        assert again_since.resources == []
        assert again_since.watermark in (None, changed.watermark)


@pytest.mark.parametrize("write", ["conditional", "create"])
def test_resource_by_resource_pushes_in_server_id_modes(server: str, write: str) -> None:
    """One request per resource: the ids the server gives are put in the references of what is
    written after (a cycle is written again), and a repeated push changes nothing."""
    artefacts = [load(path) for path in VALID[:8]]
    with client_for(server, write=write) as client:
        for artefact in artefacts:
            client.push(artefact_to_fhir(artefact), mode="resources")
        for artefact in artefacts:
            again = client.push(artefact_to_fhir(artefact), mode="resources")
            assert {o.status for o in again.outcomes} == {"200 unchanged"}
        children = sorted({nhs_of(a) for a in artefacts})
        groups = [g for nhs in children for g in assemble(client.patient_record(nhs))]
    pulled = sorted((fhir_to_artefact(g) for g in groups), key=lambda a: a.local_id)
    assert pulled == as_pulled(artefacts)


def test_pull_since_delivers_every_change_even_when_the_patient_search_finds_nothing(
    server: str,
) -> None:
    """The engine implements no ``:identifier`` modifier: the records rebuilt by that search
    are empty, yet every changed resource is delivered, and the watermark covers only them."""
    artefacts = [load(path) for path in VALID[:6]]
    with FhirClient(server, patient_search="identifier") as client:
        for artefact in artefacts:
            client.push(artefact_to_fhir(artefact))
        changed = client.changed_since("2000-01-01")
        pulled = sorted(
            (fhir_to_artefact(g) for g in assemble(changed.resources)), key=lambda a: a.local_id
        )
        # the watermark covers the changes the since-search found (resources they reference,
        # delivered with them, may carry a later stamp without being a change searched for)
        stamps = [
            r["meta"]["lastUpdated"]
            for r in changed.resources
            if f"{r['resourceType']}/{r['id']}" in changed.changed
        ]
    assert pulled == as_pulled(artefacts)
    assert changed.watermark == max(stamps, key=lambda s: s.replace("Z", "+00:00"))


def test_cpis_lookup_finds_the_flag(server: str) -> None:
    with client_for(server) as client:
        client.push(artefact_to_fhir(load(FLAG_FIXTURE)))
        teams = CpisApi(client).care_teams(FLAG_NHS)
    assert [t["category"][0]["coding"][0]["code"] for t in teams] == ["CPP"]


class Statement(httpx.HTTPTransport):
    """The real network to the server, except that ``GET metadata`` answers a
    CapabilityStatement offering, for every resource type, only the capabilities in
    ``offered`` (a server that does not take every kind of write)."""

    def __init__(self, offered: tuple[str, ...]) -> None:
        super().__init__()
        self.offered = offered

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/metadata"):
            return super().handle_request(request)
        types = sorted(
            {e["resource"]["resourceType"] for e in artefact_to_fhir(load(FLAG_FIXTURE))["entry"]}
        )
        flags = ("updateCreate", "conditionalUpdate", "conditionalCreate")
        entries = [{"type": t, **{f: f in self.offered for f in flags}} for t in types]
        statement = {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "rest": [{"mode": "server", "resource": entries}],
        }
        return httpx.Response(200, json=statement)


@pytest.mark.parametrize(
    ("offered", "write", "words"),
    [
        ((), "auto", "offers none of updateCreate, conditionalUpdate, conditionalCreate"),
        (("updateCreate",), "create", "write = 'create' needs conditionalCreate"),
        (("conditionalCreate",), "conditional", "write = 'conditional' needs conditionalUpdate"),
    ],
)
def test_a_write_mode_the_server_does_not_offer_writes_nothing(
    server: str, offered: tuple[str, ...], write: str, words: str
) -> None:
    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    with (
        client_for(server, write=write, transport=Statement(offered)) as client,
        pytest.raises(UnsupportedWrite) as caught,
    ):
        client.push(bundle)
    assert words in str(caught.value)
    assert "Flag" in str(caught.value)
    assert caught.value.exit_code == 3
    with client_for(server) as plain:
        assert list(plain.search("Flag", {})) == []
        assert list(plain.search("Patient", {})) == []


def test_auto_takes_the_write_the_server_offers(server: str) -> None:
    """A server that takes only conditional creates is written with POST and If-None-Exist,
    and the next push finds what it created by identifier."""
    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    with client_for(server, transport=Statement(("conditionalCreate",))) as client:
        assert client.write_style(["Flag", "Patient"]) == "create"
        first = client.push(bundle)
        assert first.created == len(bundle["entry"])
        # the server chose the ids: none is the toolkit's
        sent = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
        assert not sent & {o.resource for o in first.outcomes}
        assert {o.status for o in client.push(bundle).outcomes} == {"200 unchanged"}
        assert CpisApi(client).care_teams(FLAG_NHS)[0]["category"][0]["coding"][0]["code"] == "CPP"


def test_several_patients_of_one_child_the_first_by_id_is_used(server: str) -> None:
    """A server where the child already has two Patients (an earlier release wrote one per
    artefact): the push refers to the first by id, adds to it what it lacks, and creates
    none; the other is left as it is."""
    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    with client_for(server) as client:
        identifier = [{"system": NHS_SYSTEM, "value": FLAG_NHS}]
        made = [client.create({"resourceType": "Patient", "identifier": identifier}) for _ in "ab"]
        first, other = sorted(made, key=lambda p: str(p["id"]))
        result = client.push(bundle)
        assert f"Patient/{first['id']}" in {o.resource for o in result.outcomes}
        assert result.created == len(bundle["entry"]) - 1
        (flag,) = PatientFlags(client).of_patient(FLAG_NHS)
        assert flag["subject"]["reference"] == f"Patient/{first['id']}"
        kept = client.read("Patient", first["id"])
        assert kept["name"][0]["family"]  # what it lacked was added
        assert "name" not in client.read("Patient", other["id"])
        assert {o.status for o in client.push(bundle).outcomes} == {"200 unchanged"}


class Counting(httpx.HTTPTransport):
    """The real network, counting the requests."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return super().handle_request(request)


@pytest.mark.parametrize("write", WRITES)
def test_a_push_finds_what_the_server_holds_in_one_batch(server: str, write: str) -> None:
    """The child's Patient, the resources at their ids or by identifier: one batch of GETs;
    then one transaction when something is to be written, nothing more when nothing is."""
    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    counting = Counting()
    with client_for(server, write=write, transport=counting) as client:
        client.push(bundle)
        assert counting.requests[1:] == ["POST /fhir/", "POST /fhir/"]  # after GET metadata
        counting.requests.clear()
        client.push(bundle)
        assert counting.requests == ["POST /fhir/"]


@pytest.mark.parametrize("write", WRITES)
def test_a_changed_artefact_updates_in_place(server: str, write: str) -> None:
    """The artefact changed since its last push (the plan ended): its resources are updated
    where they are, whoever chose their ids, and that is no conflict."""
    flag = load(FLAG_FIXTURE)
    assert isinstance(flag, ChildProtectionFlag)
    ended = flag.model_copy(update={"plan_end": flag.plan_start + timedelta(days=30)})
    with client_for(server, write=write) as client:
        client.push(artefact_to_fhir(flag))
    with client_for(server, write=write) as later:  # another run: no versions remembered
        result = later.push(artefact_to_fhir(ended))
        assert result.created == 0
        assert "200 OK" in {o.status for o in result.outcomes}
        (found,) = PatientFlags(later).of_patient(FLAG_NHS)
        assert found["status"] == "inactive"
        assert later.push(artefact_to_fhir(ended)).created == 0


@pytest.mark.parametrize("write", WRITES)
def test_a_server_side_edit_is_not_clobbered(server: str, write: str) -> None:
    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    with client_for(server, write=write) as ours, client_for(server) as theirs:
        ours.push(bundle)
        (flag,) = PatientFlags(theirs).of_patient(FLAG_NHS)
        theirs.update({**flag, "status": "inactive"})  # an edit made at the server's end
        with pytest.raises(PushConflict) as caught:
            ours.push(bundle)
        assert caught.value.status == 412
        assert f"Flag/{flag['id']}" in str(caught.value)
        assert PatientFlags(theirs).of_patient(FLAG_NHS)[0]["status"] == "inactive"
    with client_for(server, write=write) as later:  # another run, never saw the first push
        with pytest.raises(PushConflict):
            later.push(bundle)
        assert PatientFlags(later).of_patient(FLAG_NHS)[0]["status"] == "inactive"
        later.push(bundle, force=True)  # --force overwrites
        assert PatientFlags(later).of_patient(FLAG_NHS)[0]["status"] == "active"
        assert later.push(bundle).created == 0  # and the next push is a plain one again


def test_a_stale_version_is_a_412_conflict_not_an_overwrite(server: str) -> None:
    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    with client_for(server) as client:
        client.push(bundle)
        (flag,) = PatientFlags(client).of_patient(FLAG_NHS)
        client.update({**flag, "status": "inactive"})
        with pytest.raises(FhirError) as caught:
            client.update({**flag, "status": "entered-in-error"}, if_match='W/"999"')
        assert caught.value.status in (409, 412)
        assert PatientFlags(client).of_patient(FLAG_NHS)[0]["status"] == "inactive"


def test_paging_follows_the_servers_next_links(server: str) -> None:
    with client_for(server) as client:
        for i in range(45):
            client.create(
                {
                    "resourceType": "Organization",
                    "identifier": [{"system": "https://example.org/org", "value": f"O{i}"}],
                    "name": f"Organisation {i}",
                }
            )
        found = list(client.search("Organization", {"_count": "10"}))
    assert sorted(o["name"] for o in found) == sorted(f"Organisation {i}" for i in range(45))


def test_the_engine_is_reachable(server: str) -> None:
    assert httpx.get(f"{server}/Patient", timeout=10).status_code == 200


def test_a_response_whose_entries_all_failed_fails_the_push() -> None:
    """The issue's case: a 200 batch answer whose every entry is a 404 (what a server that
    takes no client-chosen ids answers) was counted as updated; now it fails and names them."""

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/metadata"):
            return httpx.Response(404)  # no CapabilityStatement: PUT at the toolkit's ids
        if request.method == "GET":  # the child's Patient, searched by NHS number: none yet
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})
        body = json.loads(request.content)
        failed = {
            "status": "404 Not Found",
            "outcome": {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "not-found", "diagnostics": "no such id"}],
            },
        }
        entries = [{"response": failed} for _ in body["entry"]]
        kind = "batch-response" if body["type"] == "batch" else "transaction-response"
        return httpx.Response(200, json={"resourceType": "Bundle", "type": kind, "entry": entries})

    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    transport = httpx.MockTransport(server)
    with (
        FhirClient("http://fhir.invalid/fhir", transport=transport) as client,
        pytest.raises(FhirError) as caught,
    ):
        client.push(bundle)
    message = str(caught.value)
    assert caught.value.status == 404
    assert "push failed for Flag/" in message
    assert "no such id" in message


def test_cli_push_reports_a_server_side_edit_as_a_conflict_and_force_overwrites(
    server: str,
) -> None:
    def push(*extra: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["push", str(FLAG_FIXTURE), "--endpoint", server, *extra])
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    assert push()[0] == 0
    with client_for(server) as client:
        (flag,) = PatientFlags(client).of_patient(FLAG_NHS)
        client.update({**flag, "status": "inactive"})
    code, out = push()
    assert code == 3, out
    assert "changed on the server since the last push" in out
    assert f"Flag/{flag['id']}" in out
    with client_for(server) as client:
        assert PatientFlags(client).of_patient(FLAG_NHS)[0]["status"] == "inactive"
    code, out = push("--force")
    assert code == 0, out
    with client_for(server) as client:
        assert PatientFlags(client).of_patient(FLAG_NHS)[0]["status"] == "active"


def test_cli_push_write_option(server: str) -> None:
    """``interop push --write create``: the server chooses the ids; a second push changes
    nothing, and the child has one Patient."""
    folder = str(FLAG_FIXTURE.parent)

    def push(*extra: str) -> tuple[int, str]:
        args = ["push", folder, "--endpoint", server, "--write", "create", *extra]
        result = CliRunner().invoke(cli, args)
        assert "Traceback" not in result.output
        return result.exit_code, result.output

    code, out = push("--dry-run")
    assert code == 0, out
    assert "(transaction, write create)" in out
    files = len(list(FLAG_FIXTURE.parent.glob("*.json")))
    code, out = push()
    assert code == 0, out
    assert out.count(" pushed ") == files
    assert out.count(" 0 created") == 0
    code, out = push()
    assert code == 0, out
    assert out.count(" 0 created") == files
    with client_for(server) as client:
        assert len(list(client.search("Patient", {"identifier": f"{NHS_SYSTEM}|{FLAG_NHS}"}))) == 1
    code, out = push("--write", "sideways")
    assert code == 2
    assert "client-ids" in out


def test_a_search_cut_short_without_a_next_link_is_an_error_not_a_short_answer() -> None:
    """Medplum's router pages with _count but gives no links of its own (its server adds
    them): a client reading only the first page would miss matches. Here a server says
    total 3, gives 2 and no next link."""

    def server(request: httpx.Request) -> httpx.Response:
        entries = [{"resource": {"resourceType": "Flag", "id": f"f{i}"}} for i in range(2)]
        page = {"resourceType": "Bundle", "type": "searchset", "total": 3, "entry": entries}
        return httpx.Response(200, json=page)

    transport = httpx.MockTransport(server)
    with (
        FhirClient("http://fhir.invalid/fhir", transport=transport) as client,
        pytest.raises(FhirTransportError) as caught,
    ):
        list(client.search("Flag", {}))
    assert "gave 2 of 3 matches" in str(caught.value)


class Recording(Statement):
    """The real network, keeping each request's method, path, If-None-Exist and JSON body;
    with ``offered``, ``GET metadata`` answers as ``Statement`` does."""

    def __init__(self, offered: tuple[str, ...] | None = None) -> None:
        super().__init__(offered or ())
        self.passthrough = offered is None
        self.requests: list[tuple[str, str, str | None, JSON]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        path, condition = request.url.path, request.headers.get("If-None-Exist")
        self.requests.append((request.method, path, condition, body))
        if self.passthrough:
            return httpx.HTTPTransport.handle_request(self, request)
        return super().handle_request(request)

    def patient_writes(self) -> list[tuple[str, str, str | None]]:
        """Each write of a Patient: method, URL and If-None-Exist, inside a transaction or
        not."""
        writes = []
        for method, path, condition, body in self.requests:
            if body.get("resourceType") == "Patient" and method in ("POST", "PUT"):
                writes.append((method, path.removeprefix("/fhir/"), condition))
            for entry in body.get("entry", []) if body.get("resourceType") == "Bundle" else []:
                request = entry.get("request", {})
                if entry.get("resource", {}).get("resourceType") == "Patient":
                    writes.append((request["method"], request["url"], request.get("ifNoneExist")))
        return writes


@pytest.mark.parametrize("mode", ["transaction", "resources"])
def test_client_ids_creates_the_childs_patient_with_a_conditional_create(
    server: str, mode: str
) -> None:
    """``client-ids``: every resource is PUT at its deterministic id but the child's new
    Patient, which goes as ``POST Patient`` with ``If-None-Exist`` on the NHS number (the server
    decides atomically whether the child has one, R4 http.html#ccreate). It round-trips, and
    a second push writes nothing."""
    artefact = load(FLAG_FIXTURE)
    bundle = artefact_to_fhir(artefact)
    (ours,) = [
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    recording = Recording()
    with client_for(server, write="client-ids", transport=recording) as client:
        first = client.push(bundle, mode=mode)  # type: ignore[arg-type]
        condition = f"identifier={quote(NHS_SYSTEM, safe='')}%7C{FLAG_NHS}"
        assert recording.patient_writes() == [("POST", "Patient", condition)]
        (patient,) = client.search("Patient", {"identifier": f"{NHS_SYSTEM}|{FLAG_NHS}"})
        assert patient["id"] != ours  # the server chose its id
        assert f"Patient/{patient['id']}" in {o.resource for o in first.outcomes}
        assert first.created == len(bundle["entry"])
        # the others are where client-ids puts them, referring to the server's Patient
        others = {
            f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in bundle["entry"]
            if e["resource"]["resourceType"] != "Patient"
        }
        assert others <= {o.resource for o in first.outcomes}
        (flag,) = PatientFlags(client).of_patient(FLAG_NHS)
        assert flag["subject"]["reference"] == f"Patient/{patient['id']}"
        recording.requests.clear()
        again = client.push(artefact_to_fhir(artefact), mode=mode)  # type: ignore[arg-type]
        assert {o.status for o in again.outcomes} == {"200 unchanged"}
        assert recording.patient_writes() == []
        assert [m for m, *_ in recording.requests if m != "GET"] == ["POST"]  # the batch read
        (pulled,) = [fhir_to_artefact(g) for g in assemble(client.patient_record(FLAG_NHS))]
    assert pulled == as_pulled([artefact])[0]


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        (("updateCreate", "conditionalUpdate"), "PUT Patient?identifier="),
        (("updateCreate",), "PUT Patient/"),
    ],
)
def test_client_ids_without_conditional_create(
    server: str, offered: tuple[str, ...], expected: str
) -> None:
    """A server offering conditional update but no conditional create: the new Patient goes
    as ``PUT Patient?identifier=`` (atomic too); offering neither: ``PUT`` at the deterministic
    id, as every other resource (concurrent first pushes of one child can then make two)."""
    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    (ours,) = [
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    recording = Recording(offered)
    with client_for(server, write="client-ids", transport=recording) as client:
        client.push(bundle)
        ((method, url, condition),) = recording.patient_writes()
        assert f"{method} {url}".startswith(expected)
        assert condition is None
        (patient,) = client.search("Patient", {"identifier": f"{NHS_SYSTEM}|{FLAG_NHS}"})
        assert (patient["id"] == ours) == (expected == "PUT Patient/")
        assert {o.status for o in client.push(bundle).outcomes} == {"200 unchanged"}


@pytest.mark.parametrize("write", ["client-ids", "auto"])
def test_concurrent_first_pushes_of_one_child_make_one_patient(server: str, write: str) -> None:
    """Two artefacts of one new child pushed at the same moment, round after round with a
    fresh child: both find no Patient and both create it conditionally; the server's
    conditional create is atomic, so it makes one and answers the other with it, and both
    artefacts refer to it. (Without the conditional create, each PUT its artefact's own
    Patient: two per child.)

    ``Gate`` holds both writes until both pushes have searched, so every round is a race. The
    sandbox resolves a conditional create inside one SQLite ``BEGIN IMMEDIATE`` unit under a
    lock (atomic across threads and processes). Medplum's in-memory repository has no lock,
    but nothing between its search and its create waits on I/O, so Node's one event loop
    runs one transaction to its end before the next: reliable here (no duplicate in 45
    rounds measured), though that tells nothing of Medplum on Postgres."""
    originals = [load(path) for path in RACING]
    for round_ in range(5):
        nhs = nhs_number(round_ * 100 + (write == "auto") * 50_000)  # a new child each round
        artefacts = [for_child(a, nhs) for a in originals]
        outcomes = push_at_once(server, [artefact_to_fhir(a) for a in artefacts], write)
        # neither found the Patient before writing (the race), both landed on the same one:
        # one push created it, the other's conditional create found it and created nothing
        assert sorted(o.status for o in outcomes) == ["200 OK", "201 Created"]
        assert outcomes[0].resource == outcomes[1].resource
        with FhirClient(server) as client:
            (patient,) = client.search("Patient", {"identifier": f"{NHS_SYSTEM}|{nhs}"})
            subjects = {
                resource["subject"]["reference"]
                for resource in client.patient_record(nhs)
                if isinstance(resource.get("subject"), dict)
            }
            assert subjects == {f"Patient/{patient['id']}"} == {outcomes[0].resource}
            pulled = [fhir_to_artefact(g) for g in assemble(client.patient_record(nhs))]
        assert sorted(pulled, key=lambda a: a.local_id) == as_pulled(artefacts)
