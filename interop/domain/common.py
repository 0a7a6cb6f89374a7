"""The parts every artefact shares, modelled once: people, organisations, contacts."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from interop.codes import (
    AdministrativeGender,
    CareSetting,
    NhsNumberVerificationStatus,
    WithholdingReason,
)
from interop.domain.rules import Violations
from interop.identifiers import NhsNumber, OdsCode, SnomedConceptId
from interop.privacy import mask_date_of_birth, mask_name, mask_nhs_number
from interop.sources import for_people


def _schema_for_people(schema: dict[str, Any], model: type[Any]) -> None:
    # field descriptions cite the guidance by corpus file and line (002 L1724) for
    # maintainers; a JSON Schema's reader gets the document by name, chapter and section
    for holder in (schema, *schema.get("properties", {}).values()):
        if isinstance(holder, dict) and isinstance(holder.get("description"), str):
            holder["description"] = for_people(holder["description"])


class DomainModel(BaseModel):
    """Base of every domain model: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        validate_default=True,
        json_schema_extra=_schema_for_people,
    )


# Bounded text: a required string is never blank, and no field takes a megabyte.
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
LocalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"),
    Field(
        description="The sender's own identifier of the record: 1-64 letters, digits, "
        "'.', '_', ':' or '-'. With the NHS number and the kind it gives the artefact's "
        "business identity.",
        examples=["LA-CP-000123"],
    ),
]

_PHONE_CHARS = re.compile(r"^\+?[0-9 ()\-]+$")


def _check_phone(value: str) -> str:
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE_CHARS.fullmatch(value) or not 10 <= digits <= 13:
        raise PydanticCustomError(
            "phone_number",
            "a phone number has 10 to 13 digits, optionally with +, spaces, hyphens or brackets",
        )
    return value


Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=30),
    AfterValidator(_check_phone),
    Field(examples=["0113 222 4403", "+44 113 240 9536"]),
]
Email = Annotated[EmailStr, Field(max_length=254, examples=["duty.team@example.gov.uk"])]


class PersonIdentity(DomainModel):
    """A child (or, for an unborn child protection plan, the expectant mother).

    Personal fields are left out of ``repr()`` so that a logged object leaks nothing.
    """

    nhs_number: NhsNumber = Field(repr=False)
    nhs_number_verification: NhsNumberVerificationStatus | None = Field(
        default=None, description="PDS verification status of the NHS number, where known"
    )
    given_name: ShortText = Field(repr=False)
    family_name: ShortText = Field(repr=False)
    date_of_birth: date = Field(repr=False)
    gender: AdministrativeGender | None = None
    local_identifier: ShortText | None = Field(
        default=None,
        description="The child's identity number in the local authority's or trust's own "
        "system (001 L413)",
    )

    def masked(self) -> str:
        """A short label fit for logs: initials, masked NHS number, year of birth."""
        return (
            f"{mask_name(self.given_name, self.family_name)} "
            f"NHS {mask_nhs_number(self.nhs_number)} "
            f"b. {mask_date_of_birth(self.date_of_birth)}"
        )

    def age_on(self, day: date) -> int:
        """Age in whole years on ``day`` (a 29 February birthday falls on 1 March)."""
        years = day.year - self.date_of_birth.year
        if (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day):
            years -= 1
        return years


class ConditionEntry(DomainModel):
    """A condition or clinical finding: its name, and its SNOMED CT concept where coded.

    In artefact JSON an uncoded entry is the bare name, as before codes existed (``"Asthma"``),
    and a coded one an object (``{"name": "Asthma", "snomed_code": "195967001"}``). Both are
    read; an entry is written in the shorter form that holds it, so uncoded records stay byte
    for byte what earlier versions wrote and read.
    """

    name: ShortText
    snomed_code: SnomedConceptId | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_serializer(mode="wrap")
    def _shortest(self, handler: SerializerFunctionWrapHandler) -> Any:
        return self.name if self.snomed_code is None else handler(self)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        definition = handler.resolve_ref_schema(schema)
        as_object = {k: v for k, v in definition.items() if k not in ("title", "description")}
        name = as_object["properties"]["name"]
        as_text = {k: name[k] for k in ("type", "minLength", "maxLength")}
        definition.clear()
        definition.update(
            title=cls.__name__,
            description="A condition or clinical finding: its name alone, or an object with "
            "its name and SNOMED CT concept id",
            anyOf=[as_text, as_object],
        )
        return schema


class Organisation(DomainModel):
    """An organisation identified by its ODS code."""

    ods_code: OdsCode
    name: ShortText


class Practitioner(DomainModel):
    """A practitioner with their role and how to reach them."""

    name: ShortText
    role: ShortText = Field(description="Job role, e.g. 'Consultant paediatrician', 'Named nurse'")
    setting: CareSetting | None = None
    organisation: Organisation | None = None
    phone: Phone | None = None
    email: Email | None = None
    sds_user_id: Annotated[str, StringConstraints(pattern=r"^\d{12}$")] | None = Field(
        default=None, description="Spine Directory Service user id (12 digits)"
    )


class SocialWorkerContact(DomainModel):
    """The allocated (key) social worker: name, contact number, email (001 L401-405)."""

    name: ShortText
    phone: Phone
    email: Email | None = None
    organisation: Organisation | None = None


class ResponsibleLocalAuthority(DomainModel):
    """The local authority responsible for a child, as CP-IS shows it to health staff.

    CP-IS holds an emergency (out-of-hours) contact for every authority and an office-hours
    number where one is given (as CP-IS asks of local authorities). The authority registers them
    with CP-IS once, at onboarding: an LA's case-management export and its CP-IS uploads do
    not carry them, so a flag read from such an export may have neither number.
    """

    ods_code: OdsCode
    name: ShortText
    emergency_duty_phone: Phone | None = Field(
        default=None, description="Emergency duty team (out of hours)"
    )
    office_hours_phone: Phone | None = None
    secure_email: Email | None = None

    def as_organisation(self) -> Organisation:
        """The authority as a plain organisation (ODS code and name)."""
        return Organisation(ods_code=self.ods_code, name=self.name)


class InformationSharing(DomainModel):
    """Whether the family is told what is shared, and if not, why (002 L388, L1715)."""

    withheld_from_family: bool = False
    withheld_reason: WithholdingReason | None = None
    note: LongText | None = None

    @model_validator(mode="after")
    def _reason_goes_with_withholding(self) -> InformationSharing:
        v = Violations()
        v.check(
            not self.withheld_from_family or self.withheld_reason is not None,
            "C12",
            "withheld_reason",
            "information withheld from the family needs a reason",
        )
        v.check(
            self.withheld_from_family or self.withheld_reason is None,
            "C12",
            "withheld_reason",
            "a withholding reason is given but withheld_from_family is false",
        )
        v.raise_if_any()
        return self


#: The default marker: nothing withheld. One shared instance (models are frozen), so that
#: reading a national export does not build and validate one per row.
NOT_WITHHELD = InformationSharing()


class ArtefactBase(DomainModel):
    """Fields every artefact has: its kind, local id and the information-sharing marker."""

    kind: str
    local_id: LocalId
    # valid by construction: not validated again for every artefact (validate_default)
    sharing: InformationSharing = Field(default=NOT_WITHHELD, validate_default=False)

    def summary(self) -> str:
        """One line for operators' logs and reports, with personal data masked."""
        raise NotImplementedError
