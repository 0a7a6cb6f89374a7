"""Out-of-area travel alert for a child with complex medical needs, and the missing-child alert.

One shape serves three scenarios (``TravelScenario``): travel that is planned (000 L27-33),
travel that already happened and needs a retrospective assessment (000 L34, L59), and a family
whose whereabouts are unknown — the "lost to the system" case with its reasonable efforts to
locate and missing alerts to other local authorities (003 L31-44).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from interop.codes import (
    DestinationKind,
    FactorAnswer,
    LocateEffort,
    Permanence,
    SafeguardingPathway,
    TravelOutcome,
    TravelRiskFactor,
    TravelScenario,
)
from interop.domain.common import (
    ArtefactBase,
    ConditionEntry,
    DomainModel,
    LongText,
    Organisation,
    PersonIdentity,
    Practitioner,
    ShortText,
    SocialWorkerContact,
)
from interop.domain.rules import Violations


def _check_country(code: str) -> str:
    import pycountry  # imported here: only travel alerts need the country tables

    if pycountry.countries.get(alpha_2=code.upper()) is None:
        raise PydanticCustomError(
            "country_code", "'{code}' is not an ISO 3166-1 alpha-2 country code", {"code": code}
        )
    return code.upper()


CountryCode = Annotated[
    str,
    Field(min_length=2, max_length=2, examples=["PK", "FR"]),
    AfterValidator(_check_country),
]


class Destination(DomainModel):
    """Where the child is going: a UK local authority area or a country (000 L40)."""

    kind: DestinationKind
    local_authority: Organisation | None = Field(
        default=None, description="The receiving local authority, by ODS code (UK)"
    )
    country: CountryCode | None = Field(default=None, description="ISO 3166-1 alpha-2 (abroad)")
    place: ShortText | None = Field(default=None, description="Town or region, if known")

    @model_validator(mode="after")
    def _consistent(self) -> Destination:
        v = Violations()
        uk = self.kind is DestinationKind.UK_LOCAL_AUTHORITY
        v.check(
            not uk or self.local_authority is not None,
            "C16",
            "local_authority",
            "a UK destination names the receiving local authority",
        )
        v.check(
            uk or self.country is not None,
            "C16",
            "country",
            "a destination abroad names the country",
        )
        v.check(
            not uk or self.country in (None, "GB"),
            "C16",
            "country",
            "a UK local authority destination cannot be in another country",
        )
        v.raise_if_any()
        return self


class FactorFinding(DomainModel):
    """The finding for one risk-assessment factor."""

    factor: TravelRiskFactor
    answer: FactorAnswer
    notes: LongText | None = None


class RiskAssessment(DomainModel):
    """The lead clinician's risk assessment of the journey (000 L38-48)."""

    assessed_on: date
    assessed_by: Practitioner
    retrospective: bool = Field(
        default=False, description="Done after the child travelled (000 L34, L59)"
    )
    expected_time_away: ShortText | None = Field(
        default=None, description="Expected length of time out of area or abroad (000 L39)"
    )
    findings: list[FactorFinding] = Field(
        default_factory=list, description="One finding per factor of 000 L40-47"
    )
    transport_mode: ShortText | None = Field(default=None, description="000 L45")
    family_views_and_wishes: LongText | None = Field(default=None, description="000 L47")
    summary: LongText | None = Field(default=None, description="Overview of the findings")

    @model_validator(mode="after")
    def _one_finding_per_factor(self) -> RiskAssessment:
        v = Violations()
        seen: set[TravelRiskFactor] = set()
        for i, finding in enumerate(self.findings):
            v.check(
                finding.factor not in seen,
                "C13",
                f"findings[{i}].factor",
                f"the factor '{finding.factor.value}' is assessed twice",
            )
            seen.add(finding.factor)
        v.raise_if_any()
        return self

    def missing_factors(self) -> list[TravelRiskFactor]:
        """The factors of the protocol this assessment has not recorded."""
        recorded = {f.factor for f in self.findings}
        return [factor for factor in TravelRiskFactor if factor not in recorded]


class ActionTaken(DomainModel):
    """An action already taken: discussion with the family, liaison, a referral (000 L54)."""

    taken_on: date
    description: LongText
    by: ShortText | None = None


class SocialCareReferral(DomainModel):
    """Immediate contact with children's social care / the Front Door (000 L32, L50-56)."""

    made_on: date
    to: Organisation
    risks: LongText = Field(description="Nature of the risks, including impact on health")
    guidance_referenced: bool = Field(
        description="Whether the referral referenced the travel protocol (000 L56)"
    )
    reference: ShortText | None = Field(default=None, description="Social care's reference")


class LocateAttempt(DomainModel):
    """One reasonable effort to locate the family (003 L35-42)."""

    effort: LocateEffort
    done_on: date
    outcome: LongText | None = None


