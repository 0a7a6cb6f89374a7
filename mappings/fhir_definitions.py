"""Declarations of the toolkit's FHIR profiles and extensions, next to the mappings that use them.

Each ``mappings/fhir_<kind>.py`` exports ``PROFILES`` and ``EXTENSIONS`` built from these
classes. ``interop.mappings.fhir_conformance`` renders them as StructureDefinitions into
``profiles/`` (data, read by the validator), so a profile rule is written once, beside the code
that emits the resource it constrains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interop.codes import CodedEnum


@dataclass(frozen=True)
class ExtensionDef:
    """A toolkit extension: ``{CANONICAL_BASE}/StructureDefinition/ext-{name}``.

    ``value`` is the FHIR type of ``value[x]`` (``Coding``, ``date``, ``dateTime``,
    ``boolean``, ``string``, ``integer``, ``Reference``), or None for a complex extension whose
    ``children`` are its sub-extensions (their names are their bare urls).
    """

    name: str
    title: str
    contexts: tuple[str, ...]
    value: str | None
    code_system: type[CodedEnum] | None = None
    children: tuple[ExtensionDef, ...] = ()
    repeats: bool = False
    source: str = ""


@dataclass(frozen=True)
class ElementRule:
    """A constraint on one element of a profile (a differential element)."""

    path: str
    min: int | None = None
    max: str | None = None
    #: pattern[x] value as {"CodeableConcept": {...}} / {"Coding": {...}} / {"code": "..."}
    pattern: dict[str, Any] | None = None
    #: a required binding to the ValueSet of all codes of a toolkit code system
    binding: type[CodedEnum] | None = None
    short: str | None = None


@dataclass(frozen=True)
class SliceDef:
    """A slice of a repeating element, told apart by the value at ``discriminator``.

    For example the NHS number slice of ``Patient.identifier``: discriminator ``system``,
    pattern ``{"system": "https://fhir.nhs.uk/Id/nhs-number"}``.
    """

    path: str
    name: str
    discriminator: str
    pattern_type: str
    pattern: dict[str, Any]
    min: int = 0
    max: str = "1"


@dataclass(frozen=True)
class ProfileDef:
    """A toolkit profile of a resource type, derived from ``base`` (usually a UK Core profile)."""

    name: str
    resource_type: str
    base: str
    title: str
    description: str
    elements: tuple[ElementRule, ...] = ()
    #: (extension name, min, max) the profile allows on the resource
    extensions: tuple[tuple[str, int, str], ...] = field(default_factory=tuple)
    slices: tuple[SliceDef, ...] = ()
