"""The FHIR profiles and extensions of the Strategy Discussion Health Report's document Bundle
(001 Appendix 2), declared as data for the conformance resources in ``profiles/``."""

from __future__ import annotations

from typing import Any

from interop.codes import (
    Agency,
    AppointmentAttendance,
    AttendanceSetting,
    CodedEnum,
    DocumentType,
    HealthInformationSource,
    ReportSection,
    StrategyOutcome,
)
from interop.mappings import fhir_appointments as appointments
from interop.mappings.fhir_common import UKCORE
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef

_SECTION = ("Composition.section",)

EXTENSIONS: tuple[ExtensionDef, ...] = (
    ExtensionDef(
        "appendix-a-received",
        "Appendix A form received",
        _SECTION,
        "boolean",
        source="001_0e453bf333ba50fc.txt L374",
    ),
    ExtensionDef(
        "appendix-a-received-on",
        "Date the Appendix A form was received",
        _SECTION,
        "date",
        source="001_0e453bf333ba50fc.txt L374",
    ),
    ExtensionDef(
        "strategy-reason",
        "Reason for the strategy discussion",
        _SECTION,
        "string",
        source="001_0e453bf333ba50fc.txt L376",
    ),
    ExtensionDef(
        "participating-agency",
        "An agency taking part in the strategy discussion",
        _SECTION,
        "Coding",
        Agency,
        repeats=True,
        source=Agency.source,
    ),
    ExtensionDef(
        "child-health-needs",
        "The child's health needs",
        _SECTION,
        "string",
        source="001_0e453bf333ba50fc.txt L382",
    ),
    ExtensionDef(
        "proportionate-information",
        "Child and adult information proportionate to the incident",
        _SECTION,
        "string",
        source="001_0e453bf333ba50fc.txt L382",
    ),
    ExtensionDef(
        "missed-appointment",
        "An appointment missed, or the child was not brought to",
        _SECTION,
        None,
        children=(
            ExtensionDef("appointmentDate", "Appointment date", (), "date"),
            ExtensionDef("service", "Service", (), "string"),
            ExtensionDef("attendance", "How it was not kept", (), "Coding", AppointmentAttendance),
        ),
        repeats=True,
        source=AppointmentAttendance.source,
    ),
    ExtensionDef(
        "impact-on-child-health",
        "Impact or potential impact of the abuse and neglect on the child's health",
        _SECTION,
        "string",
        source="001_0e453bf333ba50fc.txt L387",
    ),
    ExtensionDef(
        "medical-assessment-advice",
        "Advice on medical assessments",
        _SECTION,
        "string",
        source="002_7a8cd4b31029ee68.txt L1722",
    ),
    ExtensionDef(
        "information-source",
        "A health service whose information was coordinated",
        _SECTION,
        "Coding",
        HealthInformationSource,
        repeats=True,
        source=HealthInformationSource.source,
    ),
    ExtensionDef(
        "strategy-outcome",
        "Outcome of the strategy discussion",
        _SECTION,
        "Coding",
        StrategyOutcome,
        source=StrategyOutcome.source,
    ),
    ExtensionDef(
        "social-worker",
        "The allocated social worker: name, contact number, email, organisation",
        _SECTION,
        None,
        children=(
            ExtensionDef("name", "Name", (), "string"),
            ExtensionDef("phone", "Contact number", (), "string"),
            ExtensionDef("email", "Email address", (), "string"),
            ExtensionDef("organisationOds", "Organisation ODS code", (), "string"),
            ExtensionDef("organisationName", "Organisation name", (), "string"),
        ),
        source="001_0e453bf333ba50fc.txt L401-405",
    ),
)

_SECTION_EXTENSIONS = tuple((e.name, 0, "*" if e.repeats else "1") for e in EXTENSIONS)


def _fixed(code: CodedEnum) -> dict[str, Any]:
    return {"CodeableConcept": {"coding": [{"system": type(code).system(), "code": code.value}]}}


PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "StrategyDiscussionHealthReportDocument",
        "Bundle",
        UKCORE + "UKCore-Bundle",
        "Strategy discussion health report (document)",
        "A document Bundle: the StrategyDiscussionHealthReport Composition first, then the "
        "resources it references.",
        elements=(
            ElementRule("Bundle.identifier", min=1),
            ElementRule("Bundle.type", pattern={"code": "document"}),
            ElementRule("Bundle.timestamp", min=1),
        ),
    ),
    ProfileDef(
        "StrategyDiscussionHealthReport",
        "Composition",
        UKCORE + "UKCore-Composition",
        "Strategy discussion health report",
        "Health information for sharing at a strategy discussion (001 Appendix 2): one section "
        "per part of the proforma, each with a narrative and its content as extensions or "
        "entries.",
        elements=(
            ElementRule("Composition.identifier", min=1, short="The sender's report id"),
            ElementRule("Composition.status", pattern={"code": "final"}),
            ElementRule(
                "Composition.type", pattern=_fixed(DocumentType.STRATEGY_DISCUSSION_HEALTH_REPORT)
            ),
            ElementRule("Composition.subject", min=1, short="The child"),
            ElementRule(
                "Composition.author", min=1, max="1", short="The submitting practitioner's role"
            ),
            ElementRule("Composition.event", min=1, max="1", short="The strategy discussion"),
            ElementRule("Composition.event.period.start", min=1),
            ElementRule("Composition.section", min=4),
            ElementRule("Composition.section.code", min=1, binding=ReportSection),
            ElementRule("Composition.section.text", min=1),
        ),
        extensions=(("information-sharing", 0, "1"), *_SECTION_EXTENSIONS),
    ),
    ProfileDef(
        "StrategyDiscussionLongTermCondition",
        "Condition",
        UKCORE + "UKCore-Condition",
        "Long-term condition (strategy discussion health report)",
        "A long-term medical condition of the child, named as on the proforma and, when "
        "coded, with its SNOMED CT concept (Condition.code.coding).",
        elements=(
            ElementRule("Condition.code", min=1),
            ElementRule("Condition.code.text", min=1, short="The condition as written"),
            ElementRule("Condition.subject", min=1),
        ),
    ),
    ProfileDef(
        "StrategyDiscussionAttendance",
        "Encounter",
        UKCORE + "UKCore-Encounter",
        "Recent A&E or out-of-hours attendance",
        "An unscheduled attendance: the setting as type, the day as period.start, the "
        "organisation as serviceProvider, the reason as reasonCode.text.",
        elements=(
            ElementRule("Encounter.status", pattern={"code": "finished"}),
            ElementRule("Encounter.type", min=1, binding=AttendanceSetting),
            ElementRule("Encounter.subject", min=1),
            ElementRule("Encounter.period.start", min=1),
        ),
    ),
    ProfileDef(
        "StrategyDiscussionCarePlanEngagement",
        "Observation",
        UKCORE + "UKCore-Observation",
        "Parents or carers engaging with the health care plan",
        "Do the parents/carers appear to be engaging with the health care plan (001 L384): "
        "valueBoolean.",
        elements=(
            ElementRule("Observation.code", pattern=_fixed(ReportSection.ENGAGEMENT)),
            ElementRule("Observation.subject", min=1),
            ElementRule("Observation.value[x]", min=1, short="valueBoolean"),
        ),
    ),
    ProfileDef(
        "StrategyDiscussionActionPlan",
        "CarePlan",
        UKCORE + "UKCore-CarePlan",
        "Strategy discussion action plan",
        "The action plan: one activity per action; who as a display-only performer, by when "
        "as scheduledPeriod.end.",
        elements=(
            ElementRule("CarePlan.activity", min=1),
            ElementRule("CarePlan.activity.detail", min=1),
            ElementRule("CarePlan.activity.detail.description", min=1),
        ),
    ),
    ProfileDef(
        "StrategyDiscussionServiceTask",
        "Task",
        UKCORE + "UKCore-Task",
        "Service to task about the strategy discussion",
        "A service the child is open to, asked to be advised of the strategy discussion "
        "(001 L407): the service as owner.display.",
        elements=(
            ElementRule("Task.for", min=1),
            ElementRule("Task.owner", min=1),
            ElementRule("Task.owner.display", min=1, short="The service, as named"),
        ),
    ),
)

# The missed appointments' Appointment (its extension sits on the Appointment, not a section).
EXTENSIONS = (*EXTENSIONS, appointments.EXTENSION)
PROFILES = (*PROFILES, appointments.PROFILE)
