"""What every artefact ⇄ FHIR mapping shares: ids, extensions, the shared parts, a reader.

Mappings build and read FHIR R4 JSON as plain dicts: they never import fhir.resources (only
``interop.fhir`` does, to parse, check and serialise to XML), which keeps them pure and fast.

Conventions every mapping follows:
- Resource ids are UUIDs derived from the artefact's business identity (kind, NHS number,
  local id) and the resource's role in the Bundle, so the same artefact always gives the same
  Bundle; ``fullUrl`` is ``urn:uuid:{id}``.
- A field with a natural FHIR element goes there. A field with none goes in a toolkit
  extension ``{CANONICAL_BASE}/StructureDefinition/ext-{name}`` on the resource it describes;
  codes travel as ``valueCoding`` with the code system of ``interop.codes``.
- Reading back collects every problem as an ``Issue`` located by a FHIRPath-like path
  (``Bundle.entry[2].resource.ofType(Flag).period.start``) and raises ``MappingError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from interop.artefact_json import issues_from_validation_error
from interop.codes import (
    CANONICAL_BASE,
    CareSetting,
    CodedEnum,
    NhsNumberVerificationStatus,
    WithholdingReason,
)
from interop.domain import ArtefactBase, Organisation, PersonIdentity, Practitioner
from interop.domain.common import ConditionEntry, InformationSharing, SocialWorkerContact
from interop.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM, SNOMED_SYSTEM
from interop.issues import Issue, IssueCode, IssuesError, error
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef, SliceDef

JSON = dict[str, Any]
E = TypeVar("E", bound=CodedEnum)
M = TypeVar("M", bound=BaseModel)

NHS_VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
UKCORE = "https://fhir.hl7.org.uk/StructureDefinition/"
LOCAL_IDENTIFIER_SYSTEM = f"{CANONICAL_BASE}/Id/local-identifier"
ARTEFACT_ID_SYSTEM = f"{CANONICAL_BASE}/Id/artefact"
SDS_USER_SYSTEM = "https://fhir.nhs.uk/Id/sds-user-id"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, CANONICAL_BASE)
PATIENT_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/SafeguardingPatient"
ORGANIZATION_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/SafeguardingOrganization"
PRACTITIONER_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/SafeguardingPractitioner"
PRACTITIONER_ROLE_PROFILE = f"{CANONICAL_BASE}/StructureDefinition/SafeguardingPractitionerRole"


class MappingError(IssuesError):
    """FHIR (or CP-IS) that cannot become an artefact; ``issues`` say what and where."""


# --- building ------------------------------------------------------------------------------


def value_set_url(system: type[CodedEnum]) -> str:
    """The toolkit's ValueSet of all codes of a code system (as profiles/ publishes it)."""
    return f"{CANONICAL_BASE}/ValueSet/{system.slug}"


def profile_url(name: str) -> str:
    """The canonical URL of one of the toolkit's profiles."""
    return f"{CANONICAL_BASE}/StructureDefinition/{name}"


def ext_url(name: str) -> str:
    """The canonical URL of one of the toolkit's extensions (``ext-`` is added)."""
    return f"{CANONICAL_BASE}/StructureDefinition/ext-{name}"


def resource_id(artefact: ArtefactBase, nhs_number: str, role: str) -> str:
    """Deterministic id of the resource playing ``role`` in the artefact's Bundle.

    The NHS number is an input to a one-way hash: the id does not reveal it.
    """
    key = f"{artefact.kind}|{nhs_number}|{artefact.local_id}|{role}"
    return str(uuid.uuid5(_NAMESPACE, key))


def full_url(resource: JSON) -> str:
    """The Bundle ``fullUrl`` of a resource with an id."""
    return f"urn:uuid:{resource['id']}"


# The business identifier a Reference carries beside its ``reference``, by target type: a
# standard server's ``patient:identifier=`` search matches Reference.identifier, never the
# identifiers of the resource referred to (FHIR R4 search, "identifier" modifier)
_REFERENCE_IDENTIFIER_SYSTEMS = {
    "Patient": NHS_NUMBER_SYSTEM,
    "Organization": ODS_ORGANISATION_SYSTEM,
    "Practitioner": SDS_USER_SYSTEM,
}


