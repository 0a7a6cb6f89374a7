"""Health needs checklist ⇄ FHIR: the toolkit's Questionnaire and the QuestionnaireResponse.

The checklist of 001 Appendix 3 (L409-427) is a form the conference chair fills in, so it
travels as FHIR's form resources:
- ``questionnaire()`` is the toolkit's Questionnaire, one item per question of the proforma in
  its order (``QUESTIONS`` declares them once; building and reading both walk that table);
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

from interop.codes import (
    CANONICAL_BASE,
    AdministrativeGender,
    CareSetting,
    CodedEnum,
    MeetingType,
    NhsNumberVerificationStatus,
)
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
    coding,
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
    value_set_url,
)
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef

KIND = "health-needs-checklist"
QUESTIONNAIRE_URL = f"{CANONICAL_BASE}/Questionnaire/{KIND}"
QUESTIONNAIRE_VERSION = "0.1.0"
RESPONSE_PROFILE = profile_url("HealthNeedsChecklistResponse")
BUNDLE_PROFILE = profile_url("HealthNeedsChecklistBundle")
#: Statuses of a response that is a finished checklist.
FINISHED = ("completed", "amended")

# Lengths of the domain's text types (interop.domain.common), told to forms as maxLength.
_SHORT, _LONG = 200, 20_000


# --- the form ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One item of the Questionnaire and the artefact field it answers.

    ``target`` is the dotted artefact field, relative to the artefact or, inside a repeating
    group, to the list element; a repeating group's ``target`` is its list field, another
    group's only says where its answers came from (for error locations).
    """

    link_id: str
    text: str
    item_type: str
    target: str | None = None
    required: bool = False
    repeats: bool = False
    max_length: int | None = None
    codes: type[CodedEnum] | None = None
    items: tuple[Question, ...] = ()
    enable_when: tuple[str, bool] | None = None


#: The QuestionnaireResponse answer element of each item type.
ANSWER_KEYS = {
    "boolean": "valueBoolean",
    "string": "valueString",
    "text": "valueString",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "choice": "valueCoding",
}


def _practitioner_questions(prefix: str, target: str) -> tuple[Question, ...]:
    """The items describing one practitioner (the chair, or a member of the health staff)."""
    base = f"{target}." if target else ""
    return (
        Question(
            f"{prefix}.name", "Name", "string", f"{base}name", required=True, max_length=_SHORT
        ),
        Question(
            f"{prefix}.role", "Role", "string", f"{base}role", required=True, max_length=_SHORT
        ),
        Question(f"{prefix}.setting", "Setting", "choice", f"{base}setting", codes=CareSetting),
        Question(
            f"{prefix}.organisation-ods",
            "Organisation ODS code",
            "string",
            f"{base}organisation.ods_code",
            max_length=10,
        ),
        Question(
            f"{prefix}.organisation-name",
            "Organisation name",
            "string",
            f"{base}organisation.name",
            max_length=_SHORT,
        ),
        Question(f"{prefix}.phone", "Phone", "string", f"{base}phone", max_length=30),
        Question(f"{prefix}.email", "Email", "string", f"{base}email", max_length=254),
        Question(
            f"{prefix}.sds-user-id",
            "Spine Directory Service user id",
            "string",
            f"{base}sds_user_id",
            max_length=12,
        ),
    )


