"""Every code the artefacts use, defined once.

Each code system is a ``CodedEnum``: the member's value is the code on the wire, and each
member carries its display text and definition. The class carries the code system's canonical
URL, title and the guidance it comes from. The FHIR CodeSystems and ValueSets in ``profiles/``,
the JSON Schemas and the CP-IS codec are all derived from these classes, so a code is never
typed twice.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Self

from interop.sources import for_people

#: The toolkit's canonical base: every CodeSystem, ValueSet and profile it publishes lives below.
CANONICAL_BASE = "https://fhir.safeguarding-interop.org"


#: CP-IS as users know it (its specification is NHS England's, not among the guidance files)
CPIS = "Child Protection - Information Sharing (CP-IS), NHS England"


class CodedEnum(StrEnum):
    """A code system as an enum: value = code; ``display`` and ``definition`` per member."""

    display: str
    definition: str

    #: last segment of the code system's canonical URL (``{CANONICAL_BASE}/CodeSystem/{slug}``)
    slug: ClassVar[str]
    label: ClassVar[str]
    #: where the codes come from, for people (the document by name, chapter and section)
    source: ClassVar[str]
    #: the same as written in the code: guidance corpus file and line, for maintainers
    source_lines: ClassVar[str]
    #: the system URL when the code system is national, not the toolkit's own
    external_system: ClassVar[str | None]

    # Enum bodies turn every plain attribute into a member, so the code system's metadata
    # arrives as class keywords: ``class PlanType(CodedEnum, slug=..., label=..., source=...)``.
    def __init_subclass__(
        cls, *, slug: str, label: str, source: str, external_system: str | None = None
    ) -> None:
        super().__init_subclass__()
        cls.slug, cls.label = slug, label
        cls.source_lines, cls.source = source, for_people(source)
        cls.external_system = external_system

    def __new__(cls, code: str, display: str, definition: str = "") -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.display = display
        member.definition = for_people(definition) if definition else display
        return member

    @classmethod
    def system(cls) -> str:
        """The canonical URL of this code system."""
        return cls.external_system or f"{CANONICAL_BASE}/CodeSystem/{cls.slug}"

    @classmethod
    def lookup(cls, code: object) -> Self | None:
        """The member whose code is ``code``, or None."""
        return next((member for member in cls if member.value == code), None)

    @classmethod
    def describe(cls) -> str:
        """One line per code, for help texts and JSON Schema descriptions."""
        return "; ".join(f"{m.value} = {m.display}" for m in cls)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema: dict[str, Any] = handler(core_schema)
        schema = handler.resolve_ref_schema(schema)
        schema["description"] = f"{cls.label}: {cls.describe()}"
        if cls.source:
            schema["description"] += f" (source: {cls.source})"
        return schema


class PlanType(
    CodedEnum,
    slug="plan-type",
    label="Child protection plan type (CP-IS)",
    source=f"{CPIS}: ObservationType CPPI/LACI/UCPI",
):
    """CP-IS plan types, with the CP-IS observation codes each maps to."""

    CPP = ("CPP", "Child protection plan", "The child is the subject of a child protection plan.")
    LAC = ("LAC", "Looked after child", "The child is looked after by a local authority.")
    UCPP = (
        "UCPP",
        "Unborn child protection plan",
        "An unborn child protection plan, recorded against the expectant mother.",
    )

    @property
    def cpis_information_code(self) -> str:
        """CP-IS plan information code: CPPI, LACI or UCPI."""
        return _CPIS_PREFIX[self] + "I"

    @property
    def cpis_upload_code(self) -> str:
        """CP-IS upload form code: CPPIU, LACIU or UCPIU."""
        return _CPIS_PREFIX[self] + "IU"

    @property
    def cpis_date_codes(self) -> tuple[str, str, str]:
        """CP-IS start, end and delete date codes (e.g. CPPSD, CPPED, CPPDD)."""
        prefix = _CPIS_PREFIX[self]
        return (f"{prefix}SD", f"{prefix}ED", f"{prefix}DD")

    @property
    def snomed_code(self) -> str | None:
        """SNOMED CT concept for the plan, where NHS England publishes one (CP-IS)."""
        return _SNOMED.get(self)

    @classmethod
    def from_cpis_code(cls, code: str) -> PlanType:
        """The plan type of a CP-IS information or upload code (CPPI, LACIU, ...)."""
        for plan, prefix in _CPIS_PREFIX.items():
            if code in (prefix + "I", prefix + "IU"):
                return plan
        raise ValueError(f"not a CP-IS plan information code: {code!r}")


_CPIS_PREFIX = {PlanType.CPP: "CPP", PlanType.LAC: "LAC", PlanType.UCPP: "UCP"}
_SNOMED = {PlanType.CPP: "1064311000000109", PlanType.LAC: "764841000000100"}


class LacLegalBasis(
    CodedEnum,
    slug="lac-legal-basis",
    label="Looked after child legal basis",
    source=f"{CPIS}: legal basis of a looked after child's care; Children Act 1989",
):
    """The Children Act 1989 basis on which a child is looked after."""

    S20 = ("s20", "Section 20 voluntary accommodation", "Voluntary care agreement (s20).")
    S31 = ("s31", "Section 31 care order", "Full care order (s31).")
    S38 = ("s38", "Section 38 interim care order", "Interim care order (s38).")


class PlanEndReason(
    CodedEnum,
    slug="plan-end-reason",
    label="Child protection plan end reason",
    source="002_7a8cd4b31029ee68.txt L1953-1957; Children Act 1989 (ceasing to be looked after)",
):
    """Why a plan ended: the child protection reasons of Working Together 2026, and the
    common ways a looked after child leaves care."""

    NO_LONGER_AT_RISK = (
        "no-longer-at-risk",
        "No longer at risk of significant harm",
        "The child is judged no longer to be suffering, or likely to suffer, significant harm.",
    )
    MOVED_PERMANENTLY = (
        "moved-permanently",
        "Moved permanently to another local authority area",
        "Ended after the receiving local authority's transfer-in conference.",
    )
    REACHED_18 = ("reached-18", "Reached the age of 18")
    DIED = ("died", "Died")
    LEFT_UK = ("left-uk", "Permanently left the United Kingdom")
    RETURNED_HOME = (
        "returned-home",
        "Returned home to parents (looked after child)",
    )
    ADOPTED = ("adopted", "Adopted (looked after child)")
    SPECIAL_GUARDIANSHIP = (
        "special-guardianship",
        "Special guardianship or child arrangements order (looked after child)",
    )
    OTHER = ("other", "Other reason", "Another reason; record it as text.")


class AbuseCategory(
    CodedEnum,
    slug="abuse-category",
    label="Child protection plan category of abuse",
    source=(
        "NHS Data Dictionary, CHILD PROTECTION PLAN REASON CODE; several per plan as in the "
        "Department for Education's children in need census"
    ),
):
    """Category of abuse of a child protection plan (NHS Data Dictionary codes 01-04)."""

    NEGLECT = ("01", "Neglect")
    PHYSICAL = ("02", "Physical abuse")
    EMOTIONAL = ("03", "Emotional abuse")
    SEXUAL = ("04", "Sexual abuse")
    MULTIPLE = ("multiple", "Multiple categories")


class NhsNumberVerificationStatus(
    CodedEnum,
    slug="nhs-number-verification-status",
    label="NHS number verification status (England)",
    source="https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
    external_system="https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
):
    """UK Core NHS number verification status (England)."""

    VERIFIED = ("01", "Number present and verified")
    NOT_TRACED = ("02", "Number present but not traced")
    TRACE_REQUIRED = ("03", "Trace required")
    NO_MATCH = ("04", "Trace attempted - No match or multiple match found")
    TRACE_CONFLICT = ("05", "Trace needs to be resolved - (NHS number or patient detail conflict)")
    TRACE_IN_PROGRESS = ("06", "Trace in progress")
    NOT_PRESENT = ("07", "Number not present and trace not required")
    TRACE_POSTPONED = ("08", "Trace postponed (baby under six weeks old)")


class AdministrativeGender(
    CodedEnum,
    slug="administrative-gender",
    label="Administrative gender",
    source="http://hl7.org/fhir/administrative-gender",
    external_system="http://hl7.org/fhir/administrative-gender",
):
    """FHIR administrative gender."""

    MALE = ("male", "Male")
    FEMALE = ("female", "Female")
    OTHER = ("other", "Other")
    UNKNOWN = ("unknown", "Unknown")


class CareSetting(
    CodedEnum,
    slug="care-setting",
    label="Work setting of a practitioner",
    source="001_0e453bf333ba50fc.txt L389-391; 000_f1e2ca509ebfd4fe.txt L16, L27",
):
    """Where a practitioner works: the health settings of 001 Appendix 2 (GP, community,
    hospital) and the other agencies that raise alerts (000 L16: all agencies)."""

    GP = ("gp", "General practice")
    COMMUNITY = ("community", "Community health services")
    HOSPITAL = ("hospital", "Hospital")
    MENTAL_HEALTH = ("mental-health", "Mental health services")
    EMERGENCY = ("emergency", "Emergency and unscheduled care")
    SOCIAL_CARE = ("social-care", "Children's social care")
    EDUCATION = ("education", "School, college or early years setting")
    POLICE = ("police", "Police")
    VOLUNTARY = ("voluntary", "Voluntary or community organisation")
    OTHER = ("other", "Other setting")


class PartyRole(
    CodedEnum,
    slug="party-role",
    label="Responsible party role",
    source="001_0e453bf333ba50fc.txt L199-205, L297-305",
):
    """Who is responsible for an action or a part of a plan."""

    PARENT_CARER = ("parent-carer", "Parent or carer")
    FAMILY_NETWORK = ("family-network", "Member of the family network")
    CHILD = ("child", "The child or young person (self-care)")
    LEAD_HEALTH_PRACTITIONER = ("lead-health-practitioner", "Lead health practitioner")
    GP = ("gp", "General practitioner")
    HOSPITAL = ("hospital", "Hospital team")
    COMMUNITY_HEALTH = ("community-health", "Community health team")
    SOCIAL_WORKER = ("social-worker", "Key social worker")
    SCHOOL = ("school", "School, college or early years setting")
    AMBULANCE = ("ambulance", "Ambulance service")
    POLICE = ("police", "Police")
    OTHER = ("other", "Other agency")


class Agency(
    CodedEnum,
    slug="agency",
    label="Safeguarding agency",
    source="002_7a8cd4b31029ee68.txt L1677-1680",
):
    """Agencies taking part in multi-agency safeguarding work."""

    LA_SOCIAL_CARE = ("la-social-care", "Local authority children's social care")
    HEALTH = ("health", "Health")
    POLICE = ("police", "Police")
    EDUCATION = ("education", "Education or childcare setting")
    REFERRER = ("referrer", "The referring practitioner or agency")
    EARLY_HELP = ("early-help", "Early help / family help")
    OTHER = ("other", "Other agency")


class HealthInformationSource(
    CodedEnum,
    slug="health-information-source",
    label="Health information source for a strategy discussion",
    source="002_7a8cd4b31029ee68.txt L1724",
):
    """Health services whose information health coordinates for a strategy discussion."""

    MATERNITY = ("maternity", "Maternity health")
    PRIMARY_CARE = ("primary-care", "Primary care and GP practices")
    ACUTE = ("acute", "Acute health")
    SCHOOL_NURSING = ("school-nursing", "School nursing")
    HEALTH_VISITING = ("health-visiting", "Health visiting")
    MENTAL_HEALTH = ("mental-health", "Mental health")
    SEXUAL_HEALTH = ("sexual-health", "Sexual health")
    DOMESTIC_ABUSE = ("domestic-abuse", "Domestic abuse and violence services")
    SUBSTANCE_MISUSE = ("substance-misuse", "Substance misuse services")
    OTHER = ("other", "Other health practitioners")


class AttendanceSetting(
    CodedEnum,
    slug="attendance-setting",
    label="Unscheduled care setting",
    source=f"001_0e453bf333ba50fc.txt L382; {CPIS}: unscheduled care settings",
):
    """Unscheduled care settings (recent A&E and out-of-hours attendances)."""

    EMERGENCY_DEPARTMENT = ("emergency-department", "Emergency department (A&E)")
    MINOR_INJURY_UNIT = ("minor-injury-unit", "Minor injury unit")
    WALK_IN_CENTRE = ("walk-in-centre", "Walk-in centre / urgent treatment centre")
    OUT_OF_HOURS_GP = ("out-of-hours-gp", "Out-of-hours GP")
    AMBULANCE = ("ambulance", "Ambulance service")
    MATERNITY = ("maternity", "Maternity unit")
    PAEDIATRIC_WARD = ("paediatric-ward", "Paediatric ward (unplanned admission)")


class AppointmentAttendance(
    CodedEnum,
    slug="appointment-attendance",
    label="Missed appointment type",
    source="001_0e453bf333ba50fc.txt L382, L290",
):
    """How a health appointment was not kept."""

    MISSED = ("missed", "Missed appointment")
    WAS_NOT_BROUGHT = ("was-not-brought", "Was not brought (WNB)")
    CANCELLED_BY_FAMILY = ("cancelled-by-family", "Cancelled or rebooked by the family")


class StrategyOutcome(
    CodedEnum,
    slug="strategy-outcome",
    label="Strategy discussion outcome",
    source="001_0e453bf333ba50fc.txt L393-397",
):
    """Outcome of a strategy discussion."""

    S17 = ("s17", "Met section 17 threshold (child in need)")
    S47 = ("s47", "Met section 47 threshold (child protection enquiry)")
    NEITHER = ("neither", "Met neither threshold")


class LongTermCondition(
    CodedEnum,
    slug="long-term-condition",
    label="Long-term life-threatening condition category",
    source="001_0e453bf333ba50fc.txt L27-38",
):
    """Life-threatening conditions named by the LLR 'additional child safeguards' procedure."""

    DIABETES = ("diabetes", "Diabetes")
    CHILDHOOD_CANCER = ("childhood-cancer", "Childhood cancer")
    EPILEPSY = ("epilepsy", "Epilepsy")
    ASTHMA = ("asthma", "Asthma")
    SERIOUS_ALLERGY = ("serious-allergy", "Serious allergy")
    CONGENITAL_HEART_DISEASE = ("congenital-heart-disease", "Congenital heart disease")
    CEREBRAL_PALSY = ("cerebral-palsy", "Cerebral palsy")
    CYSTIC_FIBROSIS = ("cystic-fibrosis", "Cystic fibrosis")
    MENTAL_HEALTH = (
        "mental-health",
        "Mental health condition",
        "Mental health issues including anorexia and suicidal ideation.",
    )
    OTHER = ("other", "Other long-term condition")


class StandardTrigger(
    CodedEnum,
    slug="escalation-trigger",
    label="Standard escalation trigger",
    source="001_0e453bf333ba50fc.txt L290-295",
):
    """The standard trigger points to escalate concerns (001 section 11)."""

    MISSED_APPOINTMENTS = (
        "missed-appointments",
        "Missed appointments / was not brought / multiple rebooked appointments",
    )
    NO_ACCESS_VISITS = ("no-access-visits", "No access visits by any agency; child not seen")
    SCHOOL_NON_ATTENDANCE = ("school-non-attendance", "Non-attendance at school without reason")
    PARENT_WELLBEING = (
        "parent-wellbeing",
        "Parents'/carers' own health deteriorating (substance misuse, mental health)",
    )
    DISENGAGEMENT = ("disengagement", "Parents or carers disengaging from services")
    SELF_NEGLECT = ("self-neglect", "Child or parent self-neglect")
    HEALTH_DETERIORATION = (
        "health-deterioration",
        "Deterioration of the child's health condition",
        "Acute deterioration needing urgent medical attention (001 L63, L201).",
    )
    OTHER = ("other", "Another trigger described in the plan")


class TravelScenario(
    CodedEnum,
    slug="travel-scenario",
    label="Travel alert scenario",
    source="000_f1e2ca509ebfd4fe.txt L27-34; 003_a5c554465bdd92c7.txt L31-44",
):
    """What an out-of-area travel alert is about."""

    PLANNED = ("planned", "Travel is planned", "The family intends to travel (000 L27).")
    TRAVELLED = (
        "travelled",
        "Child has already travelled",
        "Travel happened without a prior risk assessment: a retrospective assessment (000 L34).",
    )
    WHEREABOUTS_UNKNOWN = (
        "whereabouts-unknown",
        "Whereabouts unknown / missing",
        "The family moved or disappeared; reasonable efforts to locate (003 L31-42).",
    )


class Permanence(
    CodedEnum,
    slug="travel-permanence",
    label="Temporary or permanent move",
    source="000_f1e2ca509ebfd4fe.txt L3, L36",
):
    """Whether a move is temporary or permanent."""

    TEMPORARY = ("temporary", "Temporary")
    PERMANENT = ("permanent", "Permanent")
    UNKNOWN = ("unknown", "Not known")


class DestinationKind(
    CodedEnum,
    slug="destination-kind",
    label="Travel destination kind",
    source="000_f1e2ca509ebfd4fe.txt L40",
):
    """A travel destination is another UK local authority area or a country."""

    UK_LOCAL_AUTHORITY = ("uk-local-authority", "Another UK local authority area")
    COUNTRY = ("country", "Abroad (a country)")


class FactorAnswer(
    CodedEnum,
    slug="factor-answer",
    label="Risk assessment factor answer",
    source="000_f1e2ca509ebfd4fe.txt L38-47",
):
    """The answer to a risk-assessment factor."""

    YES = ("yes", "Yes: in place / understood")
    PARTLY = ("partly", "Partly")
    NO = ("no", "No: not in place / not understood")
    UNKNOWN = ("unknown", "Not known")
    NOT_APPLICABLE = ("not-applicable", "Not applicable")


class TravelRiskFactor(
    CodedEnum,
    slug="travel-risk-factor",
    label="Travel risk assessment factor",
    source="000_f1e2ca509ebfd4fe.txt L39-47",
):
    """The risk-assessment factors of the Leeds travel protocol."""

    HEALTHCARE_AT_DESTINATION = (
        "healthcare-at-destination",
        "Suitable healthcare services are available at the destination",
    )
    KNOWS_HOW_TO_ACCESS_HEALTHCARE = (
        "knows-how-to-access-healthcare",
        "Family understands how to access healthcare at the destination",
    )
    HEALTH_INSURANCE = ("health-insurance", "Appropriate health insurance arranged")
    SUPPLIES_FOR_WHOLE_TRIP = (
        "supplies-for-whole-trip",
        "Medical equipment, medication and feeding supplies for the entire trip",
    )
    NEEDS_MANAGED_DURING_TRAVEL = (
        "needs-managed-during-travel",
        "Mode of transport and plans for managing the child's needs during travel",
    )
    PRIOR_ARRANGEMENTS_AT_DESTINATION = (
        "prior-arrangements-at-destination",
        "Prior arrangements made with healthcare services at the destination",
    )
    FAMILY_UNDERSTANDS_RISKS = (
        "family-understands-risks",
        "Family understands the potential risks",
    )


class TravelOutcome(
    CodedEnum,
    slug="travel-outcome",
    label="Travel risk assessment outcome",
    source="000_f1e2ca509ebfd4fe.txt L49-59; 003_a5c554465bdd92c7.txt L31-44",
):
    """Outcome of a travel risk assessment, or of the search for a missing family."""

    NO_RISK = (
        "no-risk-identified",
        "No risk identified: no further action",
        "000 L49: no further action is required.",
    )
    RISK_MANAGED = (
        "risk-managed",
        "Risks identified and managed with the family",
        "Risks identified; the family follows health advice and arrangements are in place.",
    )
    SIGNIFICANT_RISK = (
        "significant-risk",
        "Significant risk of harm: referral to children's social care",
        "000 L50-56: immediate contact with children's social care (Front Door).",
    )
    LOCATED = (
        "located",
        "Child located",
        "Whereabouts unknown: the child and family were found (003 L31).",
    )
    PENDING = ("pending", "Assessment not yet complete")


class SafeguardingPathway(
    CodedEnum,
    slug="safeguarding-pathway",
    label="Specific safeguarding pathway",
    source="000_f1e2ca509ebfd4fe.txt L18-19, L60-93",
):
    """Specific safeguarding pathways a travel alert can trigger."""

    FGM = ("fgm", "Suspected female genital mutilation (FGM)")
    FORCED_MARRIAGE = ("forced-marriage", "Suspected forced marriage")
    UNREGULATED_TREATMENT = (
        "unregulated-treatment-abroad",
        "Unregulated medical treatment abroad (e.g. stem-cell 'cure' for autism)",
    )


class LocateEffort(
    CodedEnum,
    slug="locate-effort",
    label="Reasonable effort to locate a family",
    source="003_a5c554465bdd92c7.txt L35-42",
):
    """Reasonable efforts to locate a child in need whose family moved or disappeared."""

    HOME_VISIT_APPOINTMENT = (
        "home-visit-appointment",
        "Home visit to last address, by appointment",
    )
    HOME_VISIT_SPECULATIVE = ("home-visit-speculative", "Speculative home visit to last address")
    LETTER = ("letter", "Letter to the last known address with a stamped addressed envelope")
    HOUSING = ("housing", "Liaison with the relevant housing department(s)")
    POLICE_MISSING_PERSONS = ("police-missing-persons", "Contact with police missing persons unit")
    LEADS_FOLLOWED_UP = ("leads-followed-up", "Follow-up of any leads from the above")
    CHILD_BENEFIT_CHECK = ("child-benefit-check", "Child Benefit check")
    INTER_AGENCY_NETWORKS = ("inter-agency-networks", "Use of inter-agency networks")
    MISSING_ALERT = ("missing-alert", "Missing alert issued to other local authorities")


class MeetingType(
    CodedEnum,
    slug="meeting-type",
    label="Child protection meeting type",
    source="001_0e453bf333ba50fc.txt L100-103, L411-415",
):
    """The child protection meetings at which the health needs checklist is completed."""

    INITIAL_CONFERENCE = ("initial-conference", "Initial child protection conference")
    REVIEW_CONFERENCE = ("review-conference", "Review child protection conference")
    TRANSFER_IN_CONFERENCE = ("transfer-in-conference", "Transfer-in child protection conference")
    CORE_GROUP = ("core-group", "Core group meeting")


class ContactPurpose(
    CodedEnum,
    slug="contact-purpose",
    label="Purpose of a local authority contact number",
    source=f"{CPIS}: local authority contact details (emergency contact mandatory, work-place "
    "optional)",
):
    """Which of a local authority's numbers a contact point is."""

    OFFICE_HOURS = ("office-hours", "Office hours")
    EMERGENCY_DUTY = ("emergency-duty", "Emergency duty team (out of hours)")
    SECURE_EMAIL = ("secure-email", "Secure email")


