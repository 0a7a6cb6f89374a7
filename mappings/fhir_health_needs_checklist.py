"""Health needs checklist ⇄ FHIR: the toolkit's Questionnaire and the QuestionnaireResponse.

The checklist of 001 Appendix 3 (L409-427) is a form the conference chair fills in, so it
travels as FHIR's form resources:
- ``questionnaire()`` is the toolkit's Questionnaire, one item per question of the proforma in
  its order (the table in ``interop.mappings.forms.health_needs_checklist``, which the forms
  engine walks to build and to read);
- ``to_fhir`` gives a collection Bundle: the QuestionnaireResponse (profile
  HealthNeedsChecklistResponse) answering it, subject the Patient, author the chair's
  PractitionerRole, then the Patient and each practitioner's Practitioner, PractitionerRole and
  Organization. Each health-staff answer group points at its PractitionerRole (extension
  ``practitioner-role``);
- ``from_fhir`` reads the Bundle back; ``from_questionnaire_response`` reads a bare response as
  a forms tool produces it, by linkId only, the child's identity from the identity items (or
  from a Patient, when one is given).

What the form has no item for travels in toolkit extensions on the QuestionnaireResponse: the
information-sharing marker, and the care needs without a plan when a plan *is* available (the
form's group is then disabled by its ``enableWhen``). The local id is ``identifier``.

Where a Patient or PractitionerRole stands beside the answers (the Bundle, or a Patient given
to ``from_questionnaire_response``), the resource is the source and every answer must agree
with it: a disagreement is an ``invariant`` issue at the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from interop.domain import HealthNeedsChecklist, Practitioner
from interop.issues import IssueCode
from interop.mappings.fhir_common import (
    ARTEFACT_ID_SYSTEM,
    JSON,
    UKCORE,
    BundleIndex,
    Node,
    Reader,
    build,
    drop_empty,
    entry,
    ext,
    ext_url,
    extensions,
    fhir_datetime,
    patient,
    practitioner_resources,
    profile_url,
    read_patient,
    read_practitioner,
    read_sharing,
    ref,
    resource_id,
    sharing_extension,
    sub,
)
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef
from interop.mappings.forms.health_needs_checklist import (
    FORM,
    KIND,
    QUESTIONNAIRE_URL,
    QUESTIONNAIRE_VERSION,
)

__all__ = [
    "BUNDLE_PROFILE",
    "EXTENSIONS",
    "KIND",
    "PROFILES",
    "QUESTIONNAIRE_URL",
    "QUESTIONNAIRE_VERSION",
    "RESPONSE_PROFILE",
    "from_fhir",
    "from_questionnaire_response",
    "questionnaire",
    "to_fhir",
]

RESPONSE_PROFILE = profile_url("HealthNeedsChecklistResponse")
BUNDLE_PROFILE = profile_url("HealthNeedsChecklistBundle")


def questionnaire() -> JSON:
    """The toolkit's Questionnaire for the health needs checklist (001 Appendix 3)."""
    return FORM.questionnaire()


# --- building ------------------------------------------------------------------------------


def _care_needs_extension(checklist: HealthNeedsChecklist) -> JSON | None:
    """The care needs without a plan when a plan is available: the form's group is disabled."""
    needs = checklist.care_needs_without_plan
    if needs is None or not checklist.care_plan_available:
        return None
    return ext(
        "care-needs-without-plan",
        [
            *(sub("medication", m) for m in needs.medication),
            *(sub("therapies", t) for t in needs.therapies),
            *(sub("equipment", e) for e in needs.equipment),
            *(sub("appointments", a) for a in needs.appointments),
            sub("riskOfSeriousDeterioration", needs.risk_of_serious_deterioration),
            sub("details", needs.details),
        ],
    )


def _link(role: JSON) -> JSON:
    return {"url": ext_url("practitioner-role"), "valueReference": ref(role)}


def _items(checklist: HealthNeedsChecklist, staff_roles: list[JSON]) -> list[JSON]:
    data = checklist.model_dump()
    if checklist.care_plan_available:
        data["care_needs_without_plan"] = None  # travels in an extension instead
    items = FORM.response_items(data)
    staff_items = [i for i in items if i["linkId"] == "health-staff"]
    for item, role in zip(staff_items, staff_roles, strict=True):
        item["extension"] = [_link(role)]
    return items


