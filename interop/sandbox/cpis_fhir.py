"""The CP-IS stand-in publishes its register on the FHIR sandbox: the CP-IS FHIR API's data.

Real CP-IS answers a trust's ``GET CareTeam?patient:identifier=...`` from its register. In the
sandbox the register is the stand-in's SQLite file and the API is the toolkit's FHIR server, so
after the stand-in has answered an upload, each plan it now holds for the upload's children is
written there as the child protection flag's Bundle (Flag, CareTeam, Patient, the LA's
Organization): ``published = publish_upload(...)``. Writes are PUTs at deterministic ids, so
publishing again changes nothing. A plan CP-IS refused is not in the register, so it is not
published either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from interop.cpis.model import CpisRecord
from interop.cpis.upload import UploadReader
from interop.domain import ArtefactBase, ChildProtectionFlag, ResponsibleLocalAuthority
from interop.issues import IssuesError
from interop.sandbox.cpis_spine import Register, RegisteredPlan
from interop.transport.fhir_client import FhirClient

__all__ = ["Published", "plan_record", "publish_upload"]

RecordToFlag = Callable[[CpisRecord, ResponsibleLocalAuthority], ChildProtectionFlag]
JSON = dict[str, Any]
ToFhir = Callable[[ArtefactBase], JSON]


@dataclass
class Published:
    """What one upload's publication wrote: plans, resources, and plans that did not map."""

    plans: int = 0
    resources: int = 0
    not_mapped: list[str] = field(default_factory=list)  # "record id: why"


def plan_record(plan: RegisteredPlan) -> CpisRecord:
    """The register's plan as the CP-IS record it was uploaded as."""
    return CpisRecord(
        record_id=plan.record_id,
        subject_kind=plan.subject_kind,
        nhs_number=plan.nhs_number,
        date_of_birth=plan.date_of_birth,
        plan_type=plan.plan_type,
        start_date=plan.start_date,
        end_date=plan.end_date,
        delete_date=plan.delete_date,
        expected_delivery_date=plan.expected_delivery_date,
        given_name=plan.given_name,
        family_name=plan.family_name,
    )


def _uploaded_numbers(upload: bytes) -> tuple[str, set[str]]:
    """(the uploading LA's ODS code, the NHS numbers of the records that could be read)."""
    reader = UploadReader(upload)
    header, _ = reader.header()
    if header is None:
        return "", set()
    numbers = {r.record.nhs_number for r in reader.records() if r.record is not None}
    return header.la_ods_code, numbers


def publish_upload(
    upload: bytes,
    register: Register,
    client: FhirClient,
    *,
    authorities: Mapping[str, ResponsibleLocalAuthority],
    record_to_flag: RecordToFlag,
    to_fhir: ToFhir,
    today: date | None = None,
) -> Published:
    """Write to ``client`` every plan ``register`` holds for the children of ``upload``.

    ``authorities`` is CP-IS's directory of local authorities by ODS code (the contacts it
    shows health staff come from there, not from the upload). Raises ``FhirClientError`` when
    the server refuses a write.
    """
    la_ods, numbers = _uploaded_numbers(upload)
    result = Published()
    authority = authorities.get(la_ods)
    if authority is None:
        return result
    for number in sorted(numbers):
        for plan in register.plans_for(number, today):
            if plan.la_ods_code != la_ods:
                continue
            try:
                flag = record_to_flag(plan_record(plan), authority)
            except IssuesError as exc:
                result.not_mapped.append(f"{plan.record_id}: {exc.issues[0].describe()}")
                continue
            outcome = client.push(to_fhir(flag))
            result.plans += 1
            result.resources += len(outcome.outcomes)
    return result