class WithholdingReason(
    CodedEnum,
    slug="withholding-reason",
    label="Reason information is withheld from the family",
    source="002_7a8cd4b31029ee68.txt L388, L1715",
):
    """Why information is not shared with the family."""

    RISK_TO_CHILD = ("risk-to-child", "Sharing would place the child at risk of harm")
    POLICE_INVESTIGATION = (
        "police-investigation",
        "Sharing would jeopardise a police investigation",
    )


class DocumentType(
    CodedEnum,
    slug="document-type",
    label="Safeguarding document type",
    source="001_0e453bf333ba50fc.txt L370-407 (Appendix 2)",
):
    """The kinds of document (Composition.type) the toolkit exchanges."""

    STRATEGY_DISCUSSION_HEALTH_REPORT = (
        "strategy-discussion-health-report",
        "Strategy discussion health report",
        "Health information for sharing at a strategy discussion (001 Appendix 2).",
    )


class ReportSection(
    CodedEnum,
    slug="strategy-report-section",
    label="Strategy discussion health report section",
    source="001_0e453bf333ba50fc.txt L370-407; 002_7a8cd4b31029ee68.txt L1677, L1720-1726",
):
    """The sections of the Strategy Discussion Health Report, in the proforma's order."""

    REASON = (
        "reason",
        "Strategy discussion and its reason",
        "Appendix A form received, the reason for the discussion, the agencies taking part "
        "(001 L374-376; 002 L1677).",
    )
    HEALTH_CONCERNS = (
        "health-concerns",
        "What are we worried about",
        "Health needs, long-term conditions, proportionate information, missed appointments, "
        "recent A&E and out-of-hours attendances (001 L380-382).",
    )
    ENGAGEMENT = (
        "engagement",
        "Parents or carers engaging with the health care plan",
        "Do the parents/carers appear to be engaging with the health care plan (001 L384).",
    )
    IMPACT = (
        "impact",
        "Impact of the abuse and neglect on the child's health",
        "Impact or potential impact of the abuse and neglect on the child's health (001 L387).",
    )
    MEDICAL_ASSESSMENT = (
        "medical-assessment",
        "Advice on medical assessments",
        "Advice on medical assessments such as a child protection medical (002 L1722).",
    )
    PRACTITIONERS = (
        "practitioners",
        "Health practitioners currently involved",
        "GP, community and hospital staff involved, and the health services whose information "
        "was coordinated (001 L389-391; 002 L1724).",
    )
    OUTCOME = ("outcome", "Outcome of the strategy discussion", "Met s17 / s47 (001 L393-397).")
    ACTION_PLAN = ("action-plan", "Action plan", "What, who and by when (001 L399).")
    SOCIAL_WORKER = ("social-worker", "Social worker details", "001 L401-405.")
    SERVICES_TO_TASK = (
        "services-to-task",
        "Services to task",
        "Services the child is open to that must be told of the discussion (001 L407).",
    )