QUESTIONS: tuple[Question, ...] = (
    Question(
        "child",
        "Child's name and identity number",
        "group",
        "child",
        required=True,
        items=(
            Question(
                "child.given-name",
                "Given name",
                "string",
                "child.given_name",
                required=True,
                max_length=_SHORT,
            ),
            Question(
                "child.family-name",
                "Family name",
                "string",
                "child.family_name",
                required=True,
                max_length=_SHORT,
            ),
            Question(
                "child.identity-number",
                "Identity number (the local authority's or trust's own)",
                "string",
                "child.local_identifier",
                max_length=_SHORT,
            ),
            Question("child.date-of-birth", "Date of birth", "date", "child.date_of_birth"),
            Question(
                "child.gender", "Gender", "choice", "child.gender", codes=AdministrativeGender
            ),
            Question(
                "child.nhs-number-verification",
                "NHS number verification status (PDS)",
                "choice",
                "child.nhs_number_verification",
                codes=NhsNumberVerificationStatus,
            ),
        ),
    ),
    Question(
        "nhs-number", "NHS number", "string", "child.nhs_number", required=True, max_length=12
    ),
    Question(
        "meeting",
        "Child protection conference / core group date and time",
        "group",
        required=True,
        items=(
            Question(
                "meeting.type",
                "Meeting",
                "choice",
                "meeting_type",
                required=True,
                codes=MeetingType,
            ),
            Question("meeting.date-time", "Date and time", "dateTime", "meeting_at", required=True),
        ),
    ),
    Question(
        "chair",
        "Chair or Independent Reviewing Officer",
        "group",
        "chair",
        required=True,
        items=_practitioner_questions("chair", "chair"),
    ),
    Question(
        "diagnosed-needs",
        "Does the child have any diagnosed medical / behavioural needs?",
        "boolean",
        "diagnosed_needs",
        required=True,
    ),
    Question(
        "diagnosed-needs-details",
        "Diagnosed needs: details",
        "text",
        "diagnosed_needs_details",
        max_length=_LONG,
    ),
    Question(
        "health-staff",
        "Names of health staff involved (GP, community and hospital staff)",
        "group",
        "health_staff_involved",
        repeats=True,
        items=_practitioner_questions("health-staff", ""),
    ),
    Question(
        "requires-parental-compliance",
        "Does the child's medical condition require parents to comply with a health care plan?",
        "boolean",
        "requires_parental_compliance",
        required=True,
    ),
    Question(
        "care-plan-available",
        "Is a copy of the health care plan available to the CP conference and core group?",
        "boolean",
        "care_plan_available",
        required=True,
    ),
    Question(
        "care-needs-without-plan",
        "In the absence of a health care plan: the medication, therapies, equipment and "
        "health appointments the child requires",
        "group",
        "care_needs_without_plan",
        enable_when=("care-plan-available", False),
        items=(
            *(
                Question(
                    f"care-needs-without-plan.{name}",
                    title,
                    "string",
                    f"care_needs_without_plan.{name}",
                    repeats=True,
                    max_length=_SHORT,
                )
                for name, title in (
                    ("medication", "Medication"),
                    ("therapies", "Therapies"),
                    ("equipment", "Equipment"),
                    ("appointments", "Health appointments"),
                )
            ),
            Question(
                "care-needs-without-plan.risk-of-serious-deterioration",
                "Without this support, is the child's health at risk of serious deterioration "
                "that could lead to death?",
                "boolean",
                "care_needs_without_plan.risk_of_serious_deterioration",
                required=True,
            ),
            Question(
                "care-needs-without-plan.details",
                "Details",
                "text",
                "care_needs_without_plan.details",
                max_length=_LONG,
            ),
        ),
    ),
    Question(
        "cp-medical-required",
        "Does the child require a CP medical? (A strategy discussion is not required if the "
        "conference agrees a medical is required for a child with complex health needs)",
        "boolean",
        "cp_medical_required",
    ),
    Question("cp-medical-notes", "CP medical: notes", "text", "cp_medical_notes", max_length=_LONG),
    Question(
        "actions",
        "Multi-agency action plan",
        "group",
        "actions",
        items=(
            Question(
                "actions.parents-having-difficulty",
                "If parents/carers are having difficulty supporting the child to manage their "
                "health needs, including access to medication, therapy and equipment: action "
                "agreed",
                "text",
                "actions.parents_having_difficulty",
                max_length=_LONG,
            ),
            Question(
                "actions.child-refuses-to-engage",
                "If the child refuses to engage with their health care plan, including access "
                "to medication, therapy and equipment: action agreed",
                "text",
                "actions.child_refuses_to_engage",
                max_length=_LONG,
            ),
            Question(
                "actions.sudden-deterioration",
                "In the event of sudden deterioration of the child's health condition, "
                "ensuring access to emergency services and notifying the lead social worker: "
                "action agreed",
                "text",
                "actions.sudden_deterioration",
                max_length=_LONG,
            ),
        ),
    ),
    Question("completed-by", "Completed by", "string", "completed_by", max_length=_SHORT),
)


