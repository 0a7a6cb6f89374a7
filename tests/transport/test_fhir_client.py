"""The FHIR client under injected faults (httpx MockTransport): what is retried, what is sent
once, the headers of every request, the typed errors; and the thin clients on top of it
(``cpis_api.CpisApi``: CP-IS lookups, ``flags.PatientFlags``: flag endings)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from interop.transport.auth import BearerToken
from interop.transport.bundles import to_transaction
from interop.transport.cpis_api import AuditLog, CpisApi
from interop.transport.fhir_client import FhirClient, FhirError, FhirTransportError
from interop.transport.flags import FLAG_REMOVAL_REASON_URL, PatientFlags
from interop.transport.retry import RetryPolicy, parse_retry_after

BASE = "http://fhir.test/fhir"
NHS = "9434765919"
TOKEN = "tok-3f9a-SECRET"
JSON = dict[str, Any]
Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock that only moves when the client sleeps: no test waits for real."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


class Server:
    """Scripted answers, one per request, and a record of every request that arrived."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    def ids(self) -> list[str]:
        return [r.headers["X-Request-ID"] for r in self.requests]


def resource(body: JSON, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json=body, headers={"Content-Type": "application/fhir+json", **headers}
    )


def outcome(status: int, code: str, diagnostics: str, where: str = "Flag.status") -> httpx.Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": code, "diagnostics": diagnostics, "expression": [where]}
        ],
    }
    return resource(body, status)


def searchset(*resources: JSON, next_url: str | None = None) -> JSON:
    bundle: JSON = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


PATIENT = {"resourceType": "Patient", "id": "p1"}


def client_for(
    server: Server,
    time: FakeTime | None = None,
    *,
    retries: int = 3,
    budget: float = 60.0,
    **kw: Any,
) -> FhirClient:
    time = time or FakeTime()
    policy = RetryPolicy(
        max_retries=retries, budget=budget, sleep=time.sleep, clock=time.clock, random=lambda: 0.5
    )
    # the CP-IS API's search, named: these servers answer only what each test scripts, not
    # the metadata an "auto" client asks first
    kw.setdefault("patient_search", "identifier")
    return FhirClient(BASE, transport=httpx.MockTransport(server), retry=policy, **kw)


# --- headers -----------------------------------------------------------------------------------


def test_headers_of_every_request() -> None:
    server = Server(resource(PATIENT))
    with client_for(server, auth=BearerToken(TOKEN), ods_code="X26") as client:
        client.read("Patient", "p1")
        client.read("Patient", "p1")
    first, second = server.requests
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert first.headers["Accept"] == "application/fhir+json"
    assert first.headers["NHSD-End-User-Organisation-ODS"] == "X26"
    assert first.headers["User-Agent"].startswith("safeguarding-interop/")
    # a new request id per logical request, one correlation id for the client
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert first.headers["X-Correlation-ID"] == second.headers["X-Correlation-ID"]
    assert str(first.url) == f"{BASE}/Patient/p1"


def test_no_ods_header_unless_configured() -> None:
    server = Server(resource(PATIENT))
    with client_for(server) as client:
        client.read("Patient", "p1")
    assert "NHSD-End-User-Organisation-ODS" not in server.requests[0].headers
    assert "Authorization" not in server.requests[0].headers


def test_request_id_is_kept_across_retries() -> None:
    server = Server(outcome(503, "transient", "busy"), httpx.ReadTimeout("slow"), resource(PATIENT))
    with client_for(server) as client:
        assert client.read("Patient", "p1") == PATIENT
    assert len(server.requests) == 3
    assert len(set(server.ids())) == 1


# --- retries of idempotent requests ------------------------------------------------------------


def test_429_honours_retry_after() -> None:
    time = FakeTime()
    server = Server(httpx.Response(429, headers={"Retry-After": "7"}), resource(PATIENT))
    with client_for(server, time) as client:
        assert client.read("Patient", "p1") == PATIENT
    assert time.sleeps == [7.0]