class MessageEvent(
    CodedEnum,
    slug="message-event",
    label="Toolkit message event",
    source="000_f1e2ca509ebfd4fe.txt L27-34; 003_a5c554465bdd92c7.txt L31-44",
):
    """What a toolkit message announces."""

    TRAVEL_ALERT_PLANNED = (
        "travel-alert-planned",
        "Out-of-area travel alert: travel planned",
        "A family intends to take a child with complex medical needs out of area (000 L27).",
    )
    TRAVEL_ALERT_RETROSPECTIVE = (
        "travel-alert-retrospective",
        "Out-of-area travel alert: child already travelled",
        "The child travelled without a prior risk assessment (000 L34, L59).",
    )
    MISSING_CHILD_ALERT = (
        "missing-child-alert",
        "Missing child alert: whereabouts unknown",
        "A child in need whose family moved or disappeared (003 L31-42).",
    )


class TravelCommunication(
    CodedEnum,
    slug="travel-communication",
    label="Travel alert communication",
    source="000_f1e2ca509ebfd4fe.txt L27, L50-56; 003_a5c554465bdd92c7.txt L42",
):
    """To whom, and why, a travel alert is sent."""

    LEAD_CLINICIAN = (
        "lead-clinician-alert",
        "Alert shared with the child's lead clinician",
        "The agency that became aware shares the plan with the lead clinician (000 L27).",
    )
    SOCIAL_CARE_REFERRAL = (
        "social-care-referral",
        "Referral to children's social care (Front Door)",
        "Immediate contact with children's social care about significant risk (000 L50-56).",
    )
    MISSING_ALERT = (
        "missing-alert",
        "Missing alert to another local authority",
        "A missing alert issued to another local authority (003 L42).",
    )


