"""Build profiles/r4/r4-index.json, the R4 (4.0.1) base specification the structure stage reads.

The source is HL7's own FHIR package ``hl7.fhir.r4.examples`` 4.0.1 (CC0-1.0), which carries
the 4.0.1 StructureDefinitions with snapshots, ValueSets and CodeSystems (the registry has no
``hl7.fhir.r4.core`` 4.0.1 on npm). The tarball is fetched with ``npm pack`` into a cache
outside git and its SHA-256 checked before anything is read::

    .venv/bin/python scripts/build_r4_index.py            # fetch (cached), check, write
    .venv/bin/python scripts/build_r4_index.py --check    # exit 1 when the shipped file differs

The index is derived, not copied: for every type the specification defines (resources,
datatypes, primitives; ``derivation = specialization``) the snapshot's elements in order, each
as ``[path, min, max, types, binding]``; each primitive type's regex; and the code lists of the
ValueSets that required and extensible bindings name, expanded from the package's CodeSystems
(a ValueSet that cannot be listed offline, such as one with a SNOMED CT filter, is recorded as
open with the reason). 13 MB of snapshots become well under 1 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "profiles" / "r4" / "r4-index.json"
PACKAGE = "hl7.fhir.r4.examples"
VERSION = "4.0.1"
TARBALL = f"{PACKAGE}-{VERSION}.tgz"
#: the tarball npm serves for hl7.fhir.r4.examples@4.0.1 (checked before it is read)
SHA256 = "dce87f1b5b9341867033f7d1f544fa1b5232503f6d62813887ac6b8a8b6cb682"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
JSON = dict[str, Any]


def cache_dir() -> Path:
    """Where the package is kept: $INTEROP_CACHE, else ~/.cache/safeguarding-interop."""
    base = os.environ.get("INTEROP_CACHE") or Path.home() / ".cache" / "safeguarding-interop"
    return Path(base)


def fetch_package(cache: Path | None = None) -> Path:
    """The checked tarball of hl7.fhir.r4.examples 4.0.1, fetched with npm when not cached."""
    folder = cache or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / TARBALL
    if not tarball.exists():
        # fetched beside the cache and renamed in one step: parallel test workers never see
        # (or write over) half a file
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            subprocess.run(
                ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", scratch],
                check=True,
                capture_output=True,
            )
            os.replace(Path(scratch) / TARBALL, tarball)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{tarball}: SHA-256 {digest} is not the expected {SHA256}")
    return tarball


def unpacked(cache: Path | None = None) -> Path:
    """The package's folder (``.../package``), unpacked once beside the checked tarball."""
    tarball = fetch_package(cache)
    target = tarball.parent / f"{PACKAGE}-{VERSION}"
    if not (target / "package" / "package.json").exists():
        scratch = Path(tempfile.mkdtemp(dir=tarball.parent))
        with tarfile.open(tarball) as archive:
            archive.extractall(scratch, filter="data")
        try:
            scratch.rename(target)  # atomic: another worker may have won the race
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)
    return target / "package"


def resources(folder: Path, prefix: str) -> Iterator[JSON]:
    """The package's resources whose file name starts with ``prefix``."""
    for path in sorted(folder.glob(f"{prefix}-*.json")):
        yield json.loads(path.read_text(encoding="utf-8"))


def _type_codes(element: JSON) -> list[str]:
    codes: list[str] = []
    for entry in element.get("type") or ():
        code = entry["code"]
        if code.startswith("http://hl7.org/fhirpath/System."):
            # the snapshots' way of saying "a primitive's value" or "an id attribute"
            named = [x["valueUrl"] for x in entry.get("extension", ()) if x["url"] == FHIR_TYPE_EXT]
            code = named[0] if named else "string"
        codes.append(code)
    if "contentReference" in element:
        codes.append(element["contentReference"])  # "#Questionnaire.item": its children
    return codes


def _regex(definition: JSON) -> str | None:
    for element in definition["snapshot"]["element"]:
        if element["path"].endswith(".value"):
            for entry in element.get("type") or ():
                for extension in entry.get("extension", ()):
                    if extension["url"] == REGEX_EXT:
                        return str(extension["valueString"])
    return None


def _concepts(concepts: Any) -> Iterator[str]:
    for concept in concepts or ():
        yield concept["code"]
        yield from _concepts(concept.get("concept"))


def _descendants(concepts: Any, wanted: str, inside: bool = False) -> Iterator[str]:
    for concept in concepts or ():
        here = inside or concept["code"] == wanted
        if here:
            yield concept["code"]
        yield from _descendants(concept.get("concept"), wanted, here)