def ref(resource: JSON) -> JSON:
    """A Reference to a resource inside the same Bundle; to a Patient, Organization or
    Practitioner it also carries the NHS number, ODS code or SDS user id as
    ``Reference.identifier``."""
    reference: JSON = {"reference": full_url(resource)}
    system = _REFERENCE_IDENTIFIER_SYSTEMS.get(str(resource.get("resourceType")))
    for identifier in resource.get("identifier") or [] if system else []:
        if isinstance(identifier, dict) and identifier.get("system") == system:
            reference["identifier"] = {"system": system, "value": identifier.get("value")}
            break
    return reference


def subject_ref(subject: JSON, nhs_number: str) -> JSON:
    """A Reference to the child's Patient in the Bundle that also carries the NHS number
    (``Reference.identifier``), so a receiver who splits the Bundle still knows the child."""
    return {**ref(subject), "identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}}


def coding(code: CodedEnum) -> JSON:
    """A Coding for a code of one of the toolkit's code systems."""
    return {"system": type(code).system(), "code": code.value, "display": code.display}


def concept(code: CodedEnum) -> JSON:
    """A CodeableConcept with one coding."""
    return {"coding": [coding(code)]}


def condition_concept(condition: ConditionEntry) -> JSON:
    """A condition as a CodeableConcept: its SNOMED CT coding when coded, its name as text.

    No ``display``: the SNOMED CT preferred term needs a terminology server, and a display that
    differs from it is an error to validators that have one; the name the sender wrote is the
    ``text``.
    """
    if condition.snomed_code is None:
        return {"text": condition.name}
    return {
        "coding": [{"system": SNOMED_SYSTEM, "code": condition.snomed_code}],
        "text": condition.name,
    }


def fhir_datetime(value: datetime) -> str:
    """A FHIR dateTime; UTC is written 'Z', as FHIR XML writers do, so JSON and XML agree."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def ext(name: str, value: Any) -> JSON | None:
    """A toolkit extension with a typed value, or None when the value is None.

    Codes become valueCoding, dates valueDate, booleans valueBoolean, str valueString,
    int valueInteger, a list of extensions a complex extension.
    """
    if value is None:
        return None
    url = ext_url(name)
    if isinstance(value, CodedEnum):
        return {"url": url, "valueCoding": coding(value)}
    if isinstance(value, bool):
        return {"url": url, "valueBoolean": value}
    if isinstance(value, datetime):
        return {"url": url, "valueDateTime": fhir_datetime(value)}
    if isinstance(value, date):
        return {"url": url, "valueDate": value.isoformat()}
    if isinstance(value, int):
        return {"url": url, "valueInteger": value}
    if isinstance(value, str):
        return {"url": url, "valueString": value}
    if isinstance(value, dict) and "reference" in value:
        return {"url": url, "valueReference": value}
    if isinstance(value, list):
        children = [v for v in value if v is not None]
        return {"url": url, "extension": children} if children else None
    raise TypeError(f"no extension value type for {type(value).__name__}")


def sub(name: str, value: Any) -> JSON | None:
    """A sub-extension of a complex extension: its url is the bare ``name``."""
    built = ext(name, value)
    if built is not None:
        built["url"] = name
    return built


def extensions(*items: JSON | None) -> list[JSON]:
    """The extensions that have a value."""
    return [item for item in items if item is not None]


def telecom(phone: str | None = None, email: str | None = None, use: str = "work") -> list[JSON]:
    """ContactPoints for a phone and an email."""
    points = []
    if phone is not None:
        points.append({"system": "phone", "value": phone, "use": use})
    if email is not None:
        points.append({"system": "email", "value": email, "use": use})
    return points


def drop_empty(resource: JSON) -> JSON:
    """The resource without keys whose value is None or an empty list/dict (FHIR forbids them)."""
    cleaned: JSON = {}
    for key, value in resource.items():
        if isinstance(value, dict):
            value = drop_empty(value)
        elif isinstance(value, list):
            value = [drop_empty(v) if isinstance(v, dict) else v for v in value]
            value = [v for v in value if v not in (None, {}, [])]
        if value not in (None, {}, []):
            cleaned[key] = value
    return cleaned


def patient(person: PersonIdentity, resource_id_: str) -> JSON:
    """A UK Core Patient: NHS number with its verification status, name, birth date."""
    nhs_identifier: JSON = {"system": NHS_NUMBER_SYSTEM, "value": person.nhs_number}
    if person.nhs_number_verification is not None:
        nhs_identifier["extension"] = [
            {
                "url": NHS_VERIFICATION_EXTENSION,
                "valueCodeableConcept": concept(person.nhs_number_verification),
            }
        ]
    identifiers = [nhs_identifier]
    if person.local_identifier is not None:
        identifiers.append({"system": LOCAL_IDENTIFIER_SYSTEM, "value": person.local_identifier})
    return drop_empty(
        {
            "resourceType": "Patient",
            "id": resource_id_,
            "meta": {"profile": [PATIENT_PROFILE]},
            "identifier": identifiers,
            "name": [
                {"use": "official", "family": person.family_name, "given": [person.given_name]}
            ],
            "gender": person.gender.value if person.gender else None,
            "birthDate": person.date_of_birth.isoformat(),
        }
    )


def organization(org: Organisation, resource_id_: str, phones: list[JSON] | None = None) -> JSON:
    """A UK Core Organization identified by its ODS code."""
    return drop_empty(
        {
            "resourceType": "Organization",
            "id": resource_id_,
            "meta": {"profile": [ORGANIZATION_PROFILE]},
            "identifier": [{"system": ODS_ORGANISATION_SYSTEM, "value": org.ods_code}],
            "name": org.name,
            "telecom": phones,
        }
    )


def practitioner_resources(
    person: Practitioner, practitioner_id: str, role_id: str, organization_id: str
) -> list[JSON]:
    """A Practitioner and the PractitionerRole carrying their role, setting and organisation.

    Returns [Practitioner, PractitionerRole] and, when the practitioner names an
    organisation, the Organization last.
    """
    practitioner = drop_empty(
        {
            "resourceType": "Practitioner",
            "id": practitioner_id,
            "meta": {"profile": [PRACTITIONER_PROFILE]},
            "identifier": [{"system": SDS_USER_SYSTEM, "value": person.sds_user_id}]
            if person.sds_user_id
            else None,
            "name": [{"text": person.name}],
            "telecom": telecom(person.phone, person.email),
        }
    )
    org = organization(person.organisation, organization_id) if person.organisation else None
    role = drop_empty(
        {
            "resourceType": "PractitionerRole",
            "id": role_id,
            "meta": {"profile": [PRACTITIONER_ROLE_PROFILE]},
            "practitioner": ref(practitioner),
            "organization": ref(org) if org else None,
            "code": [{"text": person.role}],
            "specialty": [concept(person.setting)] if person.setting else None,
        }
    )
    return [practitioner, role] + ([org] if org else [])


def sharing_extension(sharing: InformationSharing) -> JSON | None:
    """The information-sharing marker, only when something is withheld from the family."""
    if sharing == InformationSharing():
        return None
    return ext(
        "information-sharing",
        [
            sub("withheldFromFamily", sharing.withheld_from_family),
            sub("reason", sharing.withheld_reason),
            sub("note", sharing.note),
        ],
    )


def social_worker_extension(name: str, worker: SocialWorkerContact | None) -> JSON | None:
    """A social worker contact as a complex extension (name, phone, email, organisation)."""
    if worker is None:
        return None
    org = worker.organisation
    return ext(
        name,
        [
            sub("name", worker.name),
            sub("phone", worker.phone),
            sub("email", worker.email),
            sub("organisationOds", org.ods_code if org else None),
            sub("organisationName", org.name if org else None),
        ],
    )


def profiles_of(resource: Any) -> list[str]:
    """The profiles a resource claims in ``meta.profile`` (empty when malformed)."""
    meta = resource.get("meta") if isinstance(resource, dict) else None
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    return [p for p in claimed if isinstance(p, str)] if isinstance(claimed, list) else []


#: The confidentiality label of every safeguarding resource the toolkit emits: HL7's
#: "restricted" (v3 Confidentiality R), information about a child's protection that a server
#: shares only with those entitled to it. The child's Patient and the directory resources
#: (organisations, practitioners) are shared more widely and carry no label.
CONFIDENTIALITY = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
    "code": "R",
    "display": "restricted",
}
UNLABELLED = frozenset({"Patient", "Organization", "Practitioner", "PractitionerRole"})


def entry(resource: JSON) -> JSON:
    """A Bundle entry for a resource; a safeguarding resource gets its confidentiality label
    (``meta.security``) here, once for every mapping."""
    if resource.get("resourceType") not in UNLABELLED:
        meta = resource.setdefault("meta", {})
        labels = meta.setdefault("security", [])
        if CONFIDENTIALITY not in labels:
            labels.append(dict(CONFIDENTIALITY))
    return {"fullUrl": full_url(resource), "resource": resource}


# --- reading -------------------------------------------------------------------------------


def task_parties(artefact: Any) -> tuple[JSON, JSON, list[JSON]]:
    """The Patient, the LA's Organization and the lead practitioner's resources of an
    artefact recorded as a Task (assessment, section 47 outcome), at deterministic ids."""
    nhs = artefact.child.nhs_number
    child = patient(artefact.child, resource_id(artefact, nhs, "patient"))
    la = organization(artefact.local_authority, resource_id(artefact, nhs, "la"))
    lead = (
        practitioner_resources(
            artefact.lead_practitioner,
            resource_id(artefact, nhs, "lead-practitioner"),
            resource_id(artefact, nhs, "lead-role"),
            resource_id(artefact, nhs, "lead-organization"),
        )
        if artefact.lead_practitioner
        else []
    )
    return child, la, lead


def collection_bundle(artefact: Any, profile: str, resources: Iterable[JSON]) -> JSON:
    """A collection Bundle of ``resources`` at the artefact's deterministic Bundle id."""
    return {
        "resourceType": "Bundle",
        "id": resource_id(artefact, artefact.child.nhs_number, "bundle"),
        "meta": {"profile": [profile]},
        "type": "collection",
        "entry": [entry(r) for r in resources],
    }


@dataclass
class Node:
    """A FHIR JSON element and its FHIRPath-like location."""

    value: Any
    path: str

    def child(self, name: str) -> Node | None:
        """The element ``name`` of this object, if present."""
        if isinstance(self.value, dict) and name in self.value:
            return Node(self.value[name], f"{self.path}.{name}")
        return None

    def items(self, name: str) -> list[Node]:
        """The repeating element ``name`` as nodes (empty when absent)."""
        found = self.value.get(name) if isinstance(self.value, dict) else None
        if not isinstance(found, list):
            return [Node(found, f"{self.path}.{name}")] if found is not None else []
        return [Node(v, f"{self.path}.{name}[{i}]") for i, v in enumerate(found)]

    def extension(self, url: str) -> Node | None:
        """The first extension with ``url`` (a toolkit name is expanded with ``ext_url``)."""
        full = url if ":" in url else ext_url(url)
        for node in self.items("extension"):
            if isinstance(node.value, dict) and node.value.get("url") == full:
                return Node(node.value, f"{self.path}.extension('{full}')")
        return None

    def sub_extension(self, name: str) -> Node | None:
        """The first sub-extension ``name`` of a complex extension."""
        for node in self.items("extension"):
            if isinstance(node.value, dict) and node.value.get("url") == name:
                return Node(node.value, f"{self.path}.extension('{name}')")
        return None

    def extensions(self, url: str) -> list[Node]:
        """Every extension with ``url``, each located by its place among them (``[i]``)."""
        full = url if ":" in url else ext_url(url)
        return self._repeats(full)

    def sub_extensions(self, name: str) -> list[Node]:
        """Every sub-extension ``name`` of a complex extension, each located by its place."""
        return self._repeats(name)

    def _repeats(self, url: str) -> list[Node]:
        found = [
            n
            for n in self.items("extension")
            if isinstance(n.value, dict) and n.value.get("url") == url
        ]
        return [Node(n.value, f"{self.path}.extension('{url}')[{i}]") for i, n in enumerate(found)]


@dataclass
class Reader:
    """Reads FHIR JSON into domain field dicts, collecting every problem with its location."""

    issues: list[Issue] = field(default_factory=list)

    def fail(self) -> NoReturn:
        """Raise the problems found so far, when nothing more can be read."""
        raise MappingError(self.issues)

    def problem(self, location: str, message: str, code: IssueCode = IssueCode.VALUE) -> None:
        """Record a problem at ``location``."""
        self.issues.append(error(code, location, message))

    def required(self, node: Node | None, parent: Node, name: str) -> Node | None:
        """``node``, or a recorded 'required' problem at ``parent.name`` when it is missing."""
        if node is None:
            self.problem(f"{parent.path}.{name}", "this element is required", IssueCode.REQUIRED)
        return node

    def string(self, node: Node | None) -> str | None:
        """A string value (or a problem when the element is not a string)."""
        if node is None:
            return None
        if not isinstance(node.value, str):
            self.problem(node.path, "expected a string")
            return None
        return node.value

    def value(self, node: Node | None, key: str) -> Any:
        """``node.value[key]`` (e.g. an extension's ``valueDate``), or a problem if absent."""
        if node is None:
            return None
        if not isinstance(node.value, dict) or key not in node.value:
            self.problem(f"{node.path}.{key}", "this element is required", IssueCode.REQUIRED)
            return None
        return node.value[key]

    def code(self, node: Node | None, enum: type[E]) -> E | None:
        """The code of a Coding or CodeableConcept (or an extension's valueCoding) in ``enum``."""
        if node is None:
            return None
        value = node.value
        path = node.path
        if isinstance(value, dict) and "valueCoding" in value:
            value, path = value["valueCoding"], f"{path}.valueCoding"
        if isinstance(value, dict) and "coding" in value:
            codings = value["coding"]
            if not isinstance(codings, list):
                self.problem(f"{path}.coding", "expected a list of codings", IssueCode.STRUCTURE)
                return None
            matches = [
                (i, c)
                for i, c in enumerate(codings)
                if isinstance(c, dict) and c.get("system") == enum.system()
            ]
            if not matches:
                self.problem(
                    f"{path}.coding", f"no coding from {enum.system()}", IssueCode.REQUIRED
                )
                return None
            index, value = matches[0]
            path = f"{path}.coding[{index}]"
        if not isinstance(value, dict) or value.get("system") != enum.system():
            self.problem(f"{path}.system", f"expected the code system {enum.system()}")
            return None
        member = enum.lookup(value.get("code"))
        if member is None:
            self.problem(
                f"{path}.code",
                f"unknown code in {enum.system()}; expected one of "
                + ", ".join(m.value for m in enum),
                IssueCode.CODE_INVALID,
            )
        return member

    def ext_value(self, parent: Node, name: str, key: str, *, sub: bool = False) -> Any:
        """The ``key`` value (valueDate, valueString...) of extension ``name``, if present."""
        node = parent.sub_extension(name) if sub else parent.extension(name)
        return self.value(node, key) if node is not None else None

    def ext_code(self, parent: Node, name: str, enum: type[E], *, sub: bool = False) -> E | None:
        """The code of extension ``name`` (a valueCoding), if present."""
        node = parent.sub_extension(name) if sub else parent.extension(name)
        return self.code(node, enum) if node is not None else None

    def identifier(self, node: Node, system: str) -> str | None:
        """The value of the first identifier with ``system``, if any."""
        for ident in node.items("identifier"):
            if isinstance(ident.value, dict) and ident.value.get("system") == system:
                return self.string(ident.child("value"))
        return None

    def telecom(self, node: Node, system: str) -> str | None:
        """The first ContactPoint value of ``system`` (phone, email)."""
        for point in node.items("telecom"):
            if isinstance(point.value, dict) and point.value.get("system") == system:
                return self.string(point.child("value"))
        return None


def read_patient(reader: Reader, node: Node) -> JSON:
    """A PersonIdentity field dict from a Patient."""
    nhs = None
    verification = None
    for ident in node.items("identifier"):
        if isinstance(ident.value, dict) and ident.value.get("system") == NHS_NUMBER_SYSTEM:
            nhs = reader.string(ident.child("value"))
            status = ident.extension(NHS_VERIFICATION_EXTENSION)
            if status is not None:
                verification = reader.code(
                    status.child("valueCodeableConcept"), NhsNumberVerificationStatus
                )
            break
    if nhs is None:
        reader.problem(
            f"{node.path}.identifier",
            f"no identifier with system {NHS_NUMBER_SYSTEM}",
            IssueCode.REQUIRED,
        )
    names = node.items("name")
    name = names[0] if names else None
    reader.required(name, node, "name")
    given = name.child("given") if name else None
    given_value = (
        given.value[0] if given and isinstance(given.value, list) and given.value else None
    )
    return {
        "nhs_number": nhs,
        "nhs_number_verification": verification,
        "given_name": given_value,
        "family_name": reader.string(name.child("family")) if name else None,
        "date_of_birth": reader.string(reader.required(node.child("birthDate"), node, "birthDate")),
        "gender": reader.string(node.child("gender")),
        "local_identifier": reader.identifier(node, LOCAL_IDENTIFIER_SYSTEM),
    }


def read_organisation(reader: Reader, node: Node) -> JSON:
    """An Organisation field dict (ODS code, name) from an Organization."""
    ods = reader.identifier(node, ODS_ORGANISATION_SYSTEM)
    if ods is None:
        reader.problem(
            f"{node.path}.identifier",
            f"no identifier with system {ODS_ORGANISATION_SYSTEM}",
            IssueCode.REQUIRED,
        )
    return {
        "ods_code": ods,
        "name": reader.string(reader.required(node.child("name"), node, "name")),
    }


def read_sharing(reader: Reader, node: Node) -> JSON | None:
    """The information-sharing marker from a resource, if it has one."""
    marker = node.extension("information-sharing")
    if marker is None:
        return None
    return {
        "withheld_from_family": reader.ext_value(
            marker, "withheldFromFamily", "valueBoolean", sub=True
        ),
        "withheld_reason": reader.ext_code(marker, "reason", WithholdingReason, sub=True),
        "note": reader.ext_value(marker, "note", "valueString", sub=True),
    }


def read_social_worker(reader: Reader, parent: Node, name: str) -> JSON | None:
    """A social worker contact from its complex extension, if present."""
    node = parent.extension(name)
    if node is None:
        return None
    ods = reader.ext_value(node, "organisationOds", "valueString", sub=True)
    return {
        "name": reader.ext_value(node, "name", "valueString", sub=True),
        "phone": reader.ext_value(node, "phone", "valueString", sub=True),
        "email": reader.ext_value(node, "email", "valueString", sub=True),
        "organisation": {
            "ods_code": ods,
            "name": reader.ext_value(node, "organisationName", "valueString", sub=True),
        }
        if ods
        else None,
    }


class BundleIndex:
    """The resources of a Bundle by fullUrl and by type, for resolving references."""

    def __init__(self, reader: Reader, bundle: JSON) -> None:
        self.reader = reader
        self.root = Node(bundle, "Bundle")
        self.by_url: dict[str, Node] = {}
        self.by_type: dict[str, list[Node]] = {}
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            reader.problem("Bundle", "expected a FHIR Bundle", IssueCode.STRUCTURE)
            return
        for i, item in enumerate(self.root.items("entry")):
            resource = item.value.get("resource") if isinstance(item.value, dict) else None
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                reader.problem(
                    f"Bundle.entry[{i}].resource", "entry has no resource", IssueCode.STRUCTURE
                )
                continue
            node = Node(resource, f"Bundle.entry[{i}].resource.ofType({resource['resourceType']})")
            url = item.value.get("fullUrl")
            if isinstance(url, str):
                self.by_url[url] = node
            if "id" in resource:
                self.by_url.setdefault(f"{resource['resourceType']}/{resource['id']}", node)
            self.by_type.setdefault(resource["resourceType"], []).append(node)

    def first(self, resource_type: str, profile: str | None = None) -> Node | None:
        """The first resource of a type (with a profile, when given), or a problem."""
        for node in self.by_type.get(resource_type, []):
            if profile is None or profile in profiles_of(node.value):
                return node
        wanted = f"{resource_type} ({profile})" if profile else resource_type
        self.reader.problem("Bundle.entry", f"the Bundle has no {wanted}", IssueCode.REQUIRED)
        return None

    def resolve(self, reference: Node | None, resource_type: str | None = None) -> Node | None:
        """The resource a Reference points to (of ``resource_type``, when given), or a problem
        when it does not resolve."""
        if reference is None:
            return None
        target = reference.value.get("reference") if isinstance(reference.value, dict) else None
        node = self.by_url.get(target) if isinstance(target, str) else None
        if node is None or resource_type not in (None, node.value.get("resourceType")):
            self.reader.problem(
                f"{reference.path}.reference",
                f"does not resolve to a {resource_type or 'resource'} in the Bundle",
                IssueCode.STRUCTURE,
            )
            return None
        return node

    def with_profile(self, resource_type: str, profile: str) -> list[Node]:
        """Every resource of a type that claims ``profile``."""
        return [n for n in self.all(resource_type) if profile in profiles_of(n.value)]

    def all(self, resource_type: str) -> Iterator[Node]:
        """Every resource of a type."""
        yield from self.by_type.get(resource_type, [])


def read_practitioner(index: BundleIndex, role_ref: Node | None) -> JSON | None:
    """A Practitioner field dict from a reference to a PractitionerRole."""
    reader = index.reader
    role = index.resolve(role_ref, "PractitionerRole")
    if role is None:
        return None
    person = index.resolve(
        reader.required(role.child("practitioner"), role, "practitioner"), "Practitioner"
    )
    org_node = index.resolve(role.child("organization"), "Organization")
    codes = role.items("code")
    specialties = role.items("specialty")
    if person is None:
        return None
    names = person.items("name")
    return {
        "name": reader.string(names[0].child("text")) if names else None,
        "role": reader.string(codes[0].child("text")) if codes else None,
        "setting": reader.code(specialties[0], CareSetting) if specialties else None,
        "organisation": read_organisation(reader, org_node) if org_node else None,
        "phone": reader.telecom(person, "phone"),
        "email": reader.telecom(person, "email"),
        "sds_user_id": reader.identifier(person, SDS_USER_SYSTEM),
    }


def read_subject(index: BundleIndex, parent: Node, name: str) -> Node | None:
    """The Patient a ``subject``/``for`` Reference resolves to; a Reference.identifier naming
    another NHS number than the Patient's is a problem (the two would disagree on the child)."""
    reader = index.reader
    reference = reader.required(parent.child(name), parent, name)
    node = index.resolve(reference, "Patient")
    if node is None or reference is None:
        return node
    claimed = reference.child("identifier")
    if claimed is not None and isinstance(claimed.value, dict):
        number = claimed.value.get("value")
        if reader.identifier(node, NHS_NUMBER_SYSTEM) != number:
            reader.problem(
                f"{claimed.path}.value",
                "the reference's NHS number is not the referenced Patient's",
            )
    return node


def based_on(local_id: str | None, resource_type: str) -> list[JSON] | None:
    """A logical reference to another artefact by its identifier (it is not in this Bundle)."""
    if local_id is None:
        return None
    return [
        {"type": resource_type, "identifier": {"system": ARTEFACT_ID_SYSTEM, "value": local_id}}
    ]


def read_based_on(reader: Reader, node: Node) -> str | None:
    """The local id of the artefact a resource is ``basedOn``, if any."""
    for item in node.items("basedOn"):
        ident = item.child("identifier")
        value = ident.value if ident is not None else None
        if (
            ident is not None
            and isinstance(value, dict)
            and value.get("system") == ARTEFACT_ID_SYSTEM
        ):
            return reader.string(ident.child("value"))
    return None


def build(
    reader: Reader, model: type[M], data: JSON, anchor: str, origins: dict[str, str] | None = None
) -> M:
    """Validate mapped fields into a domain model, or raise ``MappingError`` with every problem.

    A domain error is placed at the FHIR element its field came from when ``origins`` (artefact
    JSON path prefix → FHIRPath) says, else at the ``anchor`` resource.
    """
    if reader.issues:
        raise MappingError(reader.issues)
    try:
        return model.model_validate(_without_none(data))
    except ValidationError as exc:
        issues = []
        for issue in issues_from_validation_error(exc, skip=0):
            where = _origin(issue.location, origins or {}) or anchor
            issues.append(
                Issue(
                    issue.severity,
                    issue.code,
                    where,
                    f"{issue.location.removeprefix('$.')}: {issue.message}",
                    issue.rule_id,
                    issue.rule_source,
                )
            )
        raise MappingError(issues) from None


def _origin(artefact_path: str, origins: dict[str, str]) -> str | None:
    matching = [
        prefix
        for prefix in origins
        if artefact_path == prefix or artefact_path.startswith((prefix + ".", prefix + "["))
    ]
    return origins[max(matching, key=len)] if matching else None


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def each(nodes: list[Node], read: Callable[[Node], JSON | None]) -> list[JSON]:
    """Read every node, keeping what could be read."""
    return [r for r in (read(n) for n in nodes) if r is not None]


#: Extensions every mapping may use, declared once.
COMMON_EXTENSIONS: tuple[ExtensionDef, ...] = (
    ExtensionDef(
        "information-sharing",
        "Information withheld from the family, and why",
        ("DomainResource",),
        None,
        children=(
            ExtensionDef("withheldFromFamily", "Withheld from the family", (), "boolean"),
            ExtensionDef("reason", "Why", (), "Coding", WithholdingReason),
            ExtensionDef("note", "Note", (), "string"),
        ),
        source=WithholdingReason.source,
    ),
)


#: Toolkit profiles of the resources every mapping shares, derived from UK Core.
COMMON_PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "SafeguardingPatient",
        "Patient",
        UKCORE + "UKCore-Patient",
        "Child or expectant mother",
        "A child (or, for an unborn child protection plan, the expectant mother), identified "
        "by NHS number.",
        elements=(
            ElementRule("Patient.name", min=1),
            ElementRule("Patient.birthDate", min=1),
        ),
        slices=(
            SliceDef(
                "Patient.identifier",
                "nhsNumber",
                "system",
                "Identifier",
                {"system": NHS_NUMBER_SYSTEM},
                min=1,
            ),
        ),
    ),
    ProfileDef(
        "SafeguardingOrganization",
        "Organization",
        UKCORE + "UKCore-Organization",
        "Organisation identified by its ODS code",
        "A local authority, trust, practice or other organisation, identified by ODS code.",
        elements=(ElementRule("Organization.name", min=1),),
        slices=(
            SliceDef(
                "Organization.identifier",
                "odsOrganisationCode",
                "system",
                "Identifier",
                {"system": ODS_ORGANISATION_SYSTEM},
                min=1,
            ),
        ),
    ),
    ProfileDef(
        "SafeguardingPractitioner",
        "Practitioner",
        UKCORE + "UKCore-Practitioner",
        "Practitioner",
        "A practitioner named in a safeguarding artefact.",
        elements=(ElementRule("Practitioner.name", min=1, max="1"),),
        slices=(
            SliceDef(
                "Practitioner.identifier",
                "sdsUserId",
                "system",
                "Identifier",
                {"system": SDS_USER_SYSTEM},
            ),
        ),
    ),
    ProfileDef(
        "SafeguardingPractitionerRole",
        "PractitionerRole",
        UKCORE + "UKCore-PractitionerRole",
        "Practitioner's role",
        "A practitioner's job role, work setting and organisation.",
        elements=(
            ElementRule("PractitionerRole.practitioner", min=1),
            ElementRule("PractitionerRole.code", min=1, max="1"),
            ElementRule("PractitionerRole.specialty", max="1", binding=CareSetting),
        ),
    ),
)


