"""The Patient Flags API (NHS England): FGM and reasonable-adjustment flags, and the CP-IS flag.

A thin client on a ``FhirClient``, shaped as the Patient Flags implementation guide (beta) and
OpenAPI description shape it, unlike the older FGM-IS "set to inactive" pattern of ``flags``:

- read: ``GET [base]/Flag?patient={nhs}&code={category}`` (the flag category from
  ``PatientFlagCategory``: ``FGM``, ``NRAF`` reasonable adjustment, ``CP-IS``);
- raise: ``POST [base]/Flag`` with an England-Flag-PatientFlag (FGM and reasonable
  adjustment only: the CP-IS flag is CP-IS's, read-only here);
- remove: a conditional ``DELETE [base]/Flag?patient={nhs}&code={category}`` with the removal
  reason in the ``x-removal`` header (the guide's v2 pages show a ``reason`` parameter
  instead: which one the live API takes is **to be confirmed at onboarding**, so both are
  sent).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from interop.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM, check_nhs_number
from interop.transport.fhir_client import FhirClient

__all__ = [
    "FLAG_CATEGORIES",
    "PATIENT_FLAG_CATEGORY",
    "PATIENT_FLAG_PROFILE",
    "FlagKind",
    "PatientFlagsApi",
    "patient_flag",
]

JSON = dict[str, Any]
FlagKind = Literal["fgm", "reasonable-adjustment", "cpis"]

PATIENT_FLAG_CATEGORY = "https://fhir.nhs.uk/England/CodeSystem/PatientFlagCategory"
PATIENT_FLAG_PROFILE = "https://fhir.nhs.uk/England/StructureDefinition/England-Flag-PatientFlag"
#: the toolkit's names for the flag categories → PatientFlagCategory codes
FLAG_CATEGORIES: dict[str, str] = {"fgm": "FGM", "reasonable-adjustment": "NRAF", "cpis": "CP-IS"}
#: flags a local system may raise and remove (the CP-IS flag comes from CP-IS)
WRITABLE = ("fgm", "reasonable-adjustment")
REMOVAL_HEADER = "x-removal"


def patient_flag(kind: FlagKind, nhs_number: str, *, author_ods: str, start: date) -> JSON:
    """An England-Flag-PatientFlag of ``kind`` for the patient, authored by ``author_ods``."""
    code = FLAG_CATEGORIES[kind]
    return {
        "resourceType": "Flag",
        "meta": {"profile": [PATIENT_FLAG_PROFILE]},
        "status": "active",
        "category": [{"coding": [{"system": PATIENT_FLAG_CATEGORY, "code": code}]}],
        "code": {"coding": [{"system": PATIENT_FLAG_CATEGORY, "code": code}]},
        "subject": {"identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}},
        "period": {"start": start.isoformat()},
        "author": {"identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": author_ods}},
    }


class PatientFlagsApi:
    """Patient Flags over one endpoint; the ``client`` stays the caller's to close."""

    def __init__(self, client: FhirClient) -> None:
        self.client = client

    def flags(self, nhs_number: str, kind: FlagKind) -> list[JSON]:
        """The patient's flags of ``kind`` (the CP-IS flag: for scheduled care)."""
        number = check_nhs_number(nhs_number)
        params = {"patient": number, "code": FLAG_CATEGORIES[kind]}
        bundle = self.client.expect_resource(
            self.client.request("GET", "Flag", params=params), "Bundle"
        )
        return [
            e["resource"]
            for e in bundle.get("entry") or []
            if isinstance(e, dict) and (e.get("resource") or {}).get("resourceType") == "Flag"
        ]

    def raise_flag(self, nhs_number: str, kind: FlagKind, *, author_ods: str, start: date) -> JSON:
        """Raise an FGM or reasonable-adjustment flag, once: an active one is returned as is
        (a POST is never retried blindly, so the read comes first)."""
        if kind not in WRITABLE:
            raise ValueError(f"the {kind} flag is read-only here (CP-IS raises it)")
        number = check_nhs_number(nhs_number)
        existing = [f for f in self.flags(number, kind) if f.get("status") == "active"]
        if existing:
            return existing[0]
        return self.client.create(patient_flag(kind, number, author_ods=author_ods, start=start))

    def remove(self, nhs_number: str, kind: FlagKind, *, reason: str) -> None:
        """Remove the patient's flag of ``kind`` with a reason (the documented conditional
        DELETE); removing a flag that is not there is not an error."""
        if kind not in WRITABLE:
            raise ValueError(f"the {kind} flag is read-only here (CP-IS removes it)")
        if not reason.strip():
            raise ValueError("removing a flag needs a reason")
        number = check_nhs_number(nhs_number)
        params = {"patient": number, "code": FLAG_CATEGORIES[kind], "reason": reason.strip()}
        headers = {REMOVAL_HEADER: reason.strip()}
        self.client.request("DELETE", "Flag", params=params, headers=headers)
