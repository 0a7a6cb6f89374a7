"""Child protection flag ⇄ FHIR: a UKCore-Flag-based Flag and the CP-IS API's CareTeam.

The Bundle (type ``collection``) holds:
- ``Flag`` (profile ChildProtectionFlag): code = PatientFlagCategory ``CP-IS`` + the plan type
  (+ SNOMED where NHS England publishes one), period = the plan, author = the LA (CP-IS);
- ``CareTeam`` (profile ChildProtectionCareTeam), the shape the CP-IS FHIR API returns:
  category = plan type, period, managing organisation = the LA with its office-hours and
  emergency-duty numbers;
- the ``Patient`` (the child, or for a UCPP the expectant mother) and the LA ``Organization``.
Fields CP-IS has no element for (expected delivery date, delete date, end reason, LAC legal
basis, category of abuse, the information-sharing marker) are toolkit extensions, on both the
Flag and the CareTeam, so either reads back into the whole artefact.
"""

from __future__ import annotations

from interop.codes import (
    CPIS,
    AbuseCategory,
    ContactPurpose,
    LacLegalBasis,
    PlanEndReason,
    PlanType,
)
from interop.domain import ChildProtectionFlag
from interop.identifiers import SNOMED_SYSTEM
from interop.mappings.fhir_common import (
    ARTEFACT_ID_SYSTEM,
    JSON,
    UKCORE,
    BundleIndex,
    Node,
    Reader,
    build,
    coding,
    concept,
    drop_empty,
    entry,
    ext,
    extensions,
    organization,
    patient,
    profile_url,
    read_organisation,
    read_patient,
    read_sharing,
    ref,
    resource_id,
    sharing_extension,
)
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef

KIND = "child-protection-flag"
FLAG_PROFILE = profile_url("ChildProtectionFlag")
CARE_TEAM_PROFILE = profile_url("ChildProtectionCareTeam")
PATIENT_FLAG_CATEGORY = "https://fhir.nhs.uk/England/CodeSystem/PatientFlagCategory"
SNOMED = SNOMED_SYSTEM
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"


def _plan_code(flag: ChildProtectionFlag) -> JSON:
    codings = [
        {"system": PATIENT_FLAG_CATEGORY, "code": "CP-IS", "display": "Child Protection"},
        coding(flag.plan_type),
    ]
    if flag.plan_type.snomed_code:
        codings.append(
            {
                "system": SNOMED,
                "code": flag.plan_type.snomed_code,
                "display": flag.plan_type.display,
            }
        )
    return {"coding": codings}


def _plan_extensions(flag: ChildProtectionFlag) -> list[JSON]:
    return extensions(
        ext("expected-delivery-date", flag.expected_delivery_date),
        ext("delete-date", flag.delete_date),
        ext("plan-end-reason", flag.end_reason),
        ext("plan-end-reason-text", flag.end_reason_text),
        ext("lac-legal-basis", flag.lac_legal_basis),
        ext("abuse-category", flag.abuse_category),
        sharing_extension(flag.sharing),
    )


def _la_telecom(flag: ChildProtectionFlag) -> list[JSON]:
    la = flag.responsible_la
    points = [
        (la.emergency_duty_phone, "phone", ContactPurpose.EMERGENCY_DUTY),
        (la.office_hours_phone, "phone", ContactPurpose.OFFICE_HOURS),
        (la.secure_email, "email", ContactPurpose.SECURE_EMAIL),
    ]
    return [
        {
            "extension": [ext("contact-purpose", purpose)],
            "system": system,
            "value": value,
            "use": "work",
        }
        for value, system, purpose in points
        if value is not None
    ]


