"""The PDS FHIR API (Personal Demographics Service, FHIR R4): a thin client on a ``FhirClient``.

``Pds(client).read(nhs_number)`` reads a Patient by NHS number (``GET Patient/{nhs}``);
``search(...)`` looks a patient up by demographics (``GET Patient?family&given&birthdate``).
Both give a ``PdsPatient``: what matters before safeguarding data is shared, read from the
Patient as PDS shapes it:

- a superseded number: PDS answers a read of the old number with the record of the current
  one, so the Patient's ``id`` differs from the number asked for (``superseded``);
- a restricted (sensitive) record: ``meta.security`` carries ``R`` (restricted) or ``REDRC``
  (redacted) from ``v3-Confidentiality``; PDS removes the address, telecom and GP, and this
  client drops them too whatever the answer holds, so no caller can show or use them;
- a death: ``deceasedDateTime``.

Application-restricted access allows a single-result search only: a search that matches more
than one patient is ``TooManyMatches`` (PDS's ``TOO_MANY_MATCHES``), never a guess.
Bases (configuration, never constants here): sandbox
``https://sandbox.api.service.nhs.uk/personal-demographics/FHIR/R4``, integration
``https://int.api.service.nhs.uk/...``, production ``https://api.service.nhs.uk/...``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from interop.errors import RemoteError
from interop.identifiers import NHS_NUMBER_SYSTEM, check_nhs_number
from interop.privacy import mask_nhs_number
from interop.transport.fhir_client import FhirClient
from interop.transport.fhir_errors import FhirError

__all__ = ["CONFIDENTIALITY_SYSTEM", "Pds", "PdsPatient", "TooManyMatches", "patient_from_pds"]

JSON = dict[str, Any]

CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
#: the confidentiality codes of a record whose details PDS withholds
RESTRICTED_CODES = frozenset({"R", "REDRC"})
#: PDS's error codes (Spine-ErrorOrWarningCode) and what they mean to a user
PDS_ERRORS = {
    "INVALID_RESOURCE_ID": "PDS says this is not a valid NHS number",
    "INVALIDATED_RESOURCE": "PDS holds this record as invalidated (it must not be used)",
    "RESOURCE_NOT_FOUND": "PDS does not know this NHS number",
    "ACCESS_DENIED": "PDS refused access: check the credentials and the user's role",
    "TOO_MANY_MATCHES": "PDS found more than one patient: add demographics to narrow the search",
    "INVALID_SEARCH_DATA": "PDS refused the search parameters",
}


class TooManyMatches(RemoteError):
    """A demographic search matched several patients (a single match is needed)."""


@dataclass(frozen=True)
class PdsPatient:
    """A Patient as PDS holds it, reduced to what a trace needs.

    ``address`` and ``general_practitioners`` are always empty for a ``restricted`` record.
    Names and the date of birth are personal data: never log them.
    """

    #: the number asked for (a search: the number found)
    requested: str
    #: the current NHS number (the Patient's id)
    nhs_number: str
    restricted: bool = False
    given_names: tuple[str, ...] = field(default=(), repr=False)
    family_name: str | None = field(default=None, repr=False)
    birth_date: str | None = field(default=None, repr=False)
    gender: str | None = None
    deceased: str | None = None
    address: tuple[JSON, ...] = field(default=(), repr=False)
    general_practitioners: tuple[str, ...] = ()
    version: str | None = None

    @property
    def superseded(self) -> bool:
        """Whether the number asked for has been replaced by ``nhs_number``."""
        return self.requested != self.nhs_number

    @property
    def date_of_birth(self) -> date | None:
        """The date of birth as a date (None when PDS gives none or only part of one)."""
        try:
            return date.fromisoformat(self.birth_date) if self.birth_date else None
        except ValueError:
            return None


def _usual_name(patient: JSON) -> JSON:
    names = [n for n in patient.get("name") or [] if isinstance(n, dict)]
    for name in names:
        if name.get("use") == "usual" and not (name.get("period") or {}).get("end"):
            return name
    return names[0] if names else {}


def _nhs_number_of(patient: JSON) -> str | None:
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM:
            value = identifier.get("value")
            return str(value) if value else None
    return None


def patient_from_pds(patient: JSON, requested: str) -> PdsPatient:
    """The ``PdsPatient`` of a PDS Patient resource read for ``requested``.

    ``RemoteError`` when the answer is not a Patient with an NHS number.
    """
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise RemoteError("PDS answered with something that is not a Patient")
    current = _nhs_number_of(patient) or str(patient.get("id") or "")
    try:
        current = check_nhs_number(current)
    except ValueError:
        raise RemoteError("PDS answered with a Patient without a valid NHS number") from None
    security = (patient.get("meta") or {}).get("security") or []
    restricted = any(
        isinstance(s, dict)
        and s.get("system") == CONFIDENTIALITY_SYSTEM
        and s.get("code") in RESTRICTED_CODES
        for s in security
    )
    name = _usual_name(patient)
    given = tuple(str(g) for g in name.get("given") or [] if isinstance(g, str))
    deceased = patient.get("deceasedDateTime")
    if deceased is None and patient.get("deceasedBoolean") is True:
        deceased = "unknown date"
    gps: tuple[str, ...] = ()
    address: tuple[JSON, ...] = ()
    if not restricted:  # never kept for a sensitive record, whatever the server sent
        address = tuple(a for a in patient.get("address") or [] if isinstance(a, dict))
        gps = tuple(
            str((gp.get("identifier") or {}).get("value"))
            for gp in patient.get("generalPractitioner") or []
            if isinstance(gp, dict) and (gp.get("identifier") or {}).get("value")
        )
    return PdsPatient(
        requested=requested,
        nhs_number=current,
        restricted=restricted,
        given_names=given,
        family_name=name.get("family") if isinstance(name.get("family"), str) else None,
        birth_date=patient.get("birthDate") if isinstance(patient.get("birthDate"), str) else None,
        gender=patient.get("gender") if isinstance(patient.get("gender"), str) else None,
        deceased=str(deceased) if deceased else None,
        address=address,
        general_practitioners=gps,
        version=(patient.get("meta") or {}).get("versionId"),
    )


def pds_error_message(exc: FhirError) -> str:
    """A user's explanation of a PDS error answer (its documented error codes)."""
    for issue in exc.issues:
        for text in (issue.details, issue.diagnostics):
            for code, meaning in PDS_ERRORS.items():
                if text and (code in text or meaning.lower() in text.lower()):
                    return meaning
    if exc.status in (401, 403):
        return PDS_ERRORS["ACCESS_DENIED"]
    if exc.status == 429:
        return "PDS is rate limiting this application: try again later"
    return f"PDS answered HTTP {exc.status}"