class TreatmentPlanActivity(
    CodedEnum,
    slug="treatment-plan-activity",
    label="Health treatment plan activity",
    source="001_0e453bf333ba50fc.txt L195-205",
):
    """What a CarePlan.activity of a health treatment plan records."""

    ESCALATION_TRIGGER = (
        "escalation-trigger",
        "Escalation trigger",
        "A trigger for escalation, and who does what and when if it happens (001 L195, L201).",
    )
    APPOINTMENT = (
        "appointment",
        "Key review date or appointment",
        "A review date or appointment all agencies should know (001 L202).",
    )
    SELF_CARE = (
        "self-care",
        "Element of self-care",
        "An element of the child's self-care and how it is managed (001 L205).",
    )
    AGENCY_RESPONSIBILITY = (
        "agency-responsibility",
        "Agency role and responsibilities",
        "The part an agency plays in managing the child's health (001 L204).",
    )
    PARENT_CARER_ROLE = (
        "parent-carer-role",
        "Parent, carer or family network role",
        "The part a parent, carer or family network member plays (001 L189, L204).",
    )


class CpisFileResponse(
    CodedEnum,
    slug="cpis-file-response",
    label="CP-IS upload file response (CP-ISUploadFileResponse)",
    source=f"{CPIS}: CP-ISUploadFileResponse",
):
    """The acknowledgement of a whole CP-IS upload file."""

    MALFORMED = ("CPF01", "File-level error: the file is corrupt or malformed")
    ALL_UPLOADED = ("CPF02", "All records uploaded")
    PARTIAL = ("CPF03", "Some records uploaded")
    NONE_UPLOADED = ("CPF04", "No records uploaded")
    SPINE_UNAVAILABLE = ("CPF05", "PDS or Spine unavailable: resubmit the file")
    CLIENT_UNSUPPORTED = ("CPF06", "This version of the CP-IS client is no longer supported")


