"""Check (or refresh) profiles/r4-core-invariants.json against the official R4 definitions.

The data file was transcribed from code generated from the hl7.fhir.r4.core 4.0.1
StructureDefinitions (its ``provenance`` says how). Given that package unpacked (a folder of
``StructureDefinition-*.json`` files, or ``profiles-resources.json`` / ``profiles-types.json``
bundles from the specification's definitions download), this script lists every difference for
the types the data file covers: a constraint whose expression, human text, severity or path
differs, one the package has that the file neither includes nor excludes, and one the file has
that the package does not.

    .venv/bin/python scripts/extract_core_invariants.py path/to/hl7.fhir.r4.core/package
    .venv/bin/python scripts/extract_core_invariants.py path/to/package --write

``--write`` takes expressions, human texts, severities and paths from the package for the
constraints the file already lists (their ``evaluation``/``bestPractice`` flags are kept) and
adds the package's missing ones for those types. Exit code 0: no difference; 1: differences.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "profiles" / "r4-core-invariants.json"
FHIR_BASE = "http://hl7.org/fhir/StructureDefinition/"
#: checked in Python on every element, never listed per type
ELEMENT_WIDE = {"ele-1", "ext-1"}
JSON = dict[str, Any]


def definitions(folder: Path) -> Iterator[JSON]:
    """Every core StructureDefinition in a package folder (files or definition bundles)."""
    for path in sorted(folder.rglob("*.json")):
        try:
            resource = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(resource, dict):
            continue
        found = [resource] + [e.get("resource", {}) for e in resource.get("entry", [])]
        for item in found:
            if item.get("resourceType") == "StructureDefinition" and str(
                item.get("url", "")
            ).startswith(FHIR_BASE):
                yield item


def own_constraints(definition: JSON) -> Iterator[JSON]:
    """The constraints a definition introduces itself (not those its base type passes on)."""
    url = definition["url"]
    elements = (definition.get("snapshot") or definition.get("differential") or {}).get(
        "element", []
    )
    for element in elements:
        for raw in element.get("constraint", []):
            if raw.get("key") in ELEMENT_WIDE or raw.get("source", url) != url:
                continue
            yield {
                "key": raw["key"],
                "severity": raw.get("severity", "error"),
                "human": raw.get("human", ""),
                "expression": raw.get("expression", ""),
                "path": element["path"],
                "source": url,
            }


def compare(data: JSON, package: dict[str, JSON]) -> list[str]:
    """The differences, one line each."""
    covered = {c["source"] for c in data["constraints"]}
    excluded = {x["key"] for x in data["excluded"]}
    listed = {c["key"]: c for c in data["constraints"]}
    lines = []
    for key, official in sorted(package.items()):
        mine = listed.get(key)
        if mine is None:
            if official["source"] in covered and key not in excluded:
                lines.append(f"missing: {key} at {official['path']}: {official['expression']}")
            continue
        for name in ("expression", "human", "severity", "path"):
            if mine[name] != official[name]:
                lines.append(f"differs: {key} {name}: {mine[name]!r} != {official[name]!r}")
    for key in sorted(set(listed) - set(package)):
        lines.append(f"not in the package: {key}")
    return lines


def refreshed(data: JSON, package: dict[str, JSON]) -> JSON:
    covered = {c["source"] for c in data["constraints"]}
    excluded = {x["key"] for x in data["excluded"]}
    constraints = []
    for c in data["constraints"]:
        official = package.get(c["key"])
        constraints.append({**c, **official, "foundIn": "hl7.fhir.r4.core"} if official else c)
    listed = {c["key"] for c in constraints}
    for key, official in sorted(package.items()):
        if key not in listed and key not in excluded and official["source"] in covered:
            constraints.append({**official, "foundIn": "hl7.fhir.r4.core"})
    return {**data, "constraints": constraints}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="folder of the hl7.fhir.r4.core package")
    parser.add_argument("--write", action="store_true", help="refresh the data file")
    args = parser.parse_args()
    if not args.package.is_dir():
        print(f"not a folder: {args.package}", file=sys.stderr)
        return 2
    package = {c["key"]: c for d in definitions(args.package) for c in own_constraints(d)}
    data = json.loads(DATA.read_text(encoding="utf-8"))
    differences = compare(data, package)
    for line in differences:
        print(line)
    if args.write and differences:
        text = json.dumps(refreshed(data, package), indent=2, ensure_ascii=False) + "\n"
        DATA.write_text(text, encoding="utf-8")
        print(f"written: {DATA.relative_to(ROOT)}")
    print(f"{len(package)} constraints in the package, {len(differences)} difference(s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
