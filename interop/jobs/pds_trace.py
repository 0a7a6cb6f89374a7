"""The PDS trace job: is this NHS number safe to share safeguarding data about?

NHS England's CP-IS FHIR API guide says a client "MUST have traced the patient on PDS" before
calling CP-IS; CP-IS itself refuses (CPR01, CPR02, CPR05) an upload whose child PDS does not
know, a day later. ``pds_trace`` reads the Patient from PDS and ``judge`` decides, before any
sharing:

- the number is current: a superseded number gives its replacement (``replaced``), or is held
  back when the policy says so;
- the child is alive (a deceased child's record is held back);
- the record is not sensitive: a restricted record is traced, but no address or GP is read;
- the name and date of birth match what the artefact says: a mismatch is a warning or holds the
  record back, as ``TracePolicy.mismatch`` (``[pds] mismatch``) says.

``pds_find`` is the search by demographics for a child with no number (a single match only, as
application-restricted access allows). The results hold personal data only inside
``PdsPatient`` (never in ``reasons`` or ``warnings``, which may be logged).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Literal

from interop.errors import RemoteError

if TYPE_CHECKING:
    from interop.config import EndpointSettings, PdsSettings
    from interop.transport.fhir_client import FhirClient
    from interop.transport.pds import PdsPatient

__all__ = [
    "Expected",
    "TracePolicy",
    "TraceResult",
    "judge",
    "pds_find",
    "pds_trace",
    "policy_of",
    "trace_with",
]

Mismatch = Literal["warn", "hold"]
Superseded = Literal["replace", "hold"]
TraceStatus = Literal["traced", "replaced", "held"]


@dataclass(frozen=True)
class Expected:
    """What the artefact says about the person, to compare with PDS (any part may be left out)."""

    given_name: str | None = field(default=None, repr=False)
    family_name: str | None = field(default=None, repr=False)
    date_of_birth: date | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TracePolicy:
    """How strict a trace is: ``mismatch`` of name or date of birth warns or holds; a
    ``superseded`` number is replaced by the current one or holds the record back."""

    mismatch: Mismatch = "hold"
    superseded: Superseded = "replace"


@dataclass(frozen=True)
class TraceResult:
    """One trace: the number asked for, the outcome, and why.

    ``nhs_number`` is the number to share under (the replacement of a superseded one), None
    when held back. ``reasons`` (held) and ``warnings`` contain no personal data.
    """

    requested: str
    status: TraceStatus
    nhs_number: str | None
    patient: PdsPatient | None = field(default=None, repr=False)
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the record may be shared (traced, or under its replacement number)."""
        return self.status != "held"

    @property
    def restricted(self) -> bool:
        """Whether PDS holds the record as sensitive (no address or GP may be shown)."""
        return self.patient is not None and self.patient.restricted


def policy_of(settings: PdsSettings | None) -> TracePolicy:
    """The trace policy ``[pds]`` sets (the defaults without one: hold mismatches, replace
    superseded numbers)."""
    if settings is None:
        return TracePolicy()
    return TracePolicy(mismatch=settings.mismatch, superseded=settings.superseded)


def _plain(text: str) -> str:
    """Case, accents, spaces, hyphens and apostrophes do not make a name differ."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = (c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in letters if c.isalnum()).casefold()


def _mismatches(patient: PdsPatient, expected: Expected) -> list[str]:
    found = []
    if expected.family_name and _plain(expected.family_name) != _plain(patient.family_name or ""):
        found.append("the family name differs from PDS")
    if expected.given_name:
        wanted = _plain(expected.given_name)
        if not any(_plain(g) == wanted for g in patient.given_names):
            found.append("the given name differs from PDS")
    if expected.date_of_birth and patient.date_of_birth != expected.date_of_birth:
        found.append("the date of birth differs from PDS")
    return found


def judge(
    requested: str,
    patient: PdsPatient | None,
    expected: Expected | None = None,
    policy: TracePolicy | None = None,
) -> TraceResult:
    """The verdict on one PDS answer (``patient`` None: PDS does not know the number)."""
    policy = policy or TracePolicy()
    if patient is None:
        return TraceResult(requested, "held", None, reasons=("PDS does not know this NHS number",))
    reasons: list[str] = []
    warnings: list[str] = []
    if patient.deceased:
        reasons.append("PDS records the person as deceased")
    if patient.superseded:
        if policy.superseded == "hold":
            reasons.append("the NHS number is superseded on PDS (its replacement is known)")
        else:
            warnings.append("the NHS number is superseded on PDS: its replacement is used")
    if patient.restricted:
        warnings.append("PDS holds a restricted (sensitive) record: no address or GP is used")
    mismatches = _mismatches(patient, expected or Expected())
    (reasons if policy.mismatch == "hold" else warnings).extend(mismatches)
    if reasons:
        return TraceResult(requested, "held", None, patient, tuple(reasons), tuple(warnings))
    status: TraceStatus = "replaced" if patient.superseded else "traced"
    return TraceResult(requested, status, patient.nhs_number, patient, (), tuple(warnings))


def trace_with(
    client: FhirClient,
    nhs_number: str,
    expected: Expected | None = None,
    policy: TracePolicy | None = None,
) -> TraceResult:
    """Trace ``nhs_number`` on the PDS behind ``client`` (the caller's to close).

    ``InvalidNhsNumber`` before anything is sent; ``RemoteError`` (with PDS's documented
    error explained) when PDS refuses or cannot be reached.
    """
    from interop.identifiers import check_nhs_number
    from interop.transport.fhir_errors import FhirError
    from interop.transport.pds import Pds, pds_error_message

    number = check_nhs_number(nhs_number)
    try:
        patient = Pds(client).read(number)
    except FhirError as exc:
        if exc.status == 400:  # PDS: INVALID_RESOURCE_ID
            return TraceResult(number, "held", None, reasons=(pds_error_message(exc),))
        raise RemoteError(f"PDS trace failed: {pds_error_message(exc)} ({exc})") from None
    return judge(number, patient, expected, policy)


def pds_trace(
    settings: EndpointSettings,
    nhs_number: str,
    expected: Expected | None = None,
    policy: TracePolicy | None = None,
) -> TraceResult:
    """Trace ``nhs_number`` on the PDS FHIR endpoint ``settings`` (``interop pds trace``)."""
    from interop.jobs.fhir_endpoint import open_client

    with open_client(settings) as client:
        return trace_with(client, nhs_number, expected, policy)


def pds_find(
    settings: EndpointSettings,
    *,
    family: str,
    birthdate: date,
    given: str | None = None,
    gender: str | None = None,
    postcode: str | None = None,
) -> TraceResult:
    """Search PDS for a person with no known number: the single match, traced and judged.

    ``held`` with a reason when nothing matches; ``TooManyMatches`` (a RemoteError) when several
    do. The match is judged like a trace (deceased, restricted).
    """
    from interop.jobs.fhir_endpoint import open_client
    from interop.transport.fhir_errors import FhirError
    from interop.transport.pds import Pds, pds_error_message

    with open_client(settings) as client:
        try:
            patient = Pds(client).search(
                family=family, given=given, birthdate=birthdate, gender=gender, postcode=postcode
            )
        except FhirError as exc:
            raise RemoteError(f"PDS search failed: {pds_error_message(exc)} ({exc})") from None
    if patient is None:
        return TraceResult("", "held", None, reasons=("PDS found nobody matching",))
    expected = Expected(given_name=given, family_name=family, date_of_birth=birthdate)
    found = judge(patient.nhs_number, patient, expected)
    return TraceResult("", found.status, found.nhs_number, patient, found.reasons, found.warnings)