def test_503_backs_off_exponentially_with_jitter() -> None:
    time = FakeTime()
    server = Server(
        outcome(503, "transient", "down"),
        outcome(502, "transient", "gateway"),
        outcome(504, "timeout", "gateway timeout"),
        resource(PATIENT),
    )
    with client_for(server, time) as client:
        client.read("Patient", "p1")
    # backoff 0.5 doubling; jitter fixed at 0.5 → 0.1 + 0.9 * 0.5 = 0.55 of each ceiling
    assert time.sleeps == pytest.approx([0.275, 0.55, 1.1])


@pytest.mark.parametrize(
    "fault",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ConnectError("connection refused"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
    ],
    ids=["read-timeout", "connect-timeout", "refused", "reset", "disconnected"],
)
def test_idempotent_get_survives_network_faults(fault: Exception) -> None:
    server = Server(fault, fault, resource(PATIENT))
    with client_for(server) as client:
        assert client.read("Patient", "p1") == PATIENT
    assert len(server.requests) == 3


def test_malformed_json_is_retried_for_a_get() -> None:
    garbled = httpx.Response(200, content=b'{"resourceType": "Patient", "id": ', headers={})
    server = Server(garbled, resource(PATIENT))
    with client_for(server) as client:
        assert client.read("Patient", "p1") == PATIENT
    assert len(server.requests) == 2


def test_persistent_malformed_json_is_a_protocol_error() -> None:
    server = Server(httpx.Response(200, content=b"<html>proxy error</html>"))
    with client_for(server, retries=2) as client, pytest.raises(FhirTransportError) as caught:
        client.read("Patient", "p1")
    assert caught.value.kind == "protocol"
    assert caught.value.attempts == 3
    assert len(server.requests) == 3
    assert "not JSON" in str(caught.value)


def test_retries_stop_at_max_retries() -> None:
    server = Server(outcome(503, "transient", "down"))
    with client_for(server, retries=2) as client, pytest.raises(FhirError) as caught:
        client.read("Patient", "p1")
    assert caught.value.status == 503
    assert caught.value.attempts == 3
    assert "after 3 attempts" in str(caught.value)


def test_retry_after_beyond_the_budget_is_reported_not_waited() -> None:
    time = FakeTime()
    server = Server(httpx.Response(429, headers={"Retry-After": "120"}))
    with client_for(server, time, budget=60) as client, pytest.raises(FhirError) as caught:
        client.read("Patient", "p1")
    assert time.sleeps == []
    assert caught.value.retry_after == 120.0
    assert len(server.requests) == 1


def test_the_budget_bounds_the_total_wait() -> None:
    time = FakeTime()
    server = Server(httpx.Response(503, headers={"Retry-After": "25"}))
    with client_for(server, time, retries=10, budget=60) as client, pytest.raises(FhirError):
        client.read("Patient", "p1")
    assert time.sleeps == [25.0, 25.0]  # a third wait would pass 60 s
    assert sum(time.sleeps) <= 60


def test_put_and_conditional_create_are_retried() -> None:
    flag = {"resourceType": "Flag", "id": "f1", "status": "active"}
    server = Server(httpx.ReadTimeout("slow"), resource(flag, 200))
    with client_for(server) as client:
        assert client.update(flag)["id"] == "f1"
    assert [r.method for r in server.requests] == ["PUT", "PUT"]

    server = Server(outcome(503, "transient", "busy"), resource(flag, 201))
    with client_for(server) as client:
        client.create(flag, if_none_exist="identifier=https://example.org/id|A1")
    assert len(server.requests) == 2
    assert server.requests[0].headers["If-None-Exist"] == "identifier=https://example.org/id|A1"


