"""The toolkit's FHIR conformance resources, rendered from what the code declares.

Profiles and extensions come from each mapping's ``PROFILES`` / ``EXTENSIONS``; CodeSystems
and ValueSets from ``interop.codes``; Questionnaires from the forms' item tables
(``interop.mappings.forms``). ``render_all()`` returns them keyed by their path under
``profiles/``; ``scripts/generate_data.py`` writes them, and a test fails when the files drift
from the code.
"""

from __future__ import annotations

import re
from typing import Any

from interop import __version__
from interop.codes import ALL_CODE_SYSTEMS, CANONICAL_BASE, CodedEnum
from interop.mappings.fhir import modules
from interop.mappings.fhir_common import (
    COMMON_EXTENSIONS,
    COMMON_PROFILES,
    JSON,
    ext_url,
    profile_url,
    value_set_url,
)
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef, SliceDef
from interop.mappings.forms import all_forms
from interop.sources import for_people

FHIR_VERSION = "4.0.1"
CORE = "http://hl7.org/fhir/StructureDefinition/"
PUBLISHER = "safeguarding-interop"
UKCORE_PACKAGE = ("UKCore.R4.STU.02.00.00", "2.0.0")


def pascal(name: str) -> str:
    """'plan-end-reason' → 'PlanEndReason' (a computable FHIR name)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_\s]+", name) if part)


def _header(resource_type: str, resource_id: str, url: str, name: str, title: str) -> JSON:
    return {
        "resourceType": resource_type,
        "id": resource_id,
        "url": url,
        "version": __version__,
        "name": name,
        "title": title,
        "status": "active",
        "publisher": PUBLISHER,
    }


def code_system(system: type[CodedEnum]) -> JSON:
    """A CodeSystem with every code, its display and definition."""
    return {
        **_header("CodeSystem", system.slug, system.system(), pascal(system.slug), system.label),
        "description": f"{system.__doc__ or system.label} Source: {system.source}.",
        "caseSensitive": True,
        "valueSet": value_set_url(system),
        "content": "complete",
        "count": len(system),
        "concept": [
            {"code": m.value, "display": m.display, "definition": m.definition} for m in system
        ],
    }


def value_set(system: type[CodedEnum]) -> JSON:
    """The ValueSet of a code system's codes (enumerated when the system is national)."""
    include: JSON = {"system": system.system()}
    if system.external_system:
        include["concept"] = [{"code": m.value, "display": m.display} for m in system]
    return {
        **_header(
            "ValueSet", system.slug, value_set_url(system), pascal(system.slug), system.label
        ),
        "description": f"All codes of {system.label}.",
        "compose": {"include": [include]},
    }


def _element(rule: ElementRule) -> JSON:
    element: JSON = {"id": rule.path, "path": rule.path}
    if rule.short:
        element["short"] = rule.short
    if rule.min is not None:
        element["min"] = rule.min
    if rule.max is not None:
        element["max"] = rule.max
    if rule.pattern:
        ((type_name, value),) = rule.pattern.items()
        element[f"pattern{type_name[:1].upper()}{type_name[1:]}"] = value
    if rule.binding is not None:
        element["binding"] = {"strength": "required", "valueSet": value_set_url(rule.binding)}
    return element


def _slices(slices: tuple[SliceDef, ...]) -> list[JSON]:
    elements: list[JSON] = []
    sliced: set[str] = set()
    for piece in slices:
        if piece.path not in sliced:
            sliced.add(piece.path)
            elements.append(
                {
                    "id": piece.path,
                    "path": piece.path,
                    "slicing": {
                        "discriminator": [{"type": "value", "path": piece.discriminator}],
                        "rules": "open",
                    },
                }
            )
        elements.append(
            {
                "id": f"{piece.path}:{piece.name}",
                "path": piece.path,
                "sliceName": piece.name,
                "min": piece.min,
                "max": piece.max,
                f"pattern{piece.pattern_type}": piece.pattern,
            }
        )
    return elements