def to_fhir(flag: ChildProtectionFlag) -> JSON:
    """The flag as a collection Bundle: Flag, CareTeam, Patient, the LA Organization."""
    nhs = flag.subject.nhs_number
    subject = patient(flag.subject, resource_id(flag, nhs, "patient"))
    la = organization(flag.responsible_la.as_organisation(), resource_id(flag, nhs, "la"))
    la["telecom"] = _la_telecom(flag)
    status = "active" if flag.plan_end is None else "inactive"
    period = drop_empty(
        {
            "start": flag.plan_start.isoformat(),
            "end": flag.plan_end.isoformat() if flag.plan_end else None,
        }
    )
    identifier = [{"system": ARTEFACT_ID_SYSTEM, "value": flag.local_id}]
    flag_resource = drop_empty(
        {
            "resourceType": "Flag",
            "id": resource_id(flag, nhs, "flag"),
            "meta": {"profile": [FLAG_PROFILE]},
            "extension": _plan_extensions(flag),
            "identifier": identifier,
            "status": status,
            "category": [
                {"coding": [{"system": FLAG_CATEGORY, "code": "safety", "display": "Safety"}]}
            ],
            "code": _plan_code(flag),
            "subject": ref(subject),
            "period": period,
            "author": ref(la),
        }
    )
    care_team = drop_empty(
        {
            "resourceType": "CareTeam",
            "id": resource_id(flag, nhs, "care-team"),
            "meta": {"profile": [CARE_TEAM_PROFILE]},
            "extension": _plan_extensions(flag),
            "identifier": identifier,
            "status": status,
            "category": [concept(flag.plan_type)],
            "name": f"{flag.plan_type.display}: {flag.responsible_la.name}",
            "subject": ref(subject),
            "period": period,
            "managingOrganization": [ref(la)],
        }
    )
    return {
        "resourceType": "Bundle",
        "id": resource_id(flag, nhs, "bundle"),
        "meta": {"profile": [profile_url("ChildProtectionFlagBundle")]},
        "type": "collection",
        "entry": [entry(r) for r in (flag_resource, care_team, subject, la)],
    }


def _read_la(reader: Reader, node: Node) -> JSON:
    la = read_organisation(reader, node)
    for point in node.items("telecom"):
        purpose_node = point.extension("contact-purpose")
        purpose = reader.code(purpose_node, ContactPurpose) if purpose_node else None
        value = reader.string(point.child("value"))
        if purpose is ContactPurpose.EMERGENCY_DUTY:
            la["emergency_duty_phone"] = value
        elif purpose is ContactPurpose.OFFICE_HOURS:
            la["office_hours_phone"] = value
        elif purpose is ContactPurpose.SECURE_EMAIL:
            la["secure_email"] = value
    return la


def from_fhir(bundle: JSON) -> ChildProtectionFlag:
    """The flag from a Bundle holding its Flag, or (as the CP-IS API returns) its CareTeam."""
    reader = Reader()
    index = BundleIndex(reader, bundle)
    anchors = index.with_profile("Flag", FLAG_PROFILE) or index.with_profile(
        "CareTeam", CARE_TEAM_PROFILE
    )
    anchor = anchors[0] if anchors else None
    if anchor is None:
        index.first("Flag", FLAG_PROFILE)  # records that the Bundle has neither
        reader.fail()
    is_flag = anchor.value["resourceType"] == "Flag"
    if is_flag:
        plan_node = reader.required(anchor.child("code"), anchor, "code")
        la_ref = reader.required(anchor.child("author"), anchor, "author")
    else:
        categories = anchor.items("category")
        plan_node = categories[0] if categories else reader.required(None, anchor, "category")
        managers = anchor.items("managingOrganization")
        la_ref = managers[0] if managers else reader.required(None, anchor, "managingOrganization")
    subject_node = index.resolve(
        reader.required(anchor.child("subject"), anchor, "subject"), "Patient"
    )
    la_node = index.resolve(la_ref, "Organization")
    period = reader.required(anchor.child("period"), anchor, "period")
    identifiers = [
        i for i in anchor.items("identifier") if i.value.get("system") == ARTEFACT_ID_SYSTEM
    ]
    data: JSON = {
        "kind": KIND,
        "local_id": reader.string(identifiers[0].child("value")) if identifiers else None,
        "plan_type": reader.code(plan_node, PlanType),
        "subject": read_patient(reader, subject_node) if subject_node else None,
        "expected_delivery_date": reader.ext_value(anchor, "expected-delivery-date", "valueDate"),
        "plan_start": reader.string(period.child("start")) if period else None,
        "plan_end": reader.string(period.child("end")) if period else None,
        "delete_date": reader.ext_value(anchor, "delete-date", "valueDate"),
        "end_reason": reader.ext_code(anchor, "plan-end-reason", PlanEndReason),
        "end_reason_text": reader.ext_value(anchor, "plan-end-reason-text", "valueString"),
        "responsible_la": _read_la(reader, la_node) if la_node else None,
        "lac_legal_basis": reader.ext_code(anchor, "lac-legal-basis", LacLegalBasis),
        "abuse_category": reader.ext_code(anchor, "abuse-category", AbuseCategory),
        "sharing": read_sharing(reader, anchor),
    }
    if not identifiers:
        reader.problem(
            f"{anchor.path}.identifier", f"no identifier with system {ARTEFACT_ID_SYSTEM}"
        )
    period_path = f"{anchor.path}.period"
    origins = {
        "$.local_id": f"{anchor.path}.identifier",
        "$.plan_type": plan_node.path if plan_node else anchor.path,
        "$.subject": subject_node.path if subject_node else anchor.path,
        "$.plan_start": f"{period_path}.start",
        "$.plan_end": f"{period_path}.end",
        "$.responsible_la": la_node.path if la_node else anchor.path,
        "$.expected_delivery_date": f"{anchor.path}.extension",
    }
    return build(reader, ChildProtectionFlag, data, anchor.path, origins)