class Pds:
    """PDS operations over one FHIR endpoint; the ``client`` stays the caller's to close."""

    def __init__(self, client: FhirClient) -> None:
        self.client = client

    def read(self, nhs_number: str) -> PdsPatient | None:
        """The patient with ``nhs_number`` (``GET Patient/{nhs}``), or None when PDS does not
        know the number (404). ``InvalidNhsNumber`` before anything is sent; ``FhirError`` for
        other refusals (``pds_error_message`` explains them)."""
        number = check_nhs_number(nhs_number)
        # the path holds the NHS number: errors and logs name it masked
        what = f"GET Patient/{mask_nhs_number(number).replace(' ', '')}"
        try:
            answer = self.client.request("GET", f"Patient/{number}", what=what)
            patient = self.client.expect_resource(answer, "Patient")
        except FhirError as exc:
            if exc.status == 404:
                return None
            raise
        return patient_from_pds(patient, number)

    def search(
        self,
        *,
        family: str,
        given: str | None = None,
        birthdate: date,
        gender: str | None = None,
        postcode: str | None = None,
    ) -> PdsPatient | None:
        """The one patient matching these demographics, or None when none does.

        ``TooManyMatches`` when PDS finds several (application-restricted access answers a
        single match only).
        """
        if not family.strip():
            raise ValueError("a PDS search needs a family name")
        params = {"family": family.strip(), "birthdate": f"eq{birthdate.isoformat()}"}
        if given and given.strip():
            params["given"] = given.strip()
        if gender:
            params["gender"] = gender
        if postcode and postcode.strip():
            params["address-postalcode"] = postcode.strip()
        params["_max-results"] = "1"
        answer = self.client.request("GET", "Patient", params=params)
        body = answer.body
        if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
            raise TooManyMatches(PDS_ERRORS["TOO_MANY_MATCHES"])
        bundle = self.client.expect_resource(answer, "Bundle")
        patients = [
            e["resource"]
            for e in bundle.get("entry") or []
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "Patient"
        ]
        if not patients:
            return None
        if len(patients) > 1:
            raise TooManyMatches(PDS_ERRORS["TOO_MANY_MATCHES"])
        found = patient_from_pds(patients[0], "")
        return PdsPatient(**{**found.__dict__, "requested": found.nhs_number})