def profile(definition: ProfileDef) -> JSON:
    """A StructureDefinition (differential) for a toolkit profile."""
    root = definition.resource_type
    elements: list[JSON] = [{"id": root, "path": root, "short": definition.title}]
    if definition.extensions:
        elements.append(
            {
                "id": f"{root}.extension",
                "path": f"{root}.extension",
                "slicing": {
                    "discriminator": [{"type": "value", "path": "url"}],
                    "rules": "open",
                },
            }
        )
        for name, low, high in definition.extensions:
            elements.append(
                {
                    "id": f"{root}.extension:{pascal(name)}",
                    "path": f"{root}.extension",
                    "sliceName": pascal(name),
                    "min": low,
                    "max": high,
                    "type": [{"code": "Extension", "profile": [ext_url(name)]}],
                }
            )
    elements.extend(_element(rule) for rule in definition.elements)
    elements.extend(_slices(definition.slices))
    return {
        **_header(
            "StructureDefinition",
            definition.name,
            profile_url(definition.name),
            definition.name,
            definition.title,
        ),
        "description": definition.description,
        "fhirVersion": FHIR_VERSION,
        "kind": "resource",
        "abstract": False,
        "type": definition.resource_type,
        "baseDefinition": definition.base,
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def _value_elements(prefix: str, definition: ExtensionDef) -> list[JSON]:
    element: JSON = {
        "id": f"{prefix}.value[x]",
        "path": f"{prefix}.value[x]",
        "min": 1,
        "type": [{"code": definition.value}],
    }
    if definition.code_system is not None:
        element["binding"] = {
            "strength": "required",
            "valueSet": value_set_url(definition.code_system),
        }
    return [element]


def extension(definition: ExtensionDef) -> JSON:
    """A StructureDefinition for a toolkit extension (simple or complex)."""
    url = ext_url(definition.name)
    elements: list[JSON] = [
        {
            "id": "Extension",
            "path": "Extension",
            "short": definition.title,
            "definition": definition.title
            + (f" (source: {definition.source})" if definition.source else ""),
            "max": "*" if definition.repeats else "1",
        }
    ]
    if definition.value is None:
        elements.append(
            {
                "id": "Extension.extension",
                "path": "Extension.extension",
                "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "closed"},
            }
        )
        for child in definition.children:
            prefix = f"Extension.extension:{child.name}"
            elements += [
                {
                    "id": prefix,
                    "path": "Extension.extension",
                    "sliceName": child.name,
                    "short": child.title,
                    "min": 0,
                    "max": "*" if child.repeats else "1",
                },
                {"id": f"{prefix}.url", "path": "Extension.extension.url", "fixedUri": child.name},
                *(
                    {**e, "path": "Extension.extension.value[x]"}
                    for e in _value_elements(prefix, child)
                ),
            ]
        elements += [
            {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
            {"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"},
        ]
    else:
        elements += [
            {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
            {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
            *_value_elements("Extension", definition),
        ]
    return {
        **_header(
            "StructureDefinition",
            f"ext-{definition.name}",
            url,
            pascal(definition.name),
            definition.title,
        ),
        "description": definition.title,
        "fhirVersion": FHIR_VERSION,
        "kind": "complex-type",
        "abstract": False,
        "context": [
            {"type": "element", "expression": c} for c in definition.contexts or ("Element",)
        ],
        "type": "Extension",
        "baseDefinition": CORE + "Extension",
        "derivation": "constraint",
        "differential": {"element": elements},
    }


#: extensions of the OperationOutcomes the validator writes (interop validate --format json)
REPORT_EXTENSIONS: tuple[ExtensionDef, ...] = (
    ExtensionDef(
        "source-file",
        "The file an OperationOutcome is about, as the validator was given it",
        ("OperationOutcome",),
        "string",
    ),
    ExtensionDef(
        "read-as",
        "What the validator read the file as (an artefact kind and format, CP-IS, HL7 v2)",
        ("OperationOutcome",),
        "string",
    ),
    ExtensionDef(
        "rule-source",
        "Where the rule an issue enforces is written (guidance file and lines, or a profile)",
        ("OperationOutcome.issue",),
        "string",
    ),
)


def _all_definitions() -> tuple[list[ProfileDef], list[ExtensionDef], list[JSON]]:
    profiles: list[ProfileDef] = list(COMMON_PROFILES)
    extensions: dict[str, ExtensionDef] = {
        e.name: e for e in (*COMMON_EXTENSIONS, *REPORT_EXTENSIONS)
    }
    for _, module in modules():
        profiles.extend(module.PROFILES)
        for definition in module.EXTENSIONS:
            known = extensions.setdefault(definition.name, definition)
            if known != definition:
                merged = tuple(dict.fromkeys(known.contexts + definition.contexts))
                extensions[definition.name] = ExtensionDef(**{**known.__dict__, "contexts": merged})
    questionnaires = [form.questionnaire() for form in all_forms()]
    return profiles, list(extensions.values()), questionnaires


def capability_statement(profiles: list[ProfileDef]) -> JSON:
    """What a server exchanging the toolkit's artefacts supports (the sandbox server's too)."""
    by_type: dict[str, list[str]] = {}
    for definition in profiles:
        by_type.setdefault(definition.resource_type, []).append(profile_url(definition.name))
    for shared in ("Patient", "Organization", "Practitioner", "PractitionerRole", "Bundle"):
        by_type.setdefault(shared, [])
    interactions = ("read", "vread", "create", "update", "search-type")
    return {
        **_header(
            "CapabilityStatement",
            "safeguarding-interop-server",
            f"{CANONICAL_BASE}/CapabilityStatement/safeguarding-interop-server",
            "SafeguardingInteropServer",
            "safeguarding-interop FHIR server",
        ),
        "date": "2026-11-23",
        "description": "Resources and profiles a server exchanging the toolkit's artefacts "
        "supports.",
        "kind": "requirements",
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "xml"],
        "rest": [
            {
                "mode": "server",
                "resource": [
                    {
                        "type": resource_type,
                        "supportedProfile": sorted(by_type[resource_type]) or None,
                        "interaction": [{"code": code} for code in interactions],
                        "searchParam": [
                            {
                                "name": "_lastUpdated",
                                "type": "date",
                            }
                        ],
                    }
                    for resource_type in sorted(by_type)
                ],
                "interaction": [{"code": "transaction"}],
            }
        ],
    }


def package_manifest() -> JSON:
    """The FHIR package manifest (package.json) of the toolkit's conformance resources."""
    return {
        "name": "safeguarding-interop.fhir",
        "version": __version__,
        "canonical": CANONICAL_BASE,
        "url": CANONICAL_BASE,
        "title": "safeguarding-interop FHIR conformance resources",
        "description": "Profiles, extensions, code systems, value sets and questionnaires for "
        "children's safeguarding artefacts exchanged between the NHS and local authorities.",
        "type": "fhir.ig",
        "fhirVersions": [FHIR_VERSION],
        "dependencies": {"hl7.fhir.r4.core": FHIR_VERSION, UKCORE_PACKAGE[0]: UKCORE_PACKAGE[1]},
        "author": PUBLISHER,
        "license": "MIT",
    }


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def render_all() -> dict[str, JSON]:
    """Every conformance resource, keyed by its path under ``profiles/``."""
    profiles, extensions, questionnaires = _all_definitions()
    files: dict[str, JSON] = {"package.json": package_manifest()}
    for system in ALL_CODE_SYSTEMS:
        if not system.external_system:
            files[f"CodeSystem-{system.slug}.json"] = code_system(system)
        files[f"ValueSet-{system.slug}.json"] = value_set(system)
    for definition in profiles:
        files[f"StructureDefinition-{definition.name}.json"] = profile(definition)
    for ext_definition in extensions:
        files[f"StructureDefinition-ext-{ext_definition.name}.json"] = extension(ext_definition)
    for form in questionnaires:
        files[f"Questionnaire-{form['id']}.json"] = form
    files["CapabilityStatement-safeguarding-interop-server.json"] = capability_statement(profiles)
    return {path: _for_people(_without_none(resource)) for path, resource in sorted(files.items())}


def _for_people(value: Any) -> Any:
    # the definitions cite the guidance by corpus file and line; whoever reads the published
    # resources has the documents, not the files: every text names the document instead
    if isinstance(value, str):
        return for_people(value)
    if isinstance(value, dict):
        return {k: _for_people(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_people(v) for v in value]
    return value