_PLAN_EXTENSIONS = (
    ExtensionDef(
        "expected-delivery-date",
        "Expected date of delivery (unborn child protection plan)",
        ("Flag", "CareTeam"),
        "date",
        source=f"{CPIS}: UnbornChildSubject",
    ),
    ExtensionDef(
        "delete-date",
        "Date CP-IS deletes the record (CPPDD/LACDD/UCPDD)",
        ("Flag", "CareTeam"),
        "date",
        source=f"{CPIS}: delete dates CPPDD, LACDD, UCPDD",
    ),
    ExtensionDef(
        "plan-end-reason",
        "Why the plan ended",
        ("Flag", "CareTeam"),
        "Coding",
        PlanEndReason,
        source=PlanEndReason.source,
    ),
    ExtensionDef(
        "plan-end-reason-text", "Why the plan ended, in words", ("Flag", "CareTeam"), "string"
    ),
    ExtensionDef(
        "lac-legal-basis",
        "Legal basis of looked after status",
        ("Flag", "CareTeam"),
        "Coding",
        LacLegalBasis,
        source=LacLegalBasis.source,
    ),
    ExtensionDef(
        "abuse-category",
        "Category of abuse (local content, never sent to CP-IS)",
        ("Flag", "CareTeam"),
        "Coding",
        AbuseCategory,
        source=AbuseCategory.source,
    ),
)

EXTENSIONS: tuple[ExtensionDef, ...] = (
    *_PLAN_EXTENSIONS,
    ExtensionDef(
        "contact-purpose",
        "Which of a local authority's contact numbers this is",
        ("ContactPoint",),
        "Coding",
        ContactPurpose,
        source=ContactPurpose.source,
    ),
)

_ON_PLAN = (*((e.name, 0, "1") for e in _PLAN_EXTENSIONS), ("information-sharing", 0, "1"))

PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "ChildProtectionFlagBundle",
        "Bundle",
        UKCORE + "UKCore-Bundle",
        "Child protection flag Bundle",
        "A collection of the flag, its CP-IS CareTeam, the patient and the local authority.",
        elements=(ElementRule("Bundle.type", pattern={"code": "collection"}),),
    ),
    ProfileDef(
        "ChildProtectionFlag",
        "Flag",
        UKCORE + "UKCore-Flag",
        "Child protection flag (CP-IS)",
        "A child protection plan, looked after status or unborn child protection plan as a "
        "patient flag: PatientFlagCategory CP-IS plus the plan type; author the local authority.",
        elements=(
            ElementRule("Flag.identifier", min=1, short="The local authority's record id"),
            ElementRule(
                "Flag.code",
                pattern={
                    "CodeableConcept": {
                        "coding": [{"system": PATIENT_FLAG_CATEGORY, "code": "CP-IS"}]
                    }
                },
                short="CP-IS and the plan type",
            ),
            ElementRule("Flag.period", min=1),
            ElementRule("Flag.period.start", min=1),
            ElementRule("Flag.author", min=1, short="The responsible local authority"),
        ),
        extensions=_ON_PLAN,
    ),
    ProfileDef(
        "ChildProtectionCareTeam",
        "CareTeam",
        UKCORE + "UKCore-CareTeam",
        "Child protection care team (CP-IS API shape)",
        "The CareTeam the CP-IS FHIR API returns: category the plan type, period the plan, "
        "managing organisation the local authority with its contact numbers.",
        elements=(
            ElementRule("CareTeam.identifier", min=1),
            ElementRule("CareTeam.category", min=1, binding=PlanType),
            ElementRule("CareTeam.subject", min=1),
            ElementRule("CareTeam.period", min=1),
            ElementRule("CareTeam.period.start", min=1),
            ElementRule("CareTeam.managingOrganization", min=1, max="1"),
        ),
        extensions=_ON_PLAN,
    ),
)
