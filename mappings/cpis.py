"""Child protection flag ⇄ CP-IS upload record: what of a flag goes to CP-IS, and back.

Pure: no I/O. ``flag_to_record`` gives the record an LA upload carries; ``record_to_flag``
rebuilds a flag from a record and the responsible local authority (which the record does not
carry: CP-IS knows the LA from the upload file and its own directory).

What CP-IS carries, field by field:
- ``local_id`` → ``record_id`` (the id the acknowledgement names the record by);
- ``plan_type`` → ``plan_type``, and the subject kind: an unborn child protection plan (UCPP)
  is held against the expectant mother (UnbornChildSubject), every other plan against the child;
- ``subject`` NHS number, date of birth, given and family name → the record's;
- ``expected_delivery_date`` (UCPP only), ``plan_start``, ``plan_end`` → the same;
- ``effective_delete_date`` → ``delete_date``: the delete date given, or 12 months after the
  plan's end. Read back it is explicit, so a flag that left it to the default returns with the
  default written in (``effective_delete_date`` is the same either way).

What CP-IS does not carry, so a round trip flag → record → flag drops it:
- ``abuse_category``: never sent (CP-IS does not hold the category of abuse; local content);
- ``sharing`` (the information-sharing marker): comes back as the default;
- ``end_reason`` and ``end_reason_text``;
- ``lac_legal_basis`` (s20/s31/s38);
- the subject's ``nhs_number_verification``, ``gender`` and ``local_identifier``;
- the responsible LA's details: they come from the ``la`` argument, not from the record.
"""

from __future__ import annotations

from datetime import date

from interop.codes import PlanType
from interop.cpis.model import CpisRecord, SubjectKind
from interop.domain import ChildProtectionFlag, ResponsibleLocalAuthority
from interop.issues import IssueCode
from interop.mappings.fhir_common import JSON, MappingError, Reader, build

#: Where a flag field's problem is reported, by the record field it comes from.
RECORD = "CpisRecord"
_ORIGINS = {
    "$.local_id": f"{RECORD}.record_id",
    "$.plan_type": f"{RECORD}.plan_type",
    "$.subject.nhs_number": f"{RECORD}.nhs_number",
    "$.subject.given_name": f"{RECORD}.given_name",
    "$.subject.family_name": f"{RECORD}.family_name",
    "$.subject.date_of_birth": f"{RECORD}.date_of_birth",
    "$.subject": RECORD,
    "$.plan_start": f"{RECORD}.start_date",
    "$.plan_end": f"{RECORD}.end_date",
    "$.delete_date": f"{RECORD}.delete_date",
    "$.expected_delivery_date": f"{RECORD}.expected_delivery_date",
    "$.responsible_la": "ResponsibleLocalAuthority",
}

__all__ = ["MappingError", "flag_to_record", "record_to_flag"]


def subject_kind(plan_type: PlanType) -> SubjectKind:
    """Whose record a plan is held against: the mother for a UCPP, else the child."""
    return SubjectKind.UNBORN_CHILD_MOTHER if plan_type is PlanType.UCPP else SubjectKind.CHILD


def flag_to_record(flag: ChildProtectionFlag) -> CpisRecord:
    """The CP-IS upload record of a flag (never its category of abuse)."""
    subject = flag.subject
    return CpisRecord(
        record_id=flag.local_id,
        subject_kind=subject_kind(flag.plan_type),
        nhs_number=subject.nhs_number,
        date_of_birth=subject.date_of_birth,
        plan_type=flag.plan_type,
        start_date=flag.plan_start,
        end_date=flag.plan_end,
        delete_date=flag.effective_delete_date,
        expected_delivery_date=flag.expected_delivery_date,
        given_name=subject.given_name,
        family_name=subject.family_name,
    )


def record_to_flag(record: CpisRecord, la: ResponsibleLocalAuthority) -> ChildProtectionFlag:
    """A flag from a CP-IS record and its responsible LA, or ``MappingError``.

    Every problem is located at the record field it comes from (``CpisRecord.given_name``):
    a record without names, an invalid NHS number, a subject kind that does not fit the plan
    type, and whatever the flag's own rules refuse (an end before the start, ...).
    """
    reader = Reader()
    if record.subject_kind is not subject_kind(record.plan_type):
        reader.problem(
            f"{RECORD}.subject_kind",
            f"a {record.plan_type.value} record is held against "
            f"the {'mother' if record.plan_type is PlanType.UCPP else 'child'}, "
            f"not '{record.subject_kind.value}'",
            IssueCode.INVARIANT,
        )
    data: JSON = {
        "kind": "child-protection-flag",
        "local_id": record.record_id,
        "plan_type": record.plan_type.value,
        "subject": {
            "nhs_number": record.nhs_number,
            "given_name": record.given_name,
            "family_name": record.family_name,
            "date_of_birth": record.date_of_birth.isoformat(),
        },
        "expected_delivery_date": _iso(record.expected_delivery_date),
        "plan_start": record.start_date.isoformat(),
        "plan_end": _iso(record.end_date),
        "delete_date": _iso(record.delete_date),
        "responsible_la": la.model_dump(mode="json", exclude_none=True),
    }
    return build(reader, ChildProtectionFlag, data, RECORD, _ORIGINS)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
