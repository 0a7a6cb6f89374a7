"""Consistency rules the domain models enforce, each with an id and its guidance source.

A model's ``model_validator`` collects every broken rule in a ``Violations`` and raises them
together, so a user sees all the problems of a record at once, each at its own field. The
validation chain (``interop.validators``) turns them into issues carrying the rule id and
source. Time-dependent rules (timescales, "as of" checks) are not here: they belong to the
business-rules stage, which knows the date it checks against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic_core import PydanticCustomError

from interop.sources import CONVENTION, for_people

#: pydantic error type used for a bundle of rule violations
VIOLATIONS_ERROR = "domain_rules"


@dataclass(frozen=True)
class Rule:
    """A consistency rule: id, what it says, and where it comes from.

    ``lines`` cites the guidance by corpus file and line (for maintainers; checked by
    tests/validators/test_citations.py), or a national standard, or the toolkit's own convention;
    ``source`` is the same for people, naming each document as a reader knows it.
    """

    id: str
    text: str
    lines: str
    words: tuple[str, ...] = ()  # words the cited guidance lines contain (tested)

    @property
    def source(self) -> str:
        """Where the rule comes from, as a reader finds it."""
        return for_people(self.lines)


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "C01",
            "An NHS number has 10 digits and a valid modulus 11 check digit.",
            "NHS Data Dictionary, NHS NUMBER (modulus 11 check digit)",
        ),
        Rule("C02", "A period ends on or after the day it starts.", CONVENTION),
        Rule(
            "C03",
            "An unborn child protection plan is recorded against the expectant mother with an "
            "expected delivery date; only such a plan has one.",
            "Child Protection - Information Sharing (CP-IS), NHS England: an unborn child's plan "
            "is shared on the expectant mother's record",
        ),
        Rule(
            "C04",
            "A child on a child protection plan or looked after is born and under 18 on the "
            "plan's start date.",
            f"{CONVENTION}; 002_7a8cd4b31029ee68.txt L1957",
            words=("18 years",),
        ),
        Rule(
            "C05",
            "A strategy discussion that met the section 47 threshold names the social worker "
            "with a contact number.",
            f"{CONVENTION}; 001_0e453bf333ba50fc.txt L397, L401-405",
            words=("S47 threshold", "Social Worker"),
        ),
        Rule(
            "C06",
            "A health treatment plan names one lead health practitioner and at least one "
            "escalation trigger with an action and a responsible party.",
            "001_0e453bf333ba50fc.txt L187, L195-201",
            words=("lead health practitioner", "escalation"),
        ),
        Rule(
            "C07",
            "A travel alert with a significant-risk outcome records the referral to children's "
            "social care.",
            "000_f1e2ca509ebfd4fe.txt L50-56",
            words=("significant risk", "Social Care"),
        ),
        Rule(
            "C08",
            "A retrospective assessment (child already travelled) records when the child left.",
            "000_f1e2ca509ebfd4fe.txt L34, L59",
            words=("retrospective",),
        ),
        Rule(
            "C09",
            "A legal basis belongs to a looked after child's plan; a category of abuse to a "
            "child protection plan.",
            "NHS Data Dictionary, CHILD PROTECTION PLAN REASON CODE; Children Act 1989 (the "
            "legal basis of a looked after child's placement)",
        ),
        Rule(
            "C10",
            "A plan end reason goes with an end date; the reason 'other' is explained in text.",
            "002_7a8cd4b31029ee68.txt L1953-1957",
            words=("no longer",),
        ),
        Rule(
            "C11",
            "A CP-IS delete date is on or after the plan's end date.",
            "Child Protection - Information Sharing (CP-IS), NHS England: the delete dates of "
            "child protection, looked after and unborn plans",
        ),
        Rule(
            "C12",
            "Information withheld from the family records why.",
            "002_7a8cd4b31029ee68.txt L388, L1715",
            words=("information",),
        ),
        Rule(
            "C13",
            "A planned or completed journey has a destination; efforts to locate and closure "
            "belong to a child whose whereabouts are unknown, and closure needs the Head of "
            "Service's sign-off.",
            "000_f1e2ca509ebfd4fe.txt L40; 003_a5c554465bdd92c7.txt L31-44",
            words=("destination", "reasonable efforts", "Head of Service"),
        ),
        Rule(
            "C14",
            "A health needs checklist for a child with health needs but no health care plan "
            "available gives the medication, therapies, equipment and appointments and says "
            "whether the child is at risk of serious deterioration.",
            "001_0e453bf333ba50fc.txt L417-420",
            words=("health care plan",),
        ),
        Rule(
            "C15",
            "A received Appendix A form has the date it was received.",
            "001_0e453bf333ba50fc.txt L374",
            words=("Appendix A form",),
        ),
        Rule(
            "C16",
            "A destination in the UK names the local authority; one abroad names the country.",
            "000_f1e2ca509ebfd4fe.txt L40",
            words=("destination",),
        ),
        Rule(
            "C17",
            "A decision or outcome is recorded with the time it was made, and a time of "
            "decision only with a decision.",
            CONVENTION,
        ),
    )
}


#: Rules a model enforces by its shape (a required field, a minimum length) rather than by a
#: validator: an error at one of these places is reported with the rule's id.
#: (artefact kind, JSON path with list indexes as [*]) → rule id
STRUCTURAL_RULES: dict[tuple[str, str], str] = {
    ("health-treatment-plan", "$.lead_health_practitioner"): "C06",
    ("health-treatment-plan", "$.escalation_triggers"): "C06",
    ("health-treatment-plan", "$.escalation_triggers[*].action"): "C06",
    ("health-treatment-plan", "$.escalation_triggers[*].responsible"): "C06",
    ("travel-alert", "$.closure.head_of_service"): "C13",
}


@dataclass
class Violations:
    """Collects broken rules during one model validation, then raises them together."""

    found: list[dict[str, str]] = field(default_factory=list)

    def add(self, rule_id: str, path: str, message: str) -> None:
        """Record that ``rule_id`` is broken at ``path`` (dotted, relative to the model)."""
        if rule_id not in RULES:
            raise KeyError(f"unknown rule {rule_id}")
        self.found.append({"rule": rule_id, "path": path, "message": message})

    def check(self, condition: bool, rule_id: str, path: str, message: str) -> None:
        """Record a violation unless ``condition`` holds."""
        if not condition:
            self.add(rule_id, path, message)

    def raise_if_any(self) -> None:
        """Raise one pydantic error carrying every violation, if there are any."""
        if self.found:
            summary = "; ".join(f"{v['path']}: {v['message']}" for v in self.found)
            ctx: dict[str, Any] = {"summary": summary, "violations": list(self.found)}
            raise PydanticCustomError(VIOLATIONS_ERROR, "{summary}", ctx)
