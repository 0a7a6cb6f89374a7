"""Throughput of the whole validation chain against bare fhir.resources R4B parsing.

The corpus: every valid artefact fixture, re-identified N times (a new local id and a new
test-block NHS number per copy, so no two Bundles are alike), mapped to FHIR Bundles. Both
measurements run in the same process on the same Bundles:

- bare parse: ``fhir.resources.R4B.bundle.Bundle.model_validate`` of each Bundle;
- whole chain: ``interop.validators.chain.validate_resource`` (structure, terminology,
  profiles, FHIRPath invariants, NHS numbers, mapping back to the artefact and the guidance's
  rules) with the toolkit's profiles loaded once.

Run: ``.venv/bin/python benchmarks/validation_chain.py [--copies 32]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from typing import Any


def _nhs_numbers(count: int) -> list[str]:
    from nhs_number import REGION_SYNTHETIC, generate

    return list(generate(for_region=REGION_SYNTHETIC, quantity=count))


def _replace_nhs(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {k: _replace_nhs(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_nhs(v, old, new) for v in node]
    return new if node == old else node


def corpus(copies: int) -> list[dict[str, Any]]:
    """Distinct FHIR Bundles: each valid fixture artefact ``copies`` times, re-identified."""
    from interop.fixtures import artefact_fixtures
    from interop.mappings.fhir import artefact_to_fhir

    originals = [json.loads(f.read_bytes()) for f in artefact_fixtures(expect="valid")]
    numbers = iter(_nhs_numbers(copies * len(originals) + 10))
    from interop.artefact_json import parse_artefact

    bundles = []
    for index in range(copies):
        for document in originals:
            changed = copy.deepcopy(document)
            changed["local_id"] = f"{document['local_id']}-bench-{index}"
            old = _find_child_nhs(changed)
            if old is not None:
                changed = _replace_nhs(changed, old, next(numbers))
            loaded = parse_artefact(json.dumps(changed))
            if loaded.artefact is None or not loaded.ok:
                raise SystemExit(f"re-identified fixture is invalid: {loaded.issues[:2]}")
            bundles.append(json.loads(json.dumps(artefact_to_fhir(loaded.artefact))))
    return bundles


def _find_child_nhs(document: dict[str, Any]) -> str | None:
    for key in ("subject", "child"):
        person = document.get(key)
        if isinstance(person, dict) and isinstance(person.get("nhs_number"), str):
            return str(person["nhs_number"])
    return None


def _resources(bundles: list[dict[str, Any]]) -> int:
    return sum(1 + len(b.get("entry", [])) for b in bundles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=32)
    args = parser.parse_args()
    from fhir.resources.R4B.bundle import Bundle

    from interop.validators.chain import ValidationContext, validate_resource

    bundles = corpus(args.copies)
    resources = _resources(bundles)
    context = ValidationContext()
    # warm up: load the registry and compile profiles and invariants once, as a long run would
    validate_resource(copy.deepcopy(bundles[0]), context)
    Bundle.model_validate(bundles[0])

    started = time.perf_counter()
    for bundle in bundles:
        Bundle.model_validate(bundle)
    parse = time.perf_counter() - started

    started = time.perf_counter()
    errors = 0
    for bundle in bundles:
        result = validate_resource(bundle, context)
        errors += sum(i.is_error for i in result.issues)
    chain = time.perf_counter() - started

    print(f"corpus: {len(bundles):,} Bundles, {resources:,} resources (Bundles counted)")
    print(f"bare R4B parse: {resources / parse:,.0f} resources/s ({parse:.2f} s)")
    print(f"whole chain:    {resources / chain:,.0f} resources/s ({chain:.2f} s), {errors} errors")
    print(f"ratio chain / bare parse: {chain / parse:.2f} (target <= 3)")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
