"""The sandbox's CapabilityStatement (``GET [base]/metadata``): exactly what it supports."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from interop import __version__
from interop.transport.fhir_client import SEARCH_FORMS_EXTENSION

JSON = dict[str, Any]

SANDBOX_NOTICE = (
    "A local FHIR R4 sandbox for development and supplier testing of safeguarding-interop. "
    "It is NOT a production server: no authentication, no access control, no backups; "
    "never put real patient data in it. Use synthetic patients only (NHS numbers from the "
    "9000000000-9999999999 test block)."
)

#: the resource types of FHIR R4 (4.0.1)
R4_RESOURCE_TYPES = (  # noqa: SIM905 (as a list literal: 146 lines)
    "Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse "
    "AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement "
    "CarePlan CareTeam CatalogEntry ChargeItem ChargeItemDefinition Claim ClaimResponse "
    "ClinicalImpression CodeSystem Communication CommunicationRequest CompartmentDefinition "
    "Composition ConceptMap Condition Consent Contract Coverage CoverageEligibilityRequest "
    "CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest "
    "DeviceUseStatement DiagnosticReport DocumentManifest DocumentReference "
    "EffectEvidenceSynthesis Encounter Endpoint EnrollmentRequest EnrollmentResponse "
    "EpisodeOfCare EventDefinition Evidence EvidenceVariable ExampleScenario "
    "ExplanationOfBenefit FamilyMemberHistory Flag Goal GraphDefinition Group GuidanceResponse "
    "HealthcareService ImagingStudy Immunization ImmunizationEvaluation "
    "ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library Linkage List "
    "Location Measure MeasureReport Media Medication MedicationAdministration "
    "MedicationDispense MedicationKnowledge MedicationRequest MedicationStatement "
    "MedicinalProduct MedicinalProductAuthorization MedicinalProductContraindication "
    "MedicinalProductIndication MedicinalProductIngredient MedicinalProductInteraction "
    "MedicinalProductManufactured MedicinalProductPackaged MedicinalProductPharmaceutical "
    "MedicinalProductUndesirableEffect MessageDefinition MessageHeader MolecularSequence "
    "NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition "
    "OperationOutcome Organization OrganizationAffiliation Parameters Patient PaymentNotice "
    "PaymentReconciliation Person PlanDefinition Practitioner PractitionerRole Procedure "
    "Provenance Questionnaire QuestionnaireResponse RelatedPerson RequestGroup "
    "ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment "
    "RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen "
    "SpecimenDefinition StructureDefinition StructureMap Subscription Substance "
    "SubstanceNucleicAcid SubstancePolymer SubstanceProtein SubstanceReferenceInformation "
    "SubstanceSourceMaterial SubstanceSpecification SupplyDelivery SupplyRequest Task "
    "TerminologyCapabilities TestReport TestScript ValueSet VerificationResult "
    "VisionPrescription"
).split()

#: answers of operations, not things to keep
_NOT_STORED = ("OperationOutcome", "Parameters")
#: R4 types without an R4B model (the structure check cannot read them)
_NOT_IN_R4B = (
    "EffectEvidenceSynthesis",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "RiskEvidenceSynthesis",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
)

INTERACTIONS = ("read", "vread", "update", "delete", "history-instance", "create", "search-type")

_PARAM_DOCS = {
    "identifier": "token: system|value, value, system| or |value",
    "status": "token: the status code",
    "code": "token: system|code, code, system| or |code (any coding of code)",
    "category": "token: system|code, code, system| or |code (any coding of category)",
    "patient": (
        "reference: Patient/{id}; with :identifier, system|value matched against the "
        "reference's Reference.identifier only (https://fhir.nhs.uk/Id/nhs-number|{NHS "
        "number}); chained as patient.identifier, against the identifiers of the stored "
        "Patient the reference points to"
    ),
    "subject": "the same as patient",
}


_SEARCH_FORMS = [
    {"url": SEARCH_FORMS_EXTENSION, "valueCode": "identifier"},
    {"url": SEARCH_FORMS_EXTENSION, "valueCode": "chain"},
]


#: the R4 resource types the sandbox stores (those the structure check can read); a set
#: written out, so that checking a type imports no model (the tests check it against them)
SUPPORTED_TYPES = frozenset(R4_RESOURCE_TYPES) - frozenset(_NOT_STORED) - frozenset(_NOT_IN_R4B)


def supported_types() -> frozenset[str]:
    """The R4 resource types the sandbox stores."""
    return SUPPORTED_TYPES


def is_supported(resource_type: str) -> bool:
    """Whether the sandbox stores this resource type."""
    return resource_type in SUPPORTED_TYPES


#: the search parameters of each type beyond the common ones: ``identifier``, ``status``,
#: ``code`` and ``category`` where the type has that element, ``patient`` (and ``subject``)
#: where it has ``subject``, ``patient`` or ``for``, and AuditEvent. Written out rather than
#: read from the models: that imported every resource model on the first GET /metadata
#: (1-2 s, more on a busy machine). tests/sandbox check it against the models.
SEARCH_PARAM_TYPES: dict[str, frozenset[str]] = {
    "identifier": frozenset(
        (  # noqa: SIM905
            "Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment "
            "AppointmentResponse Basic BiologicallyDerivedProduct BodyStructure Bundle "
            "CarePlan CareTeam CatalogEntry ChargeItem ChargeItemDefinition Claim "
            "ClaimResponse ClinicalImpression CodeSystem Communication CommunicationRequest "
            "Composition ConceptMap Condition Consent Contract Coverage "
            "CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device "
            "DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement DiagnosticReport "
            "DocumentManifest DocumentReference Encounter Endpoint EnrollmentRequest "
            "EnrollmentResponse EpisodeOfCare EventDefinition Evidence EvidenceVariable "
            "ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal Group "
            "GuidanceResponse HealthcareService ImagingStudy Immunization "
            "ImmunizationEvaluation ImmunizationRecommendation InsurancePlan Invoice Library "
            "List Location Measure MeasureReport Media Medication MedicationAdministration "
            "MedicationDispense MedicationRequest MedicationStatement MessageDefinition "
            "MolecularSequence NutritionOrder Observation ObservationDefinition Organization "
            "OrganizationAffiliation Patient PaymentNotice PaymentReconciliation Person "
            "PlanDefinition Practitioner PractitionerRole Procedure Questionnaire "
            "QuestionnaireResponse RelatedPerson RequestGroup ResearchDefinition "
            "ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment Schedule "
            "ServiceRequest Slot Specimen SpecimenDefinition StructureDefinition StructureMap "
            "Substance SupplyDelivery SupplyRequest Task TestReport TestScript ValueSet "
            "VisionPrescription"
        ).split()
    ),
    "status": frozenset(
        (  # noqa: SIM905
            "Account ActivityDefinition Appointment BiologicallyDerivedProduct "
            "CapabilityStatement CarePlan CareTeam CatalogEntry ChargeItem "
            "ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem "
            "Communication CommunicationRequest CompartmentDefinition Composition ConceptMap "
            "Consent Contract Coverage CoverageEligibilityRequest CoverageEligibilityResponse "
            "DetectedIssue Device DeviceRequest DeviceUseStatement DiagnosticReport "
            "DocumentManifest DocumentReference Encounter Endpoint EnrollmentRequest "
            "EnrollmentResponse EpisodeOfCare EventDefinition Evidence EvidenceVariable "
            "ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag GraphDefinition "
            "GuidanceResponse ImagingStudy Immunization ImmunizationEvaluation "
            "ImplementationGuide InsurancePlan Invoice Library List Location Measure "
            "MeasureReport Media Medication MedicationAdministration MedicationDispense "
            "MedicationKnowledge MedicationRequest MedicationStatement MessageDefinition "
            "NamingSystem NutritionOrder Observation OperationDefinition PaymentNotice "
            "PaymentReconciliation PlanDefinition Procedure Questionnaire "
            "QuestionnaireResponse RequestGroup ResearchDefinition ResearchElementDefinition "
            "ResearchStudy ResearchSubject RiskAssessment SearchParameter ServiceRequest Slot "
            "Specimen StructureDefinition StructureMap Subscription Substance SupplyDelivery "
            "SupplyRequest Task TerminologyCapabilities TestReport TestScript ValueSet "
            "VerificationResult VisionPrescription"
        ).split()
    ),
    "code": frozenset(
        (  # noqa: SIM905
            "ActivityDefinition AllergyIntolerance Basic ChargeItem ChargeItemDefinition "
            "ClinicalImpression CompartmentDefinition Condition DetectedIssue "
            "DiagnosticReport Flag Group List Medication MedicationKnowledge Observation "
            "ObservationDefinition OperationDefinition OrganizationAffiliation "
            "PractitionerRole Procedure Questionnaire RequestGroup RiskAssessment "
            "SearchParameter ServiceRequest Substance Task"
        ).split()
    ),
    "category": frozenset(
        (  # noqa: SIM905
            "AdverseEvent AllergyIntolerance CarePlan CareTeam Communication "
            "CommunicationRequest Composition Condition Consent DeviceMetric DiagnosticReport "
            "DocumentReference EvidenceVariable Flag Goal HealthcareService "
            "MedicationAdministration MedicationDispense MedicationRequest "
            "MedicationStatement MessageDefinition Observation ObservationDefinition "
            "Procedure ResearchStudy ServiceRequest Substance SupplyRequest"
        ).split()
    ),
    "patient": frozenset(
        (  # noqa: SIM905
            "Account AdverseEvent AllergyIntolerance AuditEvent Basic BodyStructure CarePlan "
            "CareTeam ChargeItem Claim ClaimResponse ClinicalImpression Communication "
            "CommunicationRequest Composition Condition Consent Contract "
            "CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device "
            "DeviceRequest DeviceUseStatement DiagnosticReport DocumentManifest "
            "DocumentReference Encounter EpisodeOfCare ExplanationOfBenefit "
            "FamilyMemberHistory Flag Goal GuidanceResponse ImagingStudy Immunization "
            "ImmunizationEvaluation ImmunizationRecommendation Invoice List MeasureReport "
            "Media MedicationAdministration MedicationDispense MedicationRequest "
            "MedicationStatement MolecularSequence NutritionOrder Observation Procedure "
            "QuestionnaireResponse RelatedPerson RequestGroup RiskAssessment ServiceRequest "
            "Specimen SupplyDelivery Task VisionPrescription"
        ).split()
    ),
}


def _search_params(resource_type: str) -> list[JSON]:
    names = [
        n
        for n in ("identifier", "status", "code", "category")
        if resource_type in SEARCH_PARAM_TYPES[n]
    ]
    if resource_type in SEARCH_PARAM_TYPES["patient"]:
        names += ["patient", "subject"]
    kinds = {"patient": "reference", "subject": "reference"}
    return [
        {
            "name": n,
            "type": kinds.get(n, "token"),
            "documentation": _PARAM_DOCS[n],
            # the forms beyond patient=Patient/id, which R4 has no element for
            **({"extension": _SEARCH_FORMS} if n in ("patient", "subject") else {}),
        }
        for n in names
    ]


def _resource_entry(resource_type: str) -> JSON:
    return {
        "type": resource_type,
        "interaction": [{"code": code} for code in INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "not-supported",
        # R4 JSON has no empty arrays: a type with no search parameter has no searchParam
        **({"searchParam": params} if (params := _search_params(resource_type)) else {}),
    }


@cache
def _statement_template() -> JSON:
    rest = {
        "mode": "server",
        "documentation": (
            SANDBOX_NOTICE + " Every write is checked by the validation chain: an invalid "
            "resource is refused with 422 and an OperationOutcome listing every issue. Search "
            "results come in pages of _count entries (at most 1000), in the order resources "
            "were first created; follow the Bundle's 'next' link, which stays stable while "
            "data is added. _include=Type:element adds the resources a top-level Reference "
            "element points to. CP-IS shape: GET CareTeam?patient:identifier="
            "https://fhir.nhs.uk/Id/nhs-number|{NHS number} with the header "
            "IsUnscheduledAccessEvent: true (and NHSD-End-User-Organisation-ODS) records an "
            "AuditEvent for the local authority, found with GET AuditEvent?patient:identifier=...; "
            "false or no header records nothing. Search parameters the sandbox does not support "
            "are ignored and listed in an OperationOutcome entry (search.mode outcome) unless "
            "the request says Prefer: handling=strict (then 400). _summary=count gives the "
            "total only; _total=none leaves it out; _sort=_lastUpdated or -_lastUpdated."
        ),
        "security": {
            "cors": False,
            "description": "None: a local sandbox. It listens on 127.0.0.1 by default.",
        },
        "resource": [_resource_entry(t) for t in sorted(supported_types())],
        "interaction": [
            {"code": "transaction", "documentation": "all or nothing; urn:uuid fullUrls resolved"},
            {"code": "batch", "documentation": "each entry on its own"},
        ],
        "searchParam": [
            {"name": "_id", "type": "token"},
            {
                "name": "_lastUpdated",
                "type": "date",
                "documentation": "eq (default), gt, ge, lt, le with a date or dateTime",
            },
            {"name": "_count", "type": "number", "documentation": "page size, at most 1000"},
            {"name": "_summary", "type": "token", "documentation": "count (or false)"},
            {"name": "_total", "type": "token", "documentation": "none, estimate or accurate"},
            {"name": "_sort", "type": "token", "documentation": "_lastUpdated or -_lastUpdated"},
        ],
    }
    return {
        "resourceType": "CapabilityStatement",
        "id": "interop-fhir-sandbox",
        "name": "InteropFhirSandbox",
        "title": "safeguarding-interop FHIR sandbox (not for production)",
        "status": "active",
        "experimental": True,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "publisher": "safeguarding-interop",
        "description": SANDBOX_NOTICE,
        "kind": "instance",
        "software": {"name": "safeguarding-interop FHIR sandbox", "version": __version__},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }


def capability_statement(base_url: str) -> JSON:
    """The CapabilityStatement of the sandbox running at ``base_url``."""
    statement = dict(_statement_template())
    statement["implementation"] = {
        "description": "safeguarding-interop FHIR sandbox: not for production or real patient data",
        "url": base_url,
    }
    return statement