def read_condition_concept(
    reader: Reader, concept_node: Node, origins: dict[str, str], at: str
) -> JSON | str | None:
    """A ``ConditionEntry`` (the bare name when uncoded) from a CodeableConcept.

    The name is the ``text``; the code the first SNOMED CT coding's, located in ``origins``
    under ``at`` (the entry's artefact path). Codings of other systems (a local code beside the
    SNOMED one, say) are left alone, and FHIR written before codes existed (text only) reads
    as before.
    """
    name = reader.string(reader.required(concept_node.child("text"), concept_node, "text"))
    snomed = [
        c
        for c in concept_node.items("coding")
        if isinstance(c.value, dict) and c.value.get("system") == SNOMED_SYSTEM
    ]
    if not snomed:
        return name
    code = reader.string(reader.required(snomed[0].child("code"), snomed[0], "code"))
    origins[f"{at}.snomed_code"] = f"{snomed[0].path}.code"
    return {"name": name, "snomed_code": code}


def read_local_id(reader: Reader, node: Node) -> str | None:
    """The artefact's own id: the identifier of ``node`` with the toolkit's system."""
    identifiers = [
        i
        for i in node.items("identifier")
        if isinstance(i.value, dict) and i.value.get("system") == ARTEFACT_ID_SYSTEM
    ]
    if not identifiers:
        reader.problem(f"{node.path}.identifier", f"no identifier with system {ARTEFACT_ID_SYSTEM}")
        return None
    return reader.string(identifiers[0].child("value"))