class CpisRecordResponse(
    CodedEnum,
    slug="cpis-record-response",
    label="CP-IS upload record response (CP-ISUploadRecordResponse)",
    source=f"{CPIS}: CP-ISUploadRecordResponse",
):
    """The acknowledgement of one record of a CP-IS upload."""

    NO_PDS_MATCH = ("CPR01", "No PDS match for the NHS number")
    SENSITIVE = ("CPR02", "NHS number matched but the record is sensitive")
    NOT_VERIFIED = ("CPR03", "NHS number not verified")
    OLD_FORMAT = ("CPR04", "NHS number format incorrect (old style)")
    SUPERSEDED = ("CPR05", "NHS number verified but superseded")
    SUCCESS = ("CPR06", "Record uploaded")
    UNSUCCESSFUL = ("CPR07", "Record not uploaded (see the detail code)")

    @property
    def accepted(self) -> bool:
        """Whether CP-IS now holds the record as sent."""
        return self is CpisRecordResponse.SUCCESS


class CpisRecordResponseDetail(
    CodedEnum,
    slug="cpis-record-response-detail",
    label="CP-IS upload record response detail (toolkit stand-in)",
    source=f"{CPIS}: CP-ISUploadRecordResponse (CPR07 is qualified by a "
    "CP-ISUploadRecordResponseDetail code, whose codes are not public)",
):
    """Why a record got CPR07, in the toolkit's stand-in for CP-IS."""

    EDD_MISSING = (
        "EDD-MISSING",
        "Unborn child plan without an expected delivery date",
    )
    END_BEFORE_START = ("END-BEFORE-START", "The plan ends before it starts")
    DELETE_BEFORE_END = ("DELETE-BEFORE-END", "The delete date is before the plan's end")


