"""The CodeSystem of validation rule ids that the validator's OperationOutcomes carry.

Its concepts are the guidance's rules (consistency C01-C17, business rules of every edition,
the NHS number checks), each with its text and source. The same ``details.coding`` also
carries profile element ids and invariant keys (such as ``bdl-9``), which are defined by
their StructureDefinitions, so the CodeSystem's content is ``fragment``. Written to
``profiles/`` by scripts/generate_data.py (validators may read the rule tables; mappings,
which generate the other conformance resources, may not).
"""

from __future__ import annotations

from typing import Any

from interop.codes import CANONICAL_BASE
from interop.domain.rules import RULES as CONSISTENCY
from interop.validators.business_rules import RULES as BUSINESS
from interop.validators.chain import NHS_RULE_SOURCE

RULE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/validation-rule"


def rule_catalogue() -> dict[str, tuple[str, str]]:
    """Every toolkit rule id with its text and its source as a reader finds it (for reports
    that must stand alone, such as the HTML report)."""
    return {
        concept["code"]: (concept["display"], concept["definition"].split("Source: ", 1)[-1])
        for concept in rule_code_system()["concept"]
    }


def rule_code_system() -> dict[str, Any]:
    """The CodeSystem resource (R4)."""
    concepts = [
        {"code": r.id, "display": r.text, "definition": f"Consistency rule. Source: {r.source}"}
        for r in CONSISTENCY.values()
    ]
    concepts += [
        {
            "code": r.id,
            "display": r.text,
            "definition": f"Business rule ({r.severity.value}). Source: {r.source}",
        }
        for r in BUSINESS.values()
    ]
    concepts += [
        {
            "code": "NHS",
            "display": "An NHS number has 10 digits and a valid modulus 11 check digit.",
            "definition": f"Identifier rule. Source: {NHS_RULE_SOURCE}",
        },
        {
            "code": "NHS-TEST",
            "display": "Outside production, an NHS number is from the test block.",
            "definition": "Identifier rule (warning). Source: the configuration's environment",
        },
    ]
    return {
        "resourceType": "CodeSystem",
        "id": "validation-rule",
        "url": RULE_SYSTEM,
        "version": "0.1.0",
        "name": "ValidationRule",
        "title": "Validation rules of safeguarding-interop",
        "status": "active",
        "publisher": "safeguarding-interop",
        "description": (
            "Ids of the rules the toolkit's validator reports in OperationOutcome.issue.details."
            " Profile element ids and FHIRPath invariant keys are used as codes too and are"
            " defined by their StructureDefinitions, hence content 'fragment'."
        ),
        "caseSensitive": True,
        "content": "fragment",
        "count": len(concepts),
        "concept": concepts,
    }
