"""Stand-ins for the national services around CP-IS, on 127.0.0.1: PDS FHIR and ODS.

They follow NHS England's published specifications (the PDS FHIR API's OpenAPI description and
sandbox; the Organisation Data Terminology API), so the toolkit, its demo and its tests run
offline. They never define the standard: where a detail is not public the choice is marked
"to be confirmed at onboarding" (docs/national-services.md).

Paths (``host`` = ``http://127.0.0.1:PORT``)::

    GET {host}/personal-demographics/FHIR/R4/Patient/{nhs}    read (superseded: the new record)
    GET {host}/personal-demographics/FHIR/R4/Patient?family&birthdate[&given&gender]
    GET {host}/organisation-data-terminology-api/fhir/Organization/{ods}
    GET {host}/patient-flags/FHIR/R4/Flag?patient={nhs}&code={FGM|NRAF|CP-IS}
    POST {host}/patient-flags/FHIR/R4/Flag                    an England-Flag-PatientFlag
    DELETE {host}/patient-flags/FHIR/R4/Flag?patient&code     with x-removal: reason

As PDS does, every request must carry ``X-Request-ID`` (a UUID; 400 without one), a restricted
record is answered with ``meta.security`` ``R`` and without address, telecom or GP, and a read
of a superseded number answers the current record (its ``id`` is the new number). Errors are
OperationOutcomes with PDS's codes (``Spine-ErrorOrWarningCode``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interop.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM, InvalidNhsNumber
from interop.identifiers import check_nhs_number as _check

__all__ = [
    "FLAGS_PATH",
    "ODS_PATH",
    "PDS_PATH",
    "NationalServices",
    "OdsOrganisation",
    "PdsRecord",
    "create_national_app",
    "running_national_services",
    "stand_in_organisations",
    "stand_in_patients",
]

JSON = dict[str, Any]
PDS_PATH = "/personal-demographics/FHIR/R4"
ODS_PATH = "/organisation-data-terminology-api/fhir"
FLAGS_PATH = "/patient-flags/FHIR/R4"
SPINE_ERROR_SYSTEM = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
#: the ODS role code system and the role codes of the organisations the toolkit meets
#: (to be confirmed at onboarding against the ODS role list; kept in ``ODS_ROLES`` of
#: ``interop.transport.ods`` for the client side)
ODS_ROLE_SYSTEM = (
    "https://digital.nhs.uk/services/organisation-data-service/CodeSystem/ODSOrganisationRoleType"
)
ODS_ROLE_EXTENSION = (
    "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-OrganisationRole"
)
_FHIR_JSON = "application/fhir+json"
STOP_TIMEOUT = 10.0
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class PdsRecord:
    """A synthetic person as the PDS stand-in holds them."""

    nhs_number: str
    given: str = field(repr=False)
    family: str = field(repr=False)
    birth_date: date = field(repr=False)
    gender: str = "unknown"
    #: the practice's ODS code
    gp: str | None = "Y12345"
    postcode: str = field(default="LS1 4AP", repr=False)
    sensitive: bool = False
    deceased: date | None = None
    #: this number is superseded by that one (a read answers that record)
    superseded_by: str | None = None


@dataclass(frozen=True)
class OdsOrganisation:
    """An organisation as the ODS stand-in holds it."""

    ods_code: str
    name: str
    #: ODS role code (see ``ODS_ROLE_SYSTEM``)
    role: str
    active: bool = True
    closed: date | None = None


def stand_in_patients() -> list[PdsRecord]:
    """The stand-in's fixed test patients: the PDS sandbox's numbers and the cases that matter
    before sharing (a superseded number, a sensitive record, a deceased child). Synthetic."""
    return [
        PdsRecord("9000000009", "Jayne", "Smith", date(2010, 10, 22), "female"),
        PdsRecord(
            "9000000017", "Jayne", "Smith", date(2010, 10, 22), "female", superseded_by="9000000009"
        ),
        PdsRecord("9000000025", "Janet", "Smythe", date(2012, 5, 1), "female", sensitive=True),
        PdsRecord(
            "9000000041", "Sam", "Brown", date(2015, 3, 14), "male", deceased=date(2024, 1, 2)
        ),
        PdsRecord("9000000068", "Alex", "Green", date(2016, 7, 9), "other"),
        # Jayne's twin: a search by family name and birth date alone matches two
        PdsRecord("9000000076", "John", "Smith", date(2010, 10, 22), "male"),
    ]


def stand_in_organisations() -> list[OdsOrganisation]:
    """The stand-in's fixed organisations (ODS codes as in the toolkit's examples)."""
    return [
        OdsOrganisation("RR8", "LEEDS TEACHING HOSPITALS NHS TRUST", "RO197"),
        OdsOrganisation("X26", "TEST BOROUGH COUNCIL", "RO141"),
        OdsOrganisation("LA465", "LEICESTER CITY COUNCIL", "RO141"),
        OdsOrganisation("Y12345", "SYNTHETIC GP PRACTICE", "RO76"),
        OdsOrganisation("RXX", "A CLOSED TRUST", "RO197", active=False, closed=date(2020, 3, 31)),
    ]


def _outcome(status: int, code: str, spine_code: str, display: str) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": code,
                "details": {
                    "coding": [
                        {
                            "system": SPINE_ERROR_SYSTEM,
                            "version": "1",
                            "code": spine_code,
                            "display": display,
                        }
                    ]
                },
            }
        ],
    }
    return _json(body, status)


def _json(body: JSON, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False).encode()
    return Response(content, status, headers=headers, media_type=_FHIR_JSON)


def _patient(record: PdsRecord, *, leak: bool = False) -> JSON:
    """The record as PDS shapes a Patient (restricted: no address, telecom or GP, unless
    ``leak``: a misbehaving server, for the tests that the client never keeps them)."""
    patient: JSON = {
        "resourceType": "Patient",
        "id": record.nhs_number,
        "meta": {
            "versionId": "2",
            "security": [
                {
                    "system": CONFIDENTIALITY_SYSTEM,
                    "code": "R" if record.sensitive else "U",
                    "display": "restricted" if record.sensitive else "unrestricted",
                }
            ],
        },
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": record.nhs_number}],
        "name": [{"use": "usual", "family": record.family, "given": [record.given]}],
        "gender": record.gender,
        "birthDate": record.birth_date.isoformat(),
    }
    if record.deceased:
        patient["deceasedDateTime"] = f"{record.deceased.isoformat()}T00:00:00+00:00"
    if leak or not record.sensitive:
        patient["address"] = [{"use": "home", "line": ["1 Synthetic Street"],
                               "postalCode": record.postcode}]  # fmt: skip
        if record.gp:
            patient["generalPractitioner"] = [{
                "type": "Organization",
                "identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": record.gp},
            }]  # fmt: skip
    return patient


def _organisation(org: OdsOrganisation) -> JSON:
    resource: JSON = {
        "resourceType": "Organization",
        "id": org.ods_code,
        "identifier": [{"system": ODS_ORGANISATION_SYSTEM, "value": org.ods_code}],
        "active": org.active,
        "name": org.name,
        "extension": [{
            "url": ODS_ROLE_EXTENSION,
            "extension": [
                {"url": "roleCode", "valueCodeableConcept": {"coding": [
                    {"system": ODS_ROLE_SYSTEM, "code": org.role}]}},
                {"url": "primaryRole", "valueBoolean": True},
            ],
        }],
    }  # fmt: skip
    if org.closed:
        resource["extension"].append({
            "url": "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-TypedPeriod",
            "extension": [{"url": "period", "valuePeriod": {"end": org.closed.isoformat()}}],
        })  # fmt: skip
    return resource


class NationalServices:
    """The stand-ins' data: PDS's patients and ODS's organisations (thread-safe to change)."""

    def __init__(
        self,
        patients: Iterable[PdsRecord] = (),
        organisations: Iterable[OdsOrganisation] = (),
        *,
        leak_restricted: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        #: answer restricted records with their address and GP (a misbehaving PDS, for tests)
        self.leak_restricted = leak_restricted
        self.patients = {p.nhs_number: p for p in patients}
        self.organisations = {o.ods_code: o for o in organisations}
        #: how many requests each service answered (tests check a trace really happened)
        self.calls: dict[str, int] = {"pds": 0, "ods": 0, "flags": 0}
        #: Patient Flags: (NHS number, category code) → the active Flag
        self.flags: dict[tuple[str, str], JSON] = {}
        #: the reasons flags were removed with (NHS number, code, reason)
        self.removals: list[tuple[str, str, str]] = []

    def add_patients(self, patients: Iterable[PdsRecord]) -> None:
        """Add (or replace) patients."""
        with self._lock:
            self.patients.update((p.nhs_number, p) for p in patients)

    def _count(self, service: str) -> None:
        with self._lock:
            self.calls[service] += 1

    # --- PDS ------------------------------------------------------------------------------

    async def pds_read(self, request: Request) -> Response:
        self._count("pds")
        missing = _request_id_problem(request)
        if missing is not None:
            return missing
        ident = request.path_params["id"]
        try:
            number = _check(ident)
        except InvalidNhsNumber:
            return _outcome(400, "value", "INVALID_RESOURCE_ID", "Resource Id is invalid")
        record = self.patients.get(number)
        seen = {number}
        while record is not None and record.superseded_by:
            if record.superseded_by in seen:  # a loop in the test data
                break
            seen.add(record.superseded_by)
            record = self.patients.get(record.superseded_by)
        if record is None:
            return _outcome(404, "not-found", "RESOURCE_NOT_FOUND", "Resource not found")
        return _json(_patient(record, leak=self.leak_restricted), headers={"ETag": 'W/"2"'})

    async def pds_search(self, request: Request) -> Response:
        self._count("pds")
        missing = _request_id_problem(request)
        if missing is not None:
            return missing
        query = request.query_params
        family = (query.get("family") or "").strip().casefold()
        birthdate = (query.get("birthdate") or "").removeprefix("eq")
        if not family or not birthdate:
            return _outcome(
                400, "invalid", "INVALID_SEARCH_DATA", "Search needs family and birthdate"
            )
        given = (query.get("given") or "").strip().casefold()
        gender = query.get("gender")
        matches = [
            p
            for p in self.patients.values()
            if not p.superseded_by
            and p.family.casefold() == family
            and p.birth_date.isoformat() == birthdate
            and (not given or p.given.casefold() == given)
            and (not gender or p.gender == gender)
        ]
        if len(matches) > 1:  # application-restricted access: a single match or none
            return _outcome(200, "multiple-matches", "TOO_MANY_MATCHES", "Too Many Matches")
        entries = [
            {
                "fullUrl": f"{request.base_url}{PDS_PATH.lstrip('/')}/Patient/{p.nhs_number}",
                "search": {"score": 1},
                "resource": _patient(p, leak=self.leak_restricted),
            }
            for p in matches
        ]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "entry": entries,
        }
        return _json(bundle)

    # --- ODS ------------------------------------------------------------------------------

    async def ods_read(self, request: Request) -> Response:
        self._count("ods")
        code = request.path_params["id"].upper()
        org = self.organisations.get(code)
        if org is None:
            return _outcome(404, "not-found", "RESOURCE_NOT_FOUND", "Resource not found")
        return _json(_organisation(org))

    # --- Patient Flags --------------------------------------------------------------------

    def _flag_key(self, request: Request) -> tuple[str, str] | Response:
        number = request.query_params.get("patient") or ""
        code = request.query_params.get("code") or ""
        try:
            number = _check(number)
        except InvalidNhsNumber:
            return _outcome(400, "value", "INVALID_VALUE", "patient must be an NHS number")
        if code not in ("FGM", "NRAF", "CP-IS"):
            return _outcome(400, "value", "INVALID_VALUE", "code must be FGM, NRAF or CP-IS")
        return number, code

    async def flags_search(self, request: Request) -> Response:
        self._count("flags")
        key = self._flag_key(request)
        if isinstance(key, Response):
            return key
        found = self.flags.get(key)
        entries = [{"resource": found}] if found else []
        bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
        return _json({**bundle, "entry": entries})

    async def flags_create(self, request: Request) -> Response:
        self._count("flags")
        try:
            flag = json.loads(await request.body())
            number = _check(flag["subject"]["identifier"]["value"])
            code = flag["code"]["coding"][0]["code"]
        except (ValueError, KeyError, IndexError, TypeError, InvalidNhsNumber):
            return _outcome(400, "invalid", "INVALID_RESOURCE", "not an England-Flag-PatientFlag")
        if code not in ("FGM", "NRAF"):
            return _outcome(403, "forbidden", "ACCESS_DENIED", "this flag cannot be raised here")
        with self._lock:
            if (number, code) in self.flags:
                return _outcome(409, "duplicate", "DUPLICATE_REJECTED", "flag already raised")
            stored = {**flag, "id": str(uuid.uuid4()), "meta": {**flag.get("meta", {}),
                      "versionId": "1"}}  # fmt: skip
            self.flags[(number, code)] = stored
        return _json(stored, 201)

    async def flags_delete(self, request: Request) -> Response:
        self._count("flags")
        key = self._flag_key(request)
        if isinstance(key, Response):
            return key
        reason = request.headers.get("x-removal") or request.query_params.get("reason")
        if not reason:
            return _outcome(400, "required", "MISSING_VALUE", "a removal reason is required")
        with self._lock:
            if self.flags.pop(key, None) is not None:
                self.removals.append((*key, reason))
        return Response(status_code=204)


