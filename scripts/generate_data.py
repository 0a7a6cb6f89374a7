"""Regenerate the data the code declares: profiles/ and the FHIR twins of the fixtures.

    .venv/bin/python scripts/generate_data.py          # write
    .venv/bin/python scripts/generate_data.py --check  # exit 1 and list what drifted

profiles/*.json come from ``interop.mappings.fhir_conformance.render_all()``. Every valid
artefact fixture gets a FHIR JSON and a FHIR XML twin under fixtures/fhir/<kind>/, listed in
fixtures/manifest.json with ``twin_of`` naming the artefact it must read back as.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from interop.artefact_json import parse_artefact
from interop.fhir import to_xml
from interop.mappings.fhir import artefact_to_fhir
from interop.mappings.fhir_conformance import render_all

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
FIXTURES = ROOT / "fixtures"
TWIN_FORMATS = {"fhir-json": ".json", "fhir-xml": ".xml"}


def dumps(value: object) -> bytes:
    """The project's JSON file style: 2-space indent, UTF-8, final newline."""
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def expected_files() -> dict[Path, bytes]:
    """Every generated file and its content."""
    files = {PROFILES / name: dumps(resource) for name, resource in render_all().items()}
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    entries = [e for e in manifest["fixtures"] if e["format"] == "artefact-json"]
    twins = []
    for item in entries:
        if item["expect"] != "valid":
            continue
        artefact = parse_artefact((FIXTURES / item["path"]).read_bytes()).artefact
        assert artefact is not None, item["path"]
        bundle = artefact_to_fhir(artefact)
        stem = Path(item["path"]).stem
        for fmt, suffix in TWIN_FORMATS.items():
            relative = f"fhir/{item['kind']}/{stem}{suffix}"
            files[FIXTURES / relative] = dumps(bundle) if fmt == "fhir-json" else to_xml(bundle)
            twins.append(
                {
                    "path": relative,
                    "kind": item["kind"],
                    "format": fmt,
                    "expect": "valid",
                    "description": f"FHIR twin of {item['path']}",
                    "twin_of": item["path"],
                }
            )
    manifest["fixtures"] = sorted(entries + twins, key=lambda e: e["path"])
    files[FIXTURES / "manifest.json"] = dumps(manifest)
    return files


def stale_files(expected: dict[Path, bytes]) -> list[Path]:
    """Generated-looking files no longer produced."""
    candidates = list(PROFILES.glob("*.json")) + list((FIXTURES / "fhir").rglob("*.*"))
    return sorted(p for p in candidates if p not in expected)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    args = parser.parse_args()
    expected = expected_files()
    drifted = [p for p, data in expected.items() if not p.exists() or p.read_bytes() != data]
    stale = stale_files(expected)
    if args.check:
        for path in drifted:
            print(f"out of date: {path.relative_to(ROOT)}")
        for path in stale:
            print(f"no longer generated: {path.relative_to(ROOT)}")
        if drifted or stale:
            print("run: .venv/bin/python scripts/generate_data.py")
        return 1 if drifted or stale else 0
    for path in drifted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(expected[path])
    for path in stale:
        path.unlink()
    print(f"{len(drifted)} file(s) written, {len(stale)} removed, {len(expected)} generated in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