class ReferralDecision(
    CodedEnum,
    slug="referral-decision",
    label="Decision on a referral to children's social care",
    source="002_7a8cd4b31029ee68.txt L1119-1129, L1113",
):
    """The next steps a practice supervisor or manager decides within one working day of a
    referral (002 paragraph 167), or that it does not meet the threshold (paragraph 165)."""

    IMMEDIATE_PROTECTION = (
        "immediate-protection",
        "Immediate protection: urgent action required",
        "The child requires immediate protection and urgent action is required (002 L1125).",
    )
    SECTION_17 = (
        "s17-assessment",
        "Child in need: assessment under section 17",
        "The child is in need and should be assessed under section 17 of the Children Act "
        "1989 (002 L1126).",
    )
    SECTION_47 = (
        "s47-enquiries",
        "Section 47 enquiries",
        "Reasonable cause to suspect significant harm: enquiries are made and the child "
        "assessed under section 47 of the Children Act 1989 (002 L1127).",
    )
    IMMEDIATE_SERVICES = (
        "immediate-services",
        "Immediate services required",
        "Immediate services are required urgently by the child and family (002 L1128).",
    )
    SPECIALIST_ASSESSMENT = (
        "specialist-assessment",
        "Further specialist assessment",
        "Further specialist assessments are required to decide what further action to take "
        "(002 L1129).",
    )
    NO_FURTHER_ACTION = (
        "below-threshold",
        "Does not meet the statutory threshold",
        "The case does not meet the statutory threshold; the referrer is told why and of "
        "other sources of support (002 L1113).",
    )