def _practitioner(checklist: HealthNeedsChecklist, person: Practitioner, role: str) -> list[JSON]:
    """The Practitioner, PractitionerRole (and Organization) of one person on the checklist."""
    nhs = checklist.child.nhs_number
    return practitioner_resources(
        person,
        resource_id(checklist, nhs, f"{role}-practitioner"),
        resource_id(checklist, nhs, f"{role}-role"),
        resource_id(checklist, nhs, f"{role}-organization"),
    )


def to_fhir(checklist: HealthNeedsChecklist) -> JSON:
    """The checklist as a collection Bundle: the QuestionnaireResponse, Patient, practitioners."""
    nhs = checklist.child.nhs_number
    subject = patient(checklist.child, resource_id(checklist, nhs, "patient"))
    chair = _practitioner(checklist, checklist.chair, "chair")
    staff = [
        _practitioner(checklist, p, f"staff-{i}")
        for i, p in enumerate(checklist.health_staff_involved)
    ]
    response = drop_empty(
        {
            "resourceType": "QuestionnaireResponse",
            "id": resource_id(checklist, nhs, "response"),
            "meta": {"profile": [RESPONSE_PROFILE]},
            "extension": extensions(
                sharing_extension(checklist.sharing), _care_needs_extension(checklist)
            ),
            "identifier": {"system": ARTEFACT_ID_SYSTEM, "value": checklist.local_id},
            "questionnaire": f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}",
            "status": "completed",
            "subject": ref(subject),
            "authored": fhir_datetime(checklist.meeting_at),
            "author": ref(chair[1]),
            "item": _items(checklist, [resources[1] for resources in staff]),
        }
    )
    resources = [response, subject, *chair, *(r for member in staff for r in member)]
    return {
        "resourceType": "Bundle",
        "id": resource_id(checklist, nhs, "bundle"),
        "meta": {"profile": [BUNDLE_PROFILE]},
        "type": "collection",
        "entry": [entry(r) for r in resources],
    }


# --- reading -------------------------------------------------------------------------------


@dataclass
class _Context:
    """The reader, the Bundle (when there is one) and where each artefact field came from."""

    reader: Reader
    index: BundleIndex | None = None
    origins: dict[str, str] = field(default_factory=dict)


def _normal(key: str, value: Any) -> Any:
    """A value as compared between an answer and a resource (NHS number digits only)."""
    if isinstance(value, Mapping):
        return {k: _normal(k, v) for k, v in value.items() if v is not None}
    if isinstance(value, str):
        value = value.strip()
        if key == "nhs_number":
            return value.replace(" ", "").replace("-", "")
        return value.upper() if key == "ods_code" else value
    return value


def _reconcile(
    ctx: _Context, answered: JSON | None, resource: JSON | None, target: str, source: str
) -> JSON | None:
    """The resource's fields, filled in from the answers; an answer that disagrees is a problem.

    ``target`` is the artefact path (``$.child``), ``source`` the resource's location.
    """
    if resource is None:
        return answered
    answered = answered or {}
    merged: JSON = {}
    for key in dict.fromkeys([*resource, *answered]):
        theirs, mine = resource.get(key), answered.get(key)
        where = ctx.origins.get(f"{target}.{key}")
        if mine is not None and theirs is not None and _normal(key, mine) != _normal(key, theirs):
            ctx.reader.problem(
                where or ctx.origins.get(target, source),
                f"the answer disagrees with {source}",
                IssueCode.INVARIANT,
            )
        if theirs is None:
            merged[key] = mine
            continue
        merged[key] = theirs
        # a value taken from the resource is located at the resource, not at an answer
        for origin in [o for o in ctx.origins if o.startswith(f"{target}.{key}")]:
            del ctx.origins[origin]
    ctx.origins[target] = source
    return merged


def _target(index: BundleIndex, reference: Node | None) -> str:
    """Where a reference points (for locating problems), without recording one."""
    value = (
        reference.value.get("reference")
        if reference and isinstance(reference.value, dict)
        else None
    )
    node = index.by_url.get(value) if isinstance(value, str) else None
    return node.path if node is not None else (reference.path if reference else "")


