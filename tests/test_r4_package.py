"""Every resource of HL7's own R4 package reads as R4: interop's chain over hl7.fhir.r4.examples.

The package (5,306 resources: examples, StructureDefinitions, ValueSets, CodeSystems,
SearchParameters, definition Bundles up to 35 MB) is fetched by the checksummed step of
``scripts/build_r4_index.py`` and cached outside git. Every resource goes through the whole
chain as ``interop validate`` runs it; the errors must be exactly those listed, with why the
content itself is wrong, in ``tests/data/r4-package-genuine-errors.json``. The files are split
into shards so that pytest-xdist spreads them over the workers.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from r4_package import r4_package

from interop.validators.chain import ValidationContext
from interop.validators.files import validate_file

GENUINE = json.loads(
    (Path(__file__).parent / "data" / "r4-package-genuine-errors.json").read_text("utf-8")
)
SHARDS = 8

pytestmark = pytest.mark.slow


def _files() -> list[Path]:
    return sorted(p for p in r4_package().glob("*.json") if p.name != "package.json")


def test_the_package_is_the_one_checked() -> None:
    files = _files()
    assert len(files) == 5306
    manifest = json.loads((r4_package() / "package.json").read_text("utf-8"))
    assert (manifest["name"], manifest["version"], manifest["license"]) == (
        "hl7.fhir.r4.examples",
        "4.0.1",
        "CC0-1.0",
    )


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_resource_gives_only_its_genuine_errors(shard: int) -> None:
    files = _files()[shard::SHARDS]
    names = {p.name for p in files}
    context = ValidationContext()
    found: Counter[tuple[str, str, str]] = Counter()
    kinds: Counter[str] = Counter()
    for path in files:
        report = validate_file(path, context)
        assert report.io_error is None, path
        kinds[report.kind.rpartition(" as ")[2]] += 1
        found.update((path.name, i.location, i.code.value) for i in report.errors)
    expected = Counter(
        (e["file"], e["location"], e["code"]) for e in GENUINE["errors"] if e["file"] in names
    )
    assert sorted((found - expected).elements()) == [], "errors R4 does not make"
    assert sorted((expected - found).elements()) == [], "genuine errors no longer found"
    # never an artefact, whatever elements it has (the largest Bundles entry by entry)
    assert set(kinds) <= {"FHIR JSON", "FHIR JSON, entry by entry"}
    assert kinds["FHIR JSON"] > 0


def test_every_genuine_error_has_a_reason() -> None:
    for entry in GENUINE["errors"]:
        assert len(entry["reason"]) > 20, entry