# --- non-idempotent requests are sent once ----------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "unknown"),
    [
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.ReadError("connection reset by peer"), True),
        (httpx.ConnectError("connection refused"), False),
    ],
    ids=["timeout", "reset", "refused"],
)
def test_plain_post_is_never_sent_twice(fault: Exception, unknown: bool) -> None:
    server = Server(fault, resource({"resourceType": "Flag", "id": "f1"}, 201))
    with client_for(server) as client, pytest.raises(FhirTransportError) as caught:
        client.create({"resourceType": "Flag", "status": "active"})
    assert len(server.requests) == 1
    assert caught.value.outcome_unknown is unknown


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(429, headers={"Retry-After": "1"}),
        outcome(503, "transient", "busy"),
        httpx.Response(200, content=b"not json"),
    ],
    ids=["429", "503", "malformed"],
)
def test_plain_post_is_not_retried_on_any_answer(answer: httpx.Response) -> None:
    server = Server(answer, resource({"resourceType": "Flag", "id": "f1"}, 201))
    with client_for(server) as client, pytest.raises((FhirError, FhirTransportError)):
        client.create({"resourceType": "Flag", "status": "active"})
    assert len(server.requests) == 1


def test_transaction_of_puts_is_retried_but_one_with_a_plain_post_is_not() -> None:
    reply = resource({"resourceType": "Bundle", "type": "transaction-response", "entry": []})
    puts = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": PATIENT, "request": {"method": "PUT", "url": "Patient/p1"}}],
    }
    server = Server(httpx.ReadTimeout("slow"), reply)
    with client_for(server) as client:
        client.transaction(puts)
    assert len(server.requests) == 2

    posts = json.loads(json.dumps(puts))
    posts["entry"][0]["request"] = {"method": "POST", "url": "Patient"}
    server = Server(httpx.ReadTimeout("slow"), reply)
    with client_for(server) as client, pytest.raises(FhirTransportError) as caught:
        client.transaction(posts)
    assert len(server.requests) == 1
    assert caught.value.outcome_unknown


# --- errors ------------------------------------------------------------------------------------


def test_operation_outcome_becomes_a_typed_error_with_the_server_issues() -> None:
    server = Server(outcome(422, "invariant", "status must be active or inactive"))
    with client_for(server) as client, pytest.raises(FhirError) as caught:
        client.update({"resourceType": "Flag", "id": "f1", "status": "bad"})
    error = caught.value
    assert error.status == 422
    assert len(server.requests) == 1  # a 4xx is not retried
    (issue,) = error.issues
    assert (issue.severity, issue.code, issue.expression) == (
        "error",
        "invariant",
        ("Flag.status",),
    )
    assert issue.describe() == "error [invariant] Flag.status: status must be active or inactive"
    assert error.request_id == server.ids()[0]
    assert "PUT Flag/f1" in str(error)


def test_error_without_operation_outcome() -> None:
    server = Server(httpx.Response(500, content=b"<html>boom</html>"))
    with client_for(server) as client, pytest.raises(FhirError) as caught:
        client.read("Patient", "p1")
    assert caught.value.status == 500
    assert caught.value.issues == ()
    assert "boom" not in str(caught.value)


def test_messages_never_hold_the_query_or_the_token() -> None:
    server = Server(outcome(400, "invalid", "bad search"))
    with client_for(server, auth=BearerToken(TOKEN)) as client, pytest.raises(FhirError) as caught:
        list(client.search_by_patient("Flag", NHS))
    assert NHS not in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(client)


def test_oversized_answer_is_refused() -> None:
    big = httpx.Response(200, content=b"[" + b"1," * 600 + b"1]")
    server = Server(big)
    client = client_for(server, max_response_bytes=1000)
    with client, pytest.raises(FhirTransportError) as caught:
        client.read("Patient", "p1")
    assert caught.value.kind == "protocol"
    assert len(server.requests) == 1


def test_wrong_resource_type_is_a_protocol_error() -> None:
    server = Server(resource({"resourceType": "Observation", "id": "o1"}))
    with (
        client_for(server) as client,
        pytest.raises(FhirTransportError, match="expected a Patient"),
    ):
        client.read("Patient", "p1")


# --- search and paging -------------------------------------------------------------------------


