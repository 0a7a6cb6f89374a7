"""The shipped fixtures: each behaves as the manifest says, and they hold no real person."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interop.domain import ARTEFACT_KINDS, ARTEFACT_MODELS
from interop.fixtures import Fixture, fixtures_root, load_manifest
from interop.identifiers import check_nhs_number
from interop.validators.conformance import check_fixture

MANIFEST = load_manifest()
ARTEFACTS = [f for f in MANIFEST if f.format == "artefact-json"]
ROOT = Path(str(fixtures_root()))


@pytest.mark.parametrize("fixture", MANIFEST, ids=lambda f: f.path)
def test_fixture_behaves_as_the_manifest_says(fixture: Fixture) -> None:
    outcome = check_fixture(fixture)
    assert outcome.as_expected, outcome.difference()
    if fixture.expect == "invalid":
        assert fixture.issues, "an invalid fixture lists the issues it must give"


def test_every_fixture_file_is_in_the_manifest() -> None:
    listed = {f.path for f in MANIFEST}
    on_disk = {
        p.relative_to(ROOT).as_posix()
        for folder in ("artefacts", "fhir", "cpis")
        for p in ROOT.joinpath(folder).rglob("*")
        if p.is_file()
    }
    assert on_disk == listed


def test_every_valid_artefact_has_fhir_json_and_xml_twins() -> None:
    twins = {(f.twin_of, f.format) for f in MANIFEST if f.twin_of}
    for fixture in ARTEFACTS:
        if fixture.expect == "valid":
            assert (fixture.path, "fhir-json") in twins
            assert (fixture.path, "fhir-xml") in twins


@pytest.mark.parametrize("kind", ARTEFACT_KINDS)
def test_each_kind_has_enough_fixtures(kind: str) -> None:
    counts = Counter(f.expect for f in ARTEFACTS if f.kind == kind)
    assert counts["valid"] >= 3
    assert counts["invalid"] >= 3


def _fields_used(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield f"{prefix}{key}"
            yield from _fields_used(child, f"{prefix}{key}.")
    elif isinstance(value, list):
        for child in value:
            yield from _fields_used(child, prefix)


@pytest.mark.parametrize("kind", ARTEFACT_KINDS)
def test_valid_fixtures_use_every_top_level_field(kind: str) -> None:
    used: set[str] = set()
    for fixture in ARTEFACTS:
        if fixture.kind == kind and fixture.expect == "valid":
            used.update(_fields_used(json.loads(fixture.read_bytes())))
    missing = set(ARTEFACT_MODELS[kind].model_fields) - used
    assert not missing, f"no valid {kind} fixture uses {sorted(missing)}"


def _values_of(value: Any, keys: tuple[str, ...]) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            if key in keys and isinstance(child, str):
                yield child
            else:
                yield from _values_of(child, keys)
    elif isinstance(value, list):
        for child in value:
            yield from _values_of(child, keys)


def _nhs_numbers(value: Any) -> Iterator[str]:
    return _values_of(value, ("nhs_number",))


def test_fixtures_use_only_test_block_nhs_numbers() -> None:
    for fixture in ARTEFACTS:
        for number in _nhs_numbers(json.loads(fixture.read_bytes())):
            digits = re.sub(r"\D", "", number)
            assert digits.startswith("9"), f"{fixture.path}: NHS number outside the test block"
            if fixture.expect == "valid":
                assert check_nhs_number(number)


def test_contact_details_are_fictional() -> None:
    """Phones are Ofcom drama numbers; email domains are reserved example domains."""
    # the FHIR twins are generated from these artefacts and checked to read back as them
    drama = re.compile(
        r"^(\+44 ?|0)(1\d\d ?496|1632 ?960|20 ?7946|28 ?9649 ?6|29 ?2018|7700 ?900|191 ?498 ?0)"
    )
    for fixture in ARTEFACTS:
        text = fixture.read_bytes().decode("utf-8")
        for email in re.findall(r'"[^"@\s]+@([^"\s]+)"', text):
            assert re.search(r"(^|\.)example\.(org|com|net|nhs\.uk|gov\.uk)$", email), (
                fixture.path,
                email,
            )
        document = json.loads(text)
        for phone in _values_of(document, ("phone", "emergency_duty_phone", "office_hours_phone")):
            assert drama.match(phone), (fixture.path, "phone is not an Ofcom drama number")


def test_demo_checks_every_fixture(tmp_path: Path) -> None:
    """The demo's conformance step, as it prints and reports it (the whole demo, with its
    servers, is tests/test_demo.py)."""
    from contextlib import ExitStack

    from interop.cli.demo_cmd import demo_toolkit
    from interop.sandbox.demo.report import render_report
    from interop.sandbox.demo.run import print_step
    from interop.sandbox.demo.steps import Journey, conformance

    step = conformance(Journey(demo_toolkit(), tmp_path, ExitStack()))
    step.name = "Conformance fixtures"
    printed: list[str] = []
    print_step(printed.append, 2, 11, step)
    output = "\n".join(printed)
    report = render_report([step], seconds=step.seconds, state=None)
    assert step.ok, step.details
    assert f"{len(MANIFEST)} of {len(MANIFEST)} fixtures behave as the manifest says" in output
    for kind in ARTEFACT_KINDS:
        assert kind in output
    invalid = [f for f in MANIFEST if f.expect == "invalid"]
    assert len(step.rejected) == len(invalid), "each invalid fixture is reported with its problem"
    for fixture in ARTEFACTS:
        for number in _nhs_numbers(json.loads(fixture.read_bytes())):
            assert number not in output, "the demo prints NHS numbers masked"
            assert number not in report, "the demo reports NHS numbers masked"