def _request_id_problem(request: Request) -> Response | None:
    value = request.headers.get("x-request-id")
    try:
        uuid.UUID(value or "")
    except ValueError:
        code = "MISSING_VALUE" if not value else "INVALID_VALUE"
        return _outcome(400, "value", code, "Invalid value - X-Request-ID must be a UUID")
    return None


def create_national_app(services: NationalServices) -> Starlette:
    """The stand-ins as one ASGI app over ``services``."""
    routes = [
        Route(f"{PDS_PATH}/Patient", services.pds_search, methods=["GET"]),
        Route(f"{PDS_PATH}/Patient/{{id}}", services.pds_read, methods=["GET"]),
        Route(f"{ODS_PATH}/Organization/{{id}}", services.ods_read, methods=["GET"]),
        Route(f"{FLAGS_PATH}/Flag", services.flags_search, methods=["GET"]),
        Route(f"{FLAGS_PATH}/Flag", services.flags_create, methods=["POST"]),
        Route(f"{FLAGS_PATH}/Flag", services.flags_delete, methods=["DELETE"]),
    ]
    return Starlette(routes=routes)


@contextmanager
def running_national_services(services: NationalServices, port: int = 0) -> Iterator[str]:
    """Serve ``services`` on 127.0.0.1 (``port``, 0 for a free one) until the block ends; yields
    the host URL ``http://127.0.0.1:PORT`` (PDS at ``+ PDS_PATH``, ODS at ``+ ODS_PATH``)."""
    import httpx

    from interop.sandbox.fhir_server.running import bind_socket, server_config

    sock = bind_socket("127.0.0.1", port)
    server = uvicorn.Server(server_config(create_national_app(services)))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="national-stand-ins", daemon=True
    )
    host = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        thread.start()
        import time

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                httpx.get(f"{host}{ODS_PATH}/Organization/_", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError(f"the national stand-ins did not start at {host}") from None
                time.sleep(0.05)
        services.calls = {"pds": 0, "ods": 0, "flags": 0}  # the start-up probe is not a call
        yield host
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