def test_search_follows_next_links_lazily() -> None:
    pages = {
        "1": searchset({"resourceType": "Flag", "id": "a"}, next_url=f"{BASE}/Flag?page=2"),
        "2": searchset({"resourceType": "Flag", "id": "b"}, next_url=f"{BASE}/Flag?page=3"),
        "3": searchset({"resourceType": "Flag", "id": "c"}),
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return resource(pages[request.url.params.get("page", "1")])

    server = Server(answer)
    with client_for(server) as client:
        found = client.search_by_patient("Flag", NHS)
        first = next(found)
        assert first["id"] == "a"
        assert len(server.requests) == 1  # page 2 not fetched until needed
        assert [r["id"] for r in found] == ["b", "c"]
    assert len(server.requests) == 3
    query = server.requests[0].url.params
    assert query["patient:identifier"] == f"https://fhir.nhs.uk/Id/nhs-number|{NHS}"


def test_a_next_link_leaving_the_endpoint_is_not_followed() -> None:
    server = Server(resource(searchset(PATIENT, next_url="http://evil.test/steal?page=2")))
    refused = pytest.raises(FhirTransportError, match="leaves the endpoint")
    with client_for(server, auth=BearerToken(TOKEN)) as client, refused:
        list(client.search("Patient", {}))
    assert len(server.requests) == 1


def test_relative_next_link_is_resolved_against_the_base() -> None:
    server = Server(resource(searchset(PATIENT, next_url="Patient?page=2")), resource(searchset()))
    with client_for(server) as client:
        assert len(list(client.search("Patient", {}))) == 1
    assert str(server.requests[1].url) == f"{BASE}/Patient?page=2"


# --- CP-IS ---------------------------------------------------------------------------------------

CARE_TEAM = {"resourceType": "CareTeam", "id": "ct1", "status": "active"}


def test_cpis_lookup_is_silent_by_default(tmp_path: Path) -> None:
    server = Server(resource(searchset(CARE_TEAM)))
    with client_for(server) as client:
        teams = CpisApi(client).care_teams(NHS)
    assert teams == [CARE_TEAM]
    assert server.requests[0].headers["IsUnscheduledAccessEvent"] == "false"


def test_unscheduled_lookup_is_audited_first(tmp_path: Path) -> None:
    log = tmp_path / "audit" / "cpis.jsonl"
    seen_in_log: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen_in_log.append(log.read_text(encoding="utf-8"))  # written before the request
        return resource(searchset(CARE_TEAM))

    server = Server(answer)
    with client_for(server, name="cpis-int") as client:
        CpisApi(client).care_teams(
            NHS, unscheduled=True, audit=AuditLog(log, "dr.a"), reason="ED attendance"
        )
    assert server.requests[0].headers["IsUnscheduledAccessEvent"] == "true"
    assert '"phase": "requested"' in seen_in_log[0]
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [line["phase"] for line in lines] == ["requested", "completed"]
    for line in lines:
        assert line["user"] == "dr.a"
        assert line["reason"] == "ED attendance"
        assert line["nhs_number"] == "*** *** 5919"
        assert line["endpoint"] == "cpis-int"
        assert line["request_id"] == server.ids()[0]
    assert NHS not in log.read_text(encoding="utf-8")


def test_unscheduled_lookup_needs_audit_and_reason(tmp_path: Path) -> None:
    server = Server(resource(searchset(CARE_TEAM)))
    with client_for(server) as client:
        with pytest.raises(ValueError, match="audit log and a reason"):
            CpisApi(client).care_teams(NHS, unscheduled=True, reason="ED")
        with pytest.raises(ValueError, match="audit log and a reason"):
            CpisApi(client).care_teams(NHS, unscheduled=True, audit=AuditLog(tmp_path / "a.jsonl"))
    assert server.requests == []


def test_no_lookup_when_the_audit_log_cannot_be_written(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    server = Server(resource(searchset(CARE_TEAM)))
    with client_for(server) as client, pytest.raises(FileExistsError):
        CpisApi(client).care_teams(
            NHS, unscheduled=True, audit=AuditLog(blocked / "audit.jsonl"), reason="ED"
        )
    assert server.requests == []


def test_failed_unscheduled_lookup_is_audited(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    server = Server(outcome(403, "forbidden", "role not allowed"))
    with client_for(server) as client, pytest.raises(FhirError):
        CpisApi(client).care_teams(NHS, unscheduled=True, audit=AuditLog(log), reason="ED")
    phases = [json.loads(line)["phase"] for line in log.read_text().splitlines()]
    assert phases == ["requested", "failed"]


def test_invalid_nhs_number_is_refused_before_sending() -> None:
    server = Server(resource(searchset()))
    with client_for(server) as client, pytest.raises(ValueError, match="check digit"):
        CpisApi(client).care_teams("9434765918")
    assert server.requests == []


# --- flags -----------------------------------------------------------------------------------


def test_create_flag_is_conditional_on_its_identifier() -> None:
    flag = {
        "resourceType": "Flag",
        "identifier": [{"system": "https://example.org/flags", "value": "F-1"}],
        "status": "active",
    }
    server = Server(resource({**flag, "id": "new"}, 201))
    with client_for(server) as client:
        assert PatientFlags(client).create(flag)["id"] == "new"
    request = server.requests[0]
    assert (request.method, request.url.path) == ("POST", "/fhir/Flag")
    assert request.headers["If-None-Exist"] == "identifier=https://example.org/flags|F-1"


def _flag(status: str, version: str = "3") -> JSON:
    return {
        "resourceType": "Flag",
        "id": "f1",
        "meta": {"versionId": version},
        "status": status,
        "period": {"start": "2026-01-05"},
    }


def test_end_flag_sets_status_reason_and_end_date() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return resource(_flag("active"))
        return resource({**json.loads(request.content), "meta": {"versionId": "4"}})

    server = Server(answer)
    with client_for(server) as client:
        ended = PatientFlags(client).end(
            "f1", status="inactive", reason="Plan ended", today=date(2026, 3, 1)
        )
    put = server.requests[1]
    assert put.method == "PUT"
    assert put.headers["If-Match"] == 'W/"3"'
    assert ended["status"] == "inactive"
    assert ended["period"] == {"start": "2026-01-05", "end": "2026-03-01"}
    reasons = [e for e in ended["extension"] if e["url"] == FLAG_REMOVAL_REASON_URL]
    assert reasons == [
        {"url": FLAG_REMOVAL_REASON_URL, "valueCodeableConcept": {"text": "Plan ended"}}
    ]


def test_end_flag_entered_in_error_keeps_the_period() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return resource(_flag("active"))
        return resource(json.loads(request.content))

    server = Server(answer)
    with client_for(server) as client:
        ended = PatientFlags(client).end("f1", status="entered-in-error", reason="Wrong child")
    assert ended["status"] == "entered-in-error"
    assert "end" not in ended["period"]


def test_end_flag_twice_changes_nothing_and_an_ended_flag_is_refused() -> None:
    server = Server(resource(_flag("inactive")))
    with client_for(server) as client:
        assert (
            PatientFlags(client).end("f1", status="inactive", reason="again")["status"]
            == "inactive"
        )
        with pytest.raises(ValueError, match="only an active flag"):
            PatientFlags(client).end("f1", status="entered-in-error", reason="x")
    assert [r.method for r in server.requests] == ["GET", "GET"]


def test_end_flag_reads_again_after_a_version_conflict() -> None:
    server = Server(
        resource(_flag("active", "3")),
        outcome(412, "conflict", "version mismatch"),
        resource(_flag("inactive", "4")),  # someone else ended it meanwhile
    )
    with client_for(server) as client:
        assert (
            PatientFlags(client).end("f1", status="inactive", reason="x")["meta"]["versionId"]
            == "4"
        )
    assert [r.method for r in server.requests] == ["GET", "PUT", "GET"]


# --- push --------------------------------------------------------------------------------------


def _bundle() -> JSON:
    patient = {"resourceType": "Patient", "id": "11111111-1111-4111-8111-111111111111"}
    flag = {
        "resourceType": "Flag",
        "id": "22222222-2222-4222-8222-22222222abcd",
        "subject": {"reference": f"urn:uuid:{patient['id']}"},
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:{flag['id']}", "resource": flag},
            {"fullUrl": f"urn:uuid:{patient['id']}", "resource": patient},
        ],
    }


def _read_back(*held: JSON | None) -> httpx.Response:
    """The batch answer to a push's first request (reading what the server holds): each
    entry the resource held at that key, or a 404."""
    entries = [
        {"response": {"status": "200 OK"}, "resource": r}
        if r is not None
        else {"response": {"status": "404 Not Found"}}
        for r in held
    ]
    return resource({"resourceType": "Bundle", "type": "batch-response", "entry": entries})


#: the answer to ``GET metadata`` of a server without a CapabilityStatement: a push writes at
#: the toolkit's ids (write mode client-ids)
NO_STATEMENT = outcome(404, "not-found", "no CapabilityStatement")


def test_push_resource_by_resource_writes_what_is_referred_to_first() -> None:
    server = Server(
        NO_STATEMENT, _read_back(None, None), httpx.Response(201, headers={"ETag": 'W/"1"'})
    )
    with client_for(server) as client:
        result = client.push(_bundle(), mode="resources")
    paths = [(r.method, r.url.path) for r in server.requests]
    assert paths == [
        ("GET", "/fhir/metadata"),
        ("POST", "/fhir/"),
        ("PUT", "/fhir/Patient/11111111-1111-4111-8111-111111111111"),
        ("PUT", "/fhir/Flag/22222222-2222-4222-8222-22222222abcd"),
    ]
    flag = json.loads(server.requests[3].content)
    assert flag["subject"] == {"reference": "Patient/11111111-1111-4111-8111-111111111111"}
    assert [o.version for o in result.outcomes] == ["1", "1"]
    assert result.created == 2


def test_push_transaction_is_retried_after_a_reset() -> None:
    reply = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "etag": 'W/"1"'}},
            {"response": {"status": "200 OK", "etag": 'W/"2"'}},
        ],
    }
    # the Flag is not there yet; the Patient is, with other content, at version 1
    held = {
        "resourceType": "Patient",
        "id": "11111111-1111-4111-8111-111111111111",
        "meta": {"versionId": "1"},
        "gender": "female",
    }
    server = Server(NO_STATEMENT, _read_back(None, held), httpx.ReadError("reset"), resource(reply))
    with client_for(server) as client:
        result = client.push(_bundle())
    assert len(server.requests) == 4
    sent = json.loads(server.requests[3].content)
    assert sent["type"] == "transaction"
    assert {e["request"]["method"] for e in sent["entry"]} == {"PUT"}
    assert [e["request"].get("ifMatch") for e in sent["entry"]] == [None, 'W/"1"']
    assert [(o.status, o.version) for o in result.outcomes] == [
        ("201 Created", "1"),
        ("200 OK", "2"),
    ]


