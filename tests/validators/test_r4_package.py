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

from interop.fhir.r4spec import R4Spec
from interop.fhir.structure import model_class
from interop.fhir.xml_writer import json_to_xml
from interop.validators.chain import ValidationContext
from interop.validators.files import validate_bytes, validate_file

GENUINE = json.loads(
    (Path(__file__).parents[1] / "data" / "r4-package-genuine-errors.json").read_text("utf-8")
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


#: the resources R4 has and the R4B models do not (removed or remade in R4B)
R4_ONLY = frozenset(
    {
        "EffectEvidenceSynthesis",
        "RiskEvidenceSynthesis",
        "SubstanceSpecification",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
    }
    | {t for t in R4Spec.load().types if t.startswith("MedicinalProduct")}
)
#: Bundles this large are read entry by entry as JSON; as XML they wait for the streamed reader
XML_BELOW = ValidationContext().stream_above


def test_the_r4_only_resources_are_the_ones_r4b_lacks() -> None:
    spec = R4Spec.load()
    lacking = {t for t in spec.types if spec.is_resource(t) and model_class(t) is None}
    assert lacking == R4_ONLY


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_resource_as_xml_gives_the_same_errors_as_json(shard: int) -> None:
    """Each resource written as XML by the toolkit's writer and validated as XML: exactly the
    genuine errors of its JSON, so XML is read by R4 (order, types, choices, primitives) as
    JSON is, R4-only resources included."""
    files = [p for p in _files()[shard::SHARDS] if p.stat().st_size < XML_BELOW]
    names = {p.name for p in files}
    context = ValidationContext()
    found: Counter[tuple[str, str, str]] = Counter()
    kinds: Counter[str] = Counter()
    types: set[str] = set()
    for path in files:
        resource = json.loads(path.read_bytes())
        types.add(resource["resourceType"])
        report = validate_bytes(json_to_xml(resource), path.with_suffix(".xml"), context)
        kinds[report.kind.rpartition(" as ")[2]] += 1
        found.update((path.name, i.location, i.code.value) for i in report.errors)
    expected = Counter(
        (e["file"], e["location"], e["code"]) for e in GENUINE["errors"] if e["file"] in names
    )
    assert sorted((found - expected).elements()) == [], "errors the JSON does not have"
    assert sorted((expected - found).elements()) == [], "genuine errors of the JSON not found"
    assert set(kinds) == {"FHIR XML"}


#: resources R4B kept by name but remade, so that R4's instances are not valid R4B
REMADE = frozenset({"Evidence", "EvidenceVariable"})


def test_every_r4_only_resource_of_the_package_reads_as_xml() -> None:
    """Every instance of an R4-only (or R4B-remade) type reads back from the toolkit's XML to
    exactly its JSON (the narrative aside: its XHTML may be re-serialised, and is compared
    by errors above), and has no structural error."""
    from interop.fhir import check_structure, read_fhir_xml

    met: set[str] = set()
    for path in _files():
        if path.name.split("-")[0] not in R4_ONLY | REMADE:
            continue
        resource = json.loads(path.read_bytes())
        resource.pop("text", None)
        assert read_fhir_xml(json_to_xml(resource)) == resource, path.name
        assert check_structure(resource) == [], path.name
        met.add(resource["resourceType"])
    present = {p.name.split("-")[0] for p in _files()} & (R4_ONLY | REMADE)
    assert met == present
    assert {"EffectEvidenceSynthesis", "RiskEvidenceSynthesis", "Evidence"} <= met
    assert len({t for t in met if t.startswith("MedicinalProduct")}) == 10


def test_every_genuine_error_has_a_reason() -> None:
    for entry in GENUINE["errors"]:
        assert len(entry["reason"]) > 20, entry
