"""Every safeguarding resource the toolkit emits carries the confidentiality label
(``meta.security`` restricted), added once in the shared mapping layer for every kind."""

from __future__ import annotations

from interop.artefact_json import parse_artefact
from interop.domain import ARTEFACT_KINDS
from interop.fixtures import artefact_fixtures
from interop.mappings.fhir import artefact_to_fhir, fhir_to_artefact
from interop.mappings.fhir_common import CONFIDENTIALITY, UNLABELLED


def test_every_safeguarding_resource_is_labelled_restricted() -> None:
    kinds = set()
    for fixture in artefact_fixtures(expect="valid"):
        artefact = parse_artefact(fixture.read_bytes()).artefact
        assert artefact is not None
        bundle = artefact_to_fhir(artefact)
        kinds.add(artefact.kind)
        labelled = 0
        for item in bundle["entry"]:
            resource = item["resource"]
            security = resource.get("meta", {}).get("security", [])
            if resource["resourceType"] in UNLABELLED:
                assert security == [], resource["resourceType"]
            else:
                assert security == [CONFIDENTIALITY], (fixture.name, resource["resourceType"])
                labelled += 1
        assert labelled >= 1, fixture.name
        # the label is metadata: reading the Bundle back gives the same artefact
        assert fhir_to_artefact(bundle) == artefact
    assert kinds == set(ARTEFACT_KINDS)