def expand(url: str, value_sets: dict[str, JSON], systems: dict[str, JSON], depth: int = 0) -> JSON:
    """``{"codes": {system: [codes]}, "open": reason or None}`` for one ValueSet."""
    definition = value_sets.get(url.partition("|")[0])
    if definition is None or depth > 8:
        return {"codes": {}, "open": f"ValueSet {url} is not in the R4 package"}
    codes: dict[str, set[str]] = {}
    open_reasons: list[str] = []
    for include in definition.get("compose", {}).get("include", ()):
        system = include.get("system")
        for nested in include.get("valueSet", ()):
            part = expand(nested, value_sets, systems, depth + 1)
            for found_system, found in part["codes"].items():
                codes.setdefault(found_system, set()).update(found)
            if part["open"]:
                open_reasons.append(part["open"])
        if system is None:
            continue
        if "concept" in include:
            codes.setdefault(system, set()).update(c["code"] for c in include["concept"])
            continue
        code_system = systems.get(system)
        if code_system is None or code_system.get("content") != "complete":
            open_reasons.append(f"{system} cannot be listed offline")
            continue
        filters = include.get("filter", ())
        if not filters:
            codes.setdefault(system, set()).update(_concepts(code_system.get("concept")))
        elif all(f["property"] == "concept" and f["op"] == "is-a" for f in filters):
            for item in filters:
                found = _descendants(code_system.get("concept"), item["value"])
                codes.setdefault(system, set()).update(found)
        else:
            open_reasons.append(f"a filter on {system} cannot be listed offline")
    if definition.get("compose", {}).get("exclude"):
        open_reasons.append(f"ValueSet {url} excludes codes")  # none of R4's required ones do
    return {
        "codes": {s: sorted(c) for s, c in sorted(codes.items())},
        "open": "; ".join(dict.fromkeys(open_reasons)) or None,
    }


def build(folder: Path, sha256: str = SHA256) -> JSON:
    """The index from an unpacked package folder."""
    package = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    types: dict[str, JSON] = {}
    primitives: dict[str, str | None] = {}
    bound: set[str] = set()
    for definition in resources(folder, "StructureDefinition"):
        if definition.get("derivation") == "constraint" or definition["kind"] == "logical":
            continue  # profiles (vitalsigns...) and logical models are not types
        name = definition["type"]
        if definition["kind"] == "primitive-type":
            primitives[name] = _regex(definition)
        elements = []
        for element in definition["snapshot"]["element"]:
            binding = element.get("binding") or {}
            strength, value_set = binding.get("strength"), binding.get("valueSet")
            kept = [strength, value_set.partition("|")[0]] if value_set else None
            if kept and strength in ("required", "extensible"):
                bound.add(kept[1])
            elements.append(
                [element["path"], element["min"], element["max"], _type_codes(element), kept]
            )
        types[name] = {
            "kind": definition["kind"],
            "abstract": definition["abstract"],
            "base": str(definition.get("baseDefinition", "")).rpartition("/")[2] or None,
            "elements": elements,
        }
    value_sets = {v["url"]: v for v in resources(folder, "ValueSet")}
    systems = {c["url"]: c for c in resources(folder, "CodeSystem")}
    return {
        "description": "R4 (4.0.1) types, elements in snapshot order, primitive regexes and "
        "the code lists of required and extensible bindings; derived by "
        "scripts/build_r4_index.py",
        "source": {
            "package": package["name"],
            "version": package["version"],
            "license": package["license"],
            "author": package["author"],
            "url": package["url"],
            "tarball_sha256": sha256,
        },
        "primitives": dict(sorted(primitives.items())),
        "types": dict(sorted(types.items())),
        "valueSets": {url: expand(url, value_sets, systems) for url in sorted(bound)},
    }


def render(index: JSON) -> str:
    """The file's text: one type or value set per line, so diffs stay readable."""
    lines = ["{"]
    keys = list(index)
    for n, key in enumerate(keys):
        value = index[key]
        tail = "," if n < len(keys) - 1 else ""
        if isinstance(value, dict) and key in ("types", "valueSets", "primitives"):
            lines.append(f"  {json.dumps(key)}: {{")
            items = list(value.items())
            for m, (name, item) in enumerate(items):
                comma = "," if m < len(items) - 1 else ""
                text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
                lines.append(f"    {json.dumps(name)}: {text}{comma}")
            lines.append(f"  }}{tail}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{tail}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check compare) the index."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--package", type=Path, help="an unpacked package folder to use")
    args = parser.parse_args(argv)
    folder = args.package or unpacked()
    text = render(build(folder))
    if args.check:
        same = OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text
        print(f"{OUTPUT}: {'up to date' if same else 'differs from the package'}")
        return 0 if same else 1
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(text):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
