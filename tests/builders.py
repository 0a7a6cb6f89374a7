"""Minimal valid artefact documents for tests to copy and break, one way at a time."""

from __future__ import annotations

import copy
from typing import Any

# Synthetic people; NHS numbers from the 9xx test block with valid check digits.
CHILD = {
    "nhs_number": "9434765919",
    "given_name": "Poppy",
    "family_name": "Ashworth",
    "date_of_birth": "2016-04-12",
}
MOTHER = {
    "nhs_number": "9000000009",
    "given_name": "Kerry",
    "family_name": "Ashworth",
    "date_of_birth": "1998-09-30",
}
LA = {
    "ods_code": "LA380",
    "name": "Example City Council",
    "emergency_duty_phone": "0113 496 0001",
    "office_hours_phone": "0113 496 0002",
}
PRACTITIONER = {"name": "Dr Imran Qureshi", "role": "Consultant paediatrician"}
SOCIAL_WORKER = {"name": "Dana Whitfield", "phone": "0113 496 0100"}

_DOCS: dict[str, dict[str, Any]] = {
    "child-protection-flag": {
        "kind": "child-protection-flag",
        "local_id": "CP-0001",
        "plan_type": "CPP",
        "subject": CHILD,
        "plan_start": "2026-02-03",
        "responsible_la": LA,
    },
    "strategy-discussion-health-report": {
        "kind": "strategy-discussion-health-report",
        "local_id": "SD-0001",
        "child": CHILD,
        "strategy_discussion_date": "2026-03-10",
        "submitted_by": PRACTITIONER,
        "appendix_a_received": False,
        "reason": "Bruising seen at school.",
        "health_concerns": {},
        "impact_on_child_health": "Unmanaged asthma.",
        "outcome": "s17",
    },
    "health-treatment-plan": {
        "kind": "health-treatment-plan",
        "local_id": "HTP-0001",
        "child": CHILD,
        "cp_plan": {"local_id": "CP-0001", "start_date": "2026-02-03"},
        "conditions": [{"name": "Type 1 diabetes", "category": "diabetes"}],
        "lead_health_practitioner": PRACTITIONER,
        "escalation_triggers": [
            {
                "trigger": "health-deterioration",
                "description": "Blood glucose above 20 mmol/L twice in a day",
                "action": "Take the child to the emergency department",
                "responsible": {"role": "parent-carer"},
            }
        ],
        "plan_date": "2026-02-20",
    },
    "travel-alert": {
        "kind": "travel-alert",
        "local_id": "TA-0001",
        "scenario": "planned",
        "child": CHILD,
        "complex_needs": "Gastrostomy fed; epilepsy.",
        "raised_on": "2026-06-01",
        "raised_by": PRACTITIONER,
        "destination": {"kind": "country", "country": "PK"},
    },
    "health-needs-checklist": {
        "kind": "health-needs-checklist",
        "local_id": "HNC-0001",
        "child": CHILD,
        "meeting_type": "core-group",
        "meeting_at": "2026-03-04T10:00:00+00:00",
        "chair": {"name": "Jo Marsh", "role": "Independent reviewing officer"},
        "diagnosed_needs": False,
        "requires_parental_compliance": False,
        "care_plan_available": True,
    },
    "referral": {
        "kind": "referral",
        "local_id": "REF-0001",
        "child": CHILD,
        "received_at": "2026-03-02T09:30:00+00:00",
        "received_by": {"ods_code": "LA380", "name": "Example City Council"},
        "reason": "Bruising seen at school.",
    },
    "assessment": {
        "kind": "assessment",
        "local_id": "ASM-0001",
        "child": CHILD,
        "assessment_type": "s17",
        "started_on": "2026-03-04",
        "local_authority": {"ods_code": "LA380", "name": "Example City Council"},
    },
    "section-47-outcome": {
        "kind": "section-47-outcome",
        "local_id": "S47-0001",
        "child": CHILD,
        "strategy_discussion_date": "2026-03-10",
        "outcome": "not-substantiated",
        "decided_on": "2026-03-20",
        "local_authority": {"ods_code": "LA380", "name": "Example City Council"},
    },
}


def doc(kind: str, /, **changes: Any) -> dict[str, Any]:
    """A fresh valid document of ``kind`` with top-level fields replaced (None deletes)."""
    result = copy.deepcopy(_DOCS[kind])
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


KINDS = tuple(_DOCS)