class CaseClosure(DomainModel):
    """Closing a case after efforts to locate failed: Head of Service sign-off (003 L44)."""

    closed_on: date
    head_of_service: ShortText = Field(description="Head of Service who signed off the closure")
    reason: LongText


class TravelAlert(ArtefactBase):
    """An out-of-area travel alert, retrospective assessment or missing-child alert."""

    kind: Literal["travel-alert"] = "travel-alert"
    scenario: TravelScenario
    child: PersonIdentity
    complex_needs: LongText = Field(description="The child's complex medical needs (000 L23)")
    conditions: list[ConditionEntry] = Field(
        default_factory=list,
        max_length=50,
        description="The conditions and clinical findings behind the complex medical needs, "
        "each a name or a name with its SNOMED CT concept id (000 L23)",
    )
    raised_on: date
    raised_by: Practitioner = Field(description="Practitioner of the agency that became aware")
    lead_clinician: Practitioner | None = Field(
        default=None, description="The child's lead clinician, who assesses risk (000 L27)"
    )
    destination: Destination | None = None
    permanence: Permanence = Permanence.UNKNOWN
    departure_date: date | None = None
    return_date: date | None = None
    risk_assessment: RiskAssessment | None = None
    outcome: TravelOutcome = TravelOutcome.PENDING
    family_following_health_advice: bool | None = Field(default=None, description="000 L50")
    actions_taken: list[ActionTaken] = Field(default_factory=list, max_length=200)
    social_care_referral: SocialCareReferral | None = None
    allocated_social_worker: SocialWorkerContact | None = None
    social_worker_contacted_on: date | None = Field(default=None, description="000 L33, L58")
    strategy_discussion_requested: bool = Field(default=False, description="000 L33, L58")
    safeguarding_pathways: list[SafeguardingPathway] = Field(
        default_factory=list, description="FGM, forced marriage, unregulated treatment abroad"
    )
    last_known_area: ShortText | None = Field(
        default=None, description="Whereabouts unknown: last known area (never a full address)"
    )
    locate_attempts: list[LocateAttempt] = Field(default_factory=list, max_length=100)
    missing_alert_recipients: list[Organisation] = Field(
        default_factory=list, description="Local authorities sent a missing alert (003 L42)"
    )
    closure: CaseClosure | None = None

    def summary(self) -> str:
        """Scenario, destination, outcome; the child masked."""
        child = f"child {self.child.masked()}"
        if self.scenario is TravelScenario.WHEREABOUTS_UNKNOWN:
            state = "closed" if self.closure else f"outcome {self.outcome.value}"
            return (
                f"whereabouts unknown (last known: {self.last_known_area or 'not recorded'}), "
                f"{len(self.locate_attempts)} effort(s) to locate, {state}; {child}"
            )
        where = "?"
        if self.destination is not None:
            where = self.destination.country or (
                self.destination.local_authority.name if self.destination.local_authority else "?"
            )
        return f"{self.scenario.value} to {where}, outcome {self.outcome.value}; {child}"

    @model_validator(mode="after")
    def _consistent(self) -> TravelAlert:
        v = Violations()
        missing = self.scenario is TravelScenario.WHEREABOUTS_UNKNOWN
        v.check(
            missing or self.destination is not None,
            "C13",
            "destination",
            f"a '{self.scenario.value}' alert needs the destination",
        )
        v.check(
            missing or not self.locate_attempts,
            "C13",
            "locate_attempts",
            "efforts to locate belong to a 'whereabouts-unknown' alert",
        )
        v.check(
            missing or self.closure is None,
            "C13",
            "closure",
            "closure after efforts to locate belongs to a 'whereabouts-unknown' alert",
        )
        if self.closure is not None and missing:
            v.check(
                bool(self.locate_attempts),
                "C13",
                "closure",
                "a case is closed only after reasonable efforts to locate the family (003 L44)",
            )
        v.check(
            self.scenario is not TravelScenario.TRAVELLED or self.departure_date is not None,
            "C08",
            "departure_date",
            "a retrospective assessment records when the child travelled",
        )
        if self.risk_assessment is not None:
            travelled = self.scenario is TravelScenario.TRAVELLED
            v.check(
                self.risk_assessment.retrospective == travelled,
                "C08",
                "risk_assessment.retrospective",
                "the child has already travelled: the assessment is retrospective"
                if travelled
                else "only an assessment after the child travelled is retrospective",
            )
        v.check(
            self.outcome is not TravelOutcome.SIGNIFICANT_RISK
            or self.social_care_referral is not None,
            "C07",
            "social_care_referral",
            "a significant-risk outcome needs the referral to children's social care",
        )
        if self.departure_date and self.return_date:
            v.check(
                self.return_date >= self.departure_date,
                "C02",
                "return_date",
                "the return date is before the departure date",
            )
        v.raise_if_any()
        return self