class AssessmentType(
    CodedEnum,
    slug="assessment-type",
    label="Children's social care assessment",
    source="002_7a8cd4b31029ee68.txt L1126-1127, L1134",
):
    """The statutory assessment a referral leads to (002 paragraphs 167 and 169)."""

    SECTION_17 = (
        "s17",
        "Child in need assessment (section 17)",
        "Assessment of a child in need under section 17 of the Children Act 1989 (002 L1126).",
    )
    SECTION_47 = (
        "s47",
        "Child protection assessment (section 47)",
        "Assessment under section 47 of the Children Act 1989 (002 L1127).",
    )


class Section47Outcome(
    CodedEnum,
    slug="section-47-outcome",
    label="Outcome of section 47 enquiries",
    source="002_7a8cd4b31029ee68.txt L1781-1816",
):
    """What the lead practitioner decides after section 47 enquiries (002 chapter 3)."""

    NOT_SUBSTANTIATED = (
        "not-substantiated",
        "Concerns of significant harm not substantiated",
        "Concerns of significant harm are not substantiated; the reasons are recorded (002 L1789).",
    )
    NO_CONFERENCE = (
        "no-conference",
        "Not proceeding to a child protection conference",
        "Children's social care decides not to proceed with a child protection conference "
        "(002 L1785).",
    )
    CONFERENCE = (
        "initial-conference",
        "Substantiated: initial child protection conference convened",
        "Concerns of significant harm are substantiated and the child is judged to be "
        "suffering or likely to suffer significant harm: an initial child protection "
        "conference is convened (002 L1812-1816).",
    )


