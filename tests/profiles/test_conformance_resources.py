"""profiles/ and the FHIR twins: generated from the code, complete, and valid R4."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from r4_package import NEEDS_UKCORE

from interop.codes import CANONICAL_BASE
from interop.fhir import check_structure, read_fhir_json
from interop.fixtures import load_manifest

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
UKCORE = ROOT.parent / "shared" / "ukcore"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_data", ROOT / "scripts/generate_data.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def resources() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(PROFILES.glob("*.json"))
        if p.name not in ("package.json", "r4-core-invariants.json")
    }


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for child in value.values():
            yield from walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from walk(child)


def twin_bundles() -> list[dict[str, Any]]:
    return [
        read_fhir_json(f.read_bytes())
        for f in load_manifest()
        if f.format == "fhir-json" and f.twin_of
    ]


def test_generated_files_have_not_drifted() -> None:
    generator = _generator()
    expected = generator.expected_files()
    drifted = [
        str(p.relative_to(ROOT))
        for p, data in expected.items()
        if not p.exists() or p.read_bytes() != data
    ]
    assert not drifted, f"run .venv/bin/python scripts/generate_data.py; drifted: {drifted}"
    assert not generator.stale_files(expected)


@pytest.mark.parametrize("name", sorted(resources()))
def test_every_conformance_resource_is_valid_r4(name: str) -> None:
    assert check_structure(resources()[name]) == []


def test_every_profile_extension_and_code_used_is_defined() -> None:
    defined = {r["url"]: r for r in resources().values()}
    for bundle in twin_bundles():
        for node in walk(bundle):
            if not isinstance(node, dict):
                continue
            for url in node.get("meta", {}).get("profile", []) if "meta" in node else []:
                if url.startswith(CANONICAL_BASE):
                    assert url in defined, url
            url = node.get("url")
            if isinstance(url, str) and url.startswith(CANONICAL_BASE + "/StructureDefinition/"):
                assert url in defined, url
            system = node.get("system")
            if isinstance(system, str) and system.startswith(CANONICAL_BASE + "/CodeSystem/"):
                codes = {c["code"] for c in defined[system]["concept"]}
                assert node.get("code") in codes, (system, node.get("code"))


def test_every_resource_names_a_profile() -> None:
    for bundle in twin_bundles():
        assert bundle["meta"]["profile"]
        for entry in bundle["entry"]:
            assert entry["resource"]["meta"]["profile"], entry["resource"]["resourceType"]


def test_questionnaires_for_the_three_proformas() -> None:
    urls = {r["url"] for r in resources().values() if r["resourceType"] == "Questionnaire"}
    for form in (
        "strategy-discussion-health-report",
        "health-needs-checklist",
        "travel-risk-assessment",
    ):
        assert f"{CANONICAL_BASE}/Questionnaire/{form}" in urls


def test_package_manifest() -> None:
    manifest = json.loads((PROFILES / "package.json").read_text(encoding="utf-8"))
    assert manifest["canonical"] == CANONICAL_BASE
    assert manifest["fhirVersions"] == ["4.0.1"]


def test_profiles_ship_in_the_package() -> None:
    from importlib.resources import files

    shipped = {p.name for p in files("interop.profiles").iterdir()}
    assert "package.json" in shipped
    assert "StructureDefinition-ChildProtectionFlag.json" in shipped


@NEEDS_UKCORE
def test_uk_core_bases_exist() -> None:
    available = {p.stem for p in (UKCORE / "structuredefinitions").iterdir()}
    for resource in resources().values():
        base = resource.get("baseDefinition", "")
        if base.startswith("https://fhir.hl7.org.uk/StructureDefinition/"):
            assert base.rsplit("/", 1)[1] in available, base
        elif resource.get("kind") == "resource":
            # derived from UK Core wherever UK Core profiles the type
            assert f"UKCore-{resource['type']}" not in available, resource["name"]