def _questionnaire_item(question: Question) -> JSON:
    item: JSON = {"linkId": question.link_id, "text": question.text, "type": question.item_type}
    if question.enable_when is not None:
        on, answer = question.enable_when
        item["enableWhen"] = [{"question": on, "operator": "=", "answerBoolean": answer}]
    if question.required:
        item["required"] = True
    if question.repeats:
        item["repeats"] = True
    if question.max_length is not None:
        item["maxLength"] = question.max_length
    if question.codes is not None:
        # National code systems have no toolkit ValueSet: the form lists their codes itself.
        if question.codes.external_system:
            item["answerOption"] = [{"valueCoding": coding(code)} for code in question.codes]
        else:
            item["answerValueSet"] = value_set_url(question.codes)
    if question.items:
        item["item"] = [_questionnaire_item(child) for child in question.items]
    return item


def questionnaire() -> JSON:
    """The toolkit's Questionnaire for the health needs checklist (001 Appendix 3)."""
    return {
        "resourceType": "Questionnaire",
        "id": KIND,
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "HealthNeedsChecklist",
        "title": "Health needs checklist for child protection conferences and core groups",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "Completed by the chair of a child protection conference or core group, "
        "or the Independent Reviewing Officer (001_0e453bf333ba50fc.txt L409-427, Appendix 3).",
        "item": [_questionnaire_item(q) for q in QUESTIONS],
    }


# --- building ------------------------------------------------------------------------------


def _get(data: Mapping[str, Any] | None, dotted: str | None) -> Any:
    """The value at a dotted field path of a model dump (None when any step is missing)."""
    value: Any = data
    for part in (dotted or "").split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _answer(question: Question, value: Any) -> JSON:
    if question.item_type == "choice":
        return {"valueCoding": coding(value)}
    if question.item_type == "dateTime":
        return {ANSWER_KEYS[question.item_type]: fhir_datetime(value)}
    if question.item_type == "date":
        return {ANSWER_KEYS[question.item_type]: value.isoformat()}
    return {ANSWER_KEYS[question.item_type]: value}


def _response_items(questions: tuple[Question, ...], data: Mapping[str, Any]) -> list[JSON]:
    """The answered items of ``questions``; unanswered ones and empty groups are left out."""
    items: list[JSON] = []
    for question in questions:
        if question.item_type == "group":
            elements = (_get(data, question.target) or []) if question.repeats else [data]
            for element in elements:
                children = _response_items(question.items, element)
                if children:
                    items.append(
                        {"linkId": question.link_id, "text": question.text, "item": children}
                    )
            continue
        value = _get(data, question.target)
        values = (value or []) if question.repeats else [value]
        answers = [_answer(question, v) for v in values if v is not None]
        if answers:
            items.append({"linkId": question.link_id, "text": question.text, "answer": answers})
    return items


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
    items = _response_items(QUESTIONS, data)
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