class SafeguardingTaskType(
    CodedEnum,
    slug="safeguarding-task",
    label="Children's social care task",
    source="002_7a8cd4b31029ee68.txt L1119, L1134, L1781",
):
    """What a toolkit Task records (Task.code): the referral decision, an assessment, the
    section 47 enquiries."""

    REFERRAL_DECISION = (
        "referral-decision",
        "Decision on a referral",
        "Deciding the response to a referral within one working day (002 L1119).",
    )
    ASSESSMENT = (
        "assessment",
        "Assessment",
        "An assessment, concluding within 45 working days of the referral (002 L1134).",
    )
    SECTION_47_ENQUIRIES = (
        "section-47-enquiries",
        "Section 47 enquiries and their outcome",
        "Enquiries under section 47 of the Children Act 1989 and their outcome (002 L1781).",
    )


#: Every code system of the toolkit, for generating FHIR CodeSystems and documentation.
ALL_CODE_SYSTEMS: tuple[type[CodedEnum], ...] = (
    PlanType,
    LacLegalBasis,
    PlanEndReason,
    AbuseCategory,
    CareSetting,
    PartyRole,
    Agency,
    HealthInformationSource,
    AttendanceSetting,
    AppointmentAttendance,
    StrategyOutcome,
    LongTermCondition,
    StandardTrigger,
    TravelScenario,
    Permanence,
    DestinationKind,
    FactorAnswer,
    TravelRiskFactor,
    TravelOutcome,
    SafeguardingPathway,
    LocateEffort,
    MeetingType,
    ContactPurpose,
    WithholdingReason,
    DocumentType,
    ReportSection,
    MessageEvent,
    TravelCommunication,
    TreatmentPlanActivity,
    CpisFileResponse,
    CpisRecordResponse,
    CpisRecordResponseDetail,
    ReferralDecision,
    AssessmentType,
    Section47Outcome,
    SafeguardingTaskType,
)