def _read_people(ctx: _Context, qr: Node, data: JSON, patient_node: Node | None) -> None:
    """Take the child and the practitioners from the resources beside the answers, if any."""
    reader, index = ctx.reader, ctx.index
    if index is not None:
        subject = reader.required(qr.child("subject"), qr, "subject")
        patient_node = index.resolve(subject, "Patient")
    if patient_node is not None:
        data["child"] = _reconcile(
            ctx, data.get("child"), read_patient(reader, patient_node), "$.child", patient_node.path
        )
    if index is None:
        return
    author = reader.required(qr.child("author"), qr, "author")
    chair = read_practitioner(index, author)
    data["chair"] = _reconcile(ctx, data.get("chair"), chair, "$.chair", _target(index, author))
    groups = [n for n in qr.items("item") if isinstance(n.value, dict)]
    staff = [n for n in groups if n.value.get("linkId") == "health-staff"]
    for i, (node, member) in enumerate(
        zip(staff, data.get("health_staff_involved") or [], strict=False)
    ):
        link = node.extension("practitioner-role")
        if link is None:
            continue
        role_ref = reader.required(link.child("valueReference"), link, "valueReference")
        resource = read_practitioner(index, role_ref)
        target = f"$.health_staff_involved[{i}]"
        data["health_staff_involved"][i] = _reconcile(
            ctx, member, resource, target, _target(index, role_ref)
        )


def _sub_values(reader: Reader, node: Node, name: str, key: str) -> list[Any]:
    """Every ``key`` value of the sub-extensions ``name`` of a complex extension."""
    return [reader.value(n, key) for n in node.sub_extensions(name)]


def _read_care_needs(ctx: _Context, qr: Node, data: JSON) -> None:
    """The care needs travelling in the extension (when the form's group was disabled)."""
    node = qr.extension("care-needs-without-plan")
    if node is None:
        return
    if "care_needs_without_plan" in data:
        ctx.reader.problem(
            node.path,
            "care needs given both as answers and in this extension",
            IssueCode.STRUCTURE,
        )
        return
    ctx.origins["$.care_needs_without_plan"] = node.path
    reader = ctx.reader
    data["care_needs_without_plan"] = {
        "medication": _sub_values(reader, node, "medication", "valueString"),
        "therapies": _sub_values(reader, node, "therapies", "valueString"),
        "equipment": _sub_values(reader, node, "equipment", "valueString"),
        "appointments": _sub_values(reader, node, "appointments", "valueString"),
        "risk_of_serious_deterioration": reader.ext_value(
            node, "riskOfSeriousDeterioration", "valueBoolean", sub=True
        ),
        "details": reader.ext_value(node, "details", "valueString", sub=True),
    }


def _local_id(ctx: _Context, qr: Node) -> str | None:
    identifier = qr.child("identifier")
    value = identifier.child("value") if identifier is not None else None
    if value is None:
        ctx.reader.problem(
            f"{qr.path}.identifier", "the checklist's identifier is required", IssueCode.REQUIRED
        )
        return None
    ctx.origins["$.local_id"] = value.path
    return ctx.reader.string(value)


def _read_response(ctx: _Context, qr: Node, patient_node: Node | None) -> HealthNeedsChecklist:
    reader = ctx.reader
    FORM.check_resource(reader, qr)
    FORM.check_header(reader, qr)
    data: JSON = {"kind": KIND, "local_id": _local_id(ctx, qr)}
    FORM.read(reader, qr, data, ctx.origins)
    _read_care_needs(ctx, qr, data)
    # what the checklist lacks is located at the answer that calls for it
    for needed, because in (
        ("$.care_needs_without_plan", "$.care_plan_available"),
        ("$.actions", "$.diagnosed_needs"),
    ):
        ctx.origins.setdefault(needed, ctx.origins.get(because, qr.path))
    _read_people(ctx, qr, data, patient_node)
    sharing_node = qr.extension("information-sharing")
    if sharing_node is not None:
        ctx.origins["$.sharing"] = sharing_node.path
    data["sharing"] = read_sharing(reader, qr)
    return build(reader, HealthNeedsChecklist, data, qr.path, ctx.origins)


