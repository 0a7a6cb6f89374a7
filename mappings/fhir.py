"""Artefact ⇄ FHIR for every kind: dispatch to the kind's mapping, and recognise incoming FHIR.

Each kind's mapping is a module ``interop.mappings.fhir_<name>`` with ``to_fhir``,
``from_fhir``, ``PROFILES`` and ``EXTENSIONS`` (and, for the forms, ``questionnaire`` and
``from_questionnaire_response``). FHIR input is recognised by the toolkit profiles its resources
claim in ``meta.profile``, or a QuestionnaireResponse by its ``questionnaire``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from interop.domain import ARTEFACT_KINDS, ArtefactBase
from interop.issues import IssueCode, error
from interop.mappings.fhir_common import JSON, MappingError, profile_url, profiles_of

MODULES: dict[str, str] = {
    "child-protection-flag": "interop.mappings.fhir_child_protection_flag",
    "strategy-discussion-health-report": "interop.mappings.fhir_strategy_report",
    "health-treatment-plan": "interop.mappings.fhir_treatment_plan",
    "travel-alert": "interop.mappings.fhir_travel_alert",
    "health-needs-checklist": "interop.mappings.fhir_health_needs_checklist",
    "referral": "interop.mappings.fhir_referral",
    "assessment": "interop.mappings.fhir_assessment",
    "section-47-outcome": "interop.mappings.fhir_section47_outcome",
}
assert tuple(MODULES) == ARTEFACT_KINDS, "every artefact kind has a FHIR mapping"


def mapping(kind: str) -> ModuleType:
    """The mapping module of an artefact kind."""
    return importlib.import_module(MODULES[kind])


def modules() -> Iterator[tuple[str, ModuleType]]:
    """Every kind with its mapping module."""
    for kind in MODULES:
        yield kind, mapping(kind)


def artefact_to_fhir(artefact: ArtefactBase) -> JSON:
    """The artefact as its FHIR Bundle."""
    bundle: JSON = mapping(artefact.kind).to_fhir(artefact)
    return bundle


def _claimed_profiles(resource: JSON) -> set[str]:
    claimed = set(profiles_of(resource))
    entries = resource.get("entry")
    for item in entries if isinstance(entries, list) else []:
        claimed.update(profiles_of(item.get("resource") if isinstance(item, dict) else None))
    return claimed


def detect_kind(resource: JSON) -> str | None:
    """The artefact kind a FHIR Bundle or QuestionnaireResponse carries, if recognisable."""
    if resource.get("resourceType") == "QuestionnaireResponse":
        canonical = str(resource.get("questionnaire") or "").split("|")[0]
        for kind, module in modules():
            form = getattr(module, "questionnaire", None)
            if form is not None and form()["url"] == canonical:
                return kind
        return None
    claimed = _claimed_profiles(resource)
    for kind, module in modules():
        if any(profile_url(p.name) in claimed for p in module.PROFILES):
            return kind
    return None


def fhir_to_artefact(resource: JSON) -> ArtefactBase:
    """The artefact a FHIR Bundle (or a form's QuestionnaireResponse) carries."""
    kind = detect_kind(resource)
    if kind is None:
        raise MappingError(
            [
                error(
                    IssueCode.NOT_SUPPORTED,
                    str(resource.get("resourceType", "")),
                    "no toolkit profile in meta.profile (and no toolkit Questionnaire): "
                    "cannot tell which artefact this is",
                )
            ]
        )
    module = mapping(kind)
    try:
        if resource.get("resourceType") == "QuestionnaireResponse":
            artefact: Any = module.from_questionnaire_response(resource)
        else:
            artefact = module.from_fhir(resource)
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        # The mappings check the shape they read; this is the last guard against a shape no
        # check foresaw, so the user still gets a located message rather than a traceback.
        raise MappingError(
            [
                error(
                    IssueCode.STRUCTURE,
                    str(resource.get("resourceType", "")),
                    f"unexpected structure ({type(exc).__name__}: {exc}); "
                    "check the resource against its profile",
                )
            ]
        ) from None
    assert isinstance(artefact, ArtefactBase)
    return artefact