def test_push_writes_nothing_when_the_server_holds_the_same_content() -> None:
    bundle = _bundle()
    stamp = {"versionId": "4", "lastUpdated": "2026-01-01T00:00:00Z"}
    held = [
        {**e["resource"], "meta": {**e["resource"]["meta"], **stamp}}
        for e in to_transaction(bundle)["entry"]
    ]
    server = Server(NO_STATEMENT, _read_back(*held))
    with client_for(server) as client:
        result = client.push(bundle)
    assert len(server.requests) == 2  # the statement, the read, and no write
    assert [(o.status, o.version) for o in result.outcomes] == [("200 unchanged", "4")] * 2
    assert result.created == 0


def _child_bundle() -> JSON:
    """``_bundle`` with the child's NHS number: the Patient is found by it."""
    bundle = _bundle()
    patient = bundle["entry"][1]["resource"]
    patient["identifier"] = [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9404405434"}]
    return bundle


def _nothing_held(request: httpx.Request) -> httpx.Response:
    """The answer to a push's batch of lookups: an empty searchset for each."""
    entries = json.loads(request.content)["entry"]
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    answer = [{"response": {"status": "200 OK"}, "resource": empty} for _ in entries]
    return resource({"resourceType": "Bundle", "type": "batch-response", "entry": answer})


def test_push_in_create_mode_reads_every_entry_of_the_answer() -> None:
    """write = "create": POST with ifNoneExist, references as urn:uuid; the ids come from
    each entry's location, created or not from its status and version (a 200 at version 3:
    a conditional create that found what a concurrent push wrote)."""
    reply = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "location": "Flag/f9/_history/1"}},
            {
                "response": {
                    "status": "200 OK",
                    "location": "Patient/p7/_history/3",
                    "etag": 'W/"3"',
                }
            },
        ],
    }
    server = Server(NO_STATEMENT, _nothing_held, resource(reply))
    with client_for(server, write="create") as client:
        result = client.push(_child_bundle())
    sent = json.loads(server.requests[2].content)
    requests = [e["request"] for e in sent["entry"]]
    assert [r["method"] for r in requests] == ["POST", "POST"]
    assert requests[0]["ifNoneExist"].startswith("identifier=https%3A%2F%2Ffhir.safeguarding")
    assert requests[1]["ifNoneExist"] == (
        "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9404405434"
    )
    flag, patient = (e["resource"] for e in sent["entry"])
    assert "id" not in flag
    assert "id" not in patient
    assert flag["subject"]["reference"] == sent["entry"][1]["fullUrl"]
    assert sent["entry"][1]["fullUrl"].startswith("urn:uuid:")
    assert [(o.resource, o.status, o.version) for o in result.outcomes] == [
        ("Flag/f9", "201 Created", "1"),
        ("Patient/p7", "200 OK", "3"),
    ]