def from_questionnaire_response(qr: JSON, patient: JSON | None = None) -> HealthNeedsChecklist:
    """The checklist a bare QuestionnaireResponse answers, as a forms tool produces it.

    Answers are found by linkId only; the child's identity comes from the identity items, or
    from ``patient`` (a Patient resource) when given, which the answers must then agree with.
    Raises ``MappingError`` with every problem located (``QuestionnaireResponse.item[4]...``).
    """
    reader = Reader()
    patient_node = None
    if patient is not None:
        patient_node = Node(patient, "Patient")
        if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
            reader.problem("Patient", "expected a FHIR Patient", IssueCode.STRUCTURE)
            reader.fail()
    return _read_response(_Context(reader), Node(qr, "QuestionnaireResponse"), patient_node)


def _answers_this_form(node: Node) -> bool:
    canonical = node.value.get("questionnaire")
    return isinstance(canonical, str) and canonical.partition("|")[0] == QUESTIONNAIRE_URL


def from_fhir(bundle: JSON) -> HealthNeedsChecklist:
    """The checklist from a Bundle holding its QuestionnaireResponse, Patient and practitioners."""
    reader = Reader()
    index = BundleIndex(reader, bundle)
    responses = [n for n in index.all("QuestionnaireResponse") if _answers_this_form(n)]
    if not responses:
        reader.problem(
            "Bundle.entry",
            f"the Bundle has no QuestionnaireResponse to {QUESTIONNAIRE_URL}",
            IssueCode.REQUIRED,
        )
        reader.fail()
    return _read_response(_Context(reader, index), responses[0], None)


# --- definitions ---------------------------------------------------------------------------

EXTENSIONS: tuple[ExtensionDef, ...] = (
    ExtensionDef(
        "care-needs-without-plan",
        "The medication, therapies, equipment and appointments the child needs, and whether "
        "without them the child is at risk of serious deterioration, given although a health "
        "care plan is available (the form's group is then disabled)",
        ("QuestionnaireResponse",),
        None,
        children=(
            ExtensionDef("medication", "Medication", (), "string", repeats=True),
            ExtensionDef("therapies", "Therapies", (), "string", repeats=True),
            ExtensionDef("equipment", "Equipment", (), "string", repeats=True),
            ExtensionDef("appointments", "Health appointments", (), "string", repeats=True),
            ExtensionDef(
                "riskOfSeriousDeterioration",
                "At risk of serious deterioration that could lead to death",
                (),
                "boolean",
            ),
            ExtensionDef("details", "Details", (), "string"),
        ),
        source="001_0e453bf333ba50fc.txt L420",
    ),
    ExtensionDef(
        "practitioner-role",
        "The PractitionerRole a group of answers describes",
        ("QuestionnaireResponse.item",),
        "Reference",
        source="001_0e453bf333ba50fc.txt L418",
    ),
)

PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "HealthNeedsChecklistBundle",
        "Bundle",
        UKCORE + "UKCore-Bundle",
        "Health needs checklist Bundle",
        "A collection Bundle: the checklist's QuestionnaireResponse first, then the Patient and "
        "the practitioners it names.",
        elements=(
            ElementRule("Bundle.type", pattern={"code": "collection"}),
            ElementRule("Bundle.entry", min=2),
        ),
    ),
    ProfileDef(
        "HealthNeedsChecklistResponse",
        "QuestionnaireResponse",
        UKCORE + "UKCore-QuestionnaireResponse",
        "Health needs checklist response (001 Appendix 3)",
        "The chair's answers to the toolkit's health needs checklist Questionnaire: subject the "
        "child, authored the meeting's date and time, author the chair's PractitionerRole.",
        elements=(
            ElementRule("QuestionnaireResponse.identifier", min=1, short="The checklist's id"),
            ElementRule(
                "QuestionnaireResponse.questionnaire",
                min=1,
                pattern={"canonical": f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}"},
            ),
            ElementRule("QuestionnaireResponse.subject", min=1, short="The child"),
            ElementRule("QuestionnaireResponse.authored", min=1, short="The meeting date-time"),
            ElementRule("QuestionnaireResponse.author", min=1, short="The chair"),
            ElementRule("QuestionnaireResponse.item", min=1),
        ),
        extensions=(("information-sharing", 0, "1"), ("care-needs-without-plan", 0, "1")),
    ),
)