def _set(data: JSON, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def _answer_value(reader: Reader, answer: Node, question: Question) -> tuple[Any, str] | None:
    """The value of one answer (a code for a choice), with its location, or a problem."""
    key = ANSWER_KEYS[question.item_type]
    where = f"{answer.path}.{key}"
    given = answer.value if isinstance(answer.value, dict) else {}
    if key not in given:
        others = sorted(k for k in given if k.startswith("value"))
        if others:
            reader.problem(
                where,
                f"'{question.link_id}' is a {question.item_type} question: expected {key}, "
                f"found {others[0]}",
            )
        else:
            reader.problem(where, "this element is required", IssueCode.REQUIRED)
        return None
    if question.codes is not None:
        code = reader.code(answer, question.codes)
        return (code, where) if code is not None else None
    value = given[key]
    expected = bool if question.item_type == "boolean" else str
    if not isinstance(value, expected):
        reader.problem(where, f"expected a {question.item_type} ({key})")
        return None
    return value, where


def _answers(reader: Reader, item: Node, question: Question) -> list[tuple[Any, str]]:
    answers = item.items("answer")
    if not answers:
        if question.required:
            reader.problem(
                f"{item.path}.answer", f"'{question.link_id}' needs an answer", IssueCode.REQUIRED
            )
        return []
    if len(answers) > 1 and not question.repeats:
        reader.problem(
            answers[1].path, f"'{question.link_id}' takes one answer", IssueCode.STRUCTURE
        )
    found = (_answer_value(reader, a, question) for a in answers[: None if question.repeats else 1])
    return [f for f in found if f is not None]


def _items_answering(reader: Reader, parent: Node, question: Question) -> list[Node]:
    """The items under ``parent`` with the question's linkId (a problem when one is missing)."""
    found = [
        n
        for n in parent.items("item")
        if isinstance(n.value, dict) and n.value.get("linkId") == question.link_id
    ]
    if not found and question.required:
        reader.problem(
            f"{parent.path}.item",
            f"no item '{question.link_id}' ({question.text})",
            IssueCode.REQUIRED,
        )
    # only a repeating group repeats its item; a repeating question repeats its answers
    if len(found) > 1 and not (question.item_type == "group" and question.repeats):
        reader.problem(
            found[1].path, f"item '{question.link_id}' appears more than once", IssueCode.STRUCTURE
        )
        found = found[:1]
    return found


def _read_question(ctx: _Context, item: Node, question: Question, out: JSON, base: str) -> None:
    assert question.target is not None
    answers = _answers(ctx.reader, item, question)
    target = f"{base}.{question.target}"
    for i, (_, where) in enumerate(answers):
        ctx.origins[f"{target}[{i}]" if question.repeats else target] = where
    if answers:
        values = [value for value, _ in answers]
        _set(out, question.target, values if question.repeats else values[0])


def _read_items(
    ctx: _Context, parent: Node, questions: tuple[Question, ...], out: JSON, base: str
) -> None:
    """Read the answers to ``questions`` under ``parent`` into ``out``, by linkId.

    ``base`` is the artefact path ``out`` stands for ($, or an element of a repeating group).
    """
    for question in questions:
        found = _items_answering(ctx.reader, parent, question)
        if not found:
            continue
        if question.item_type != "group":
            _read_question(ctx, found[0], question, out, base)
        elif question.repeats:
            assert question.target is not None
            elements: list[JSON] = [{} for _ in found]
            for i, (node, element) in enumerate(zip(found, elements, strict=True)):
                ctx.origins[f"{base}.{question.target}[{i}]"] = node.path
                _read_items(ctx, node, question.items, element, f"{base}.{question.target}[{i}]")
            _set(out, question.target, elements)
        else:
            if question.target:
                ctx.origins[f"{base}.{question.target}"] = found[0].path
            _read_items(ctx, found[0], question.items, out, base)


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


def _check_header(reader: Reader, qr: Node) -> None:
    """The response answers this Questionnaire and is finished."""
    canonical = reader.string(reader.required(qr.child("questionnaire"), qr, "questionnaire"))
    if canonical is not None:
        url, _, version = canonical.partition("|")
        if url != QUESTIONNAIRE_URL:
            reader.problem(
                f"{qr.path}.questionnaire",
                f"answers another questionnaire, not {QUESTIONNAIRE_URL}",
            )
        elif version and version != QUESTIONNAIRE_VERSION:
            reader.problem(
                f"{qr.path}.questionnaire",
                f"unknown version {version} of the questionnaire; expected {QUESTIONNAIRE_VERSION}",
            )
    status = reader.string(reader.required(qr.child("status"), qr, "status"))
    if status is not None and status not in FINISHED:
        reader.problem(
            f"{qr.path}.status", f"only a finished response ({', '.join(FINISHED)}) is a checklist"
        )


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
    if not isinstance(qr.value, dict) or qr.value.get("resourceType") != "QuestionnaireResponse":
        reader.problem(qr.path, "expected a FHIR QuestionnaireResponse", IssueCode.STRUCTURE)
        reader.fail()
    _check_header(reader, qr)
    data: JSON = {"kind": KIND, "local_id": _local_id(ctx, qr)}
    _read_items(ctx, qr, QUESTIONS, data, "$")
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