def test_push_in_create_mode_names_a_failed_entry() -> None:
    outcome_422 = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "Flag.code missing"}],
    }
    reply = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "422 Unprocessable Entity", "outcome": outcome_422}},
            {"response": {"status": "201 Created", "location": "Patient/p7/_history/1"}},
        ],
    }
    server = Server(NO_STATEMENT, _nothing_held, resource(reply))
    with client_for(server, write="create") as client, pytest.raises(FhirError) as caught:
        client.push(_child_bundle())
    assert caught.value.status == 422
    assert "push failed for Flag/22222222-2222-4222-8222-22222222abcd (422" in str(caught.value)
    assert "Flag.code missing" in str(caught.value)


def test_push_in_create_mode_without_a_location_is_an_error() -> None:
    reply = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": {"status": "201 Created"}}] * 2,
    }
    server = Server(NO_STATEMENT, _nothing_held, resource(reply))
    with client_for(server, write="create") as client, pytest.raises(FhirError) as caught:
        client.push(_child_bundle())
    assert "has no location" in str(caught.value)


# --- Retry-After parsing ---------------------------------------------------------------------


def test_retry_after_forms() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90
    )
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- bundles: to a transaction and back ------------------------------------------------------

FHIR_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir"


@pytest.mark.parametrize(
    "path", sorted(FHIR_FIXTURES.glob("*/*.json")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_a_fixture_bundle_goes_as_puts_and_comes_back_as_the_same_artefact(path: Path) -> None:
    from interop.mappings.fhir import fhir_to_artefact
    from interop.transport.bundles import assemble, to_transaction

    bundle = json.loads(path.read_text(encoding="utf-8"))
    original = json.dumps(bundle, sort_keys=True)
    transaction = to_transaction(bundle)
    assert json.dumps(bundle, sort_keys=True) == original  # the input is not changed
    assert transaction["type"] == "transaction"
    urls = [e["request"]["url"] for e in transaction["entry"]]
    assert urls == [
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]
    ]
    assert {e["request"]["method"] for e in transaction["entry"]} == {"PUT"}
    text = json.dumps(transaction)
    assert '"reference": "urn:uuid:' not in text  # every inner reference is now Type/id
    # as a server gives them back: meta added, one search per type (each in creation order),
    # and no MessageHeader, which no patient search finds
    stored = sorted(
        (
            {**e["resource"], "meta": {**e["resource"].get("meta", {}), "versionId": "1"}}
            for e in transaction["entry"]
            if e["resource"]["resourceType"] != "MessageHeader"
        ),
        key=lambda resource: resource["resourceType"],
    )
    (group,) = assemble(stored)
    assert fhir_to_artefact(group) == fhir_to_artefact(bundle)


def test_assemble_normalises_references_and_keeps_artefacts_apart() -> None:
    from interop.transport.bundles import assemble, patients_in

    resources = [
        {"resourceType": "Patient", "id": "p1"},
        {"resourceType": "Patient", "id": "p2"},
        {"resourceType": "Flag", "id": "f1", "subject": {"reference": f"{BASE}/Patient/p1"}},
        {"resourceType": "Flag", "id": "f2", "subject": {"reference": "Patient/p2/_history/3"}},
        {
            "resourceType": "Composition",
            "id": "c2",
            "date": "2026-05-01",
            "subject": {"reference": "Patient/p2"},
        },
        {"resourceType": "Flag", "id": "f3", "subject": {"reference": "Patient/elsewhere"}},
    ]
    groups = assemble(resources)
    shapes = [[e["resource"]["id"] for e in g["entry"]] for g in groups]
    # a Patient joins no group (the child's one Patient is shared by all their artefacts):
    # each group that refers to it gets a copy
    assert shapes == [["f1", "p1"], ["f2", "p2"], ["c2", "p2"], ["f3"]]
    assert groups[0]["type"] == "collection"
    assert (groups[2]["type"], groups[2]["timestamp"]) == ("document", "2026-05-01T00:00:00Z")
    assert groups[0]["entry"][0]["resource"]["subject"] == {"reference": "Patient/p1"}
    assert groups[1]["entry"][0]["resource"]["subject"] == {"reference": "Patient/p2"}
    assert [patients_in(g) for g in groups] == [1, 1, 1, 0]
    assert resources[2]["subject"]["reference"] == f"{BASE}/Patient/p1"  # input unchanged


def test_assemble_keeps_an_artefact_together_by_its_tag_and_drops_the_toolkits_marks() -> None:
    """Two artefacts of one child whose resources meet only at the child's Patient: the
    artefact tag to_transaction gives them keeps each one group."""
    from interop.transport.bundles import (
        ARTEFACT_TAG_SYSTEM,
        RESOURCE_KEY_SYSTEM,
        assemble,
        to_transaction,
    )

    child = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9404405434"}],
    }

    def artefact(first: str, second: str) -> list[JSON]:
        entries = [
            {
                "resource": {
                    "resourceType": "Flag",
                    "id": first,
                    "subject": {"reference": "Patient/p1"},
                }
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": second,
                    "subject": {"reference": "Patient/p1"},
                }
            },
            {"resource": child},
        ]
        sent = to_transaction({"resourceType": "Bundle", "type": "collection", "entry": entries})
        return [e["resource"] for e in sent["entry"]]

    one, two = artefact("f1", "o1"), artefact("f2", "o2")
    assert one[0]["identifier"] == [{"system": RESOURCE_KEY_SYSTEM, "value": "f1"}]
    assert [t["system"] for t in one[0]["meta"]["tag"]] == [ARTEFACT_TAG_SYSTEM]
    assert "meta" not in one[2]
    assert "identifier" in one[2]
    groups = assemble([*one, *two[:2]])
    shapes = [[e["resource"]["id"] for e in g["entry"]] for g in groups]
    assert shapes == [["f1", "o1", "p1"], ["f2", "o2", "p1"]]
    flag = groups[0]["entry"][0]["resource"]
    assert "identifier" not in flag
    assert "meta" not in flag


def test_bundles_that_cannot_be_pushed() -> None:
    from interop.transport.bundles import BundleError, to_transaction

    with pytest.raises(BundleError, match="expected a FHIR Bundle"):
        to_transaction({"resourceType": "Patient"})
    with pytest.raises(BundleError, match="no entries"):
        to_transaction({"resourceType": "Bundle", "entry": []})
    no_id = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Flag"}}]}
    with pytest.raises(BundleError, match=r"entry\[0\].resource has no resourceType or id"):
        to_transaction(no_id)
