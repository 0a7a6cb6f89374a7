"""HL7's whole R4 package through ``interop validate``, against the bare fhir.resources parse.

The package is hl7.fhir.r4.examples 4.0.1 (5,306 resources, definition Bundles up to 35 MB),
fetched and checked by ``scripts/build_r4_index.py``. Two measurements, each in a fresh
process so that peak memory (``ru_maxrss``) is its own, on the same files in the same run:

- bare parse: ``json.loads`` then ``fhir.resources.R4B`` ``model_validate`` of each file
  (the R4-only resources R4B has no model of, and the files R4B refuses, are counted);
- whole chain: ``interop.validators.files.validate_file`` of each file, as ``interop validate``
  runs it (one shared context, the toolkit's profiles loaded once).

Run: ``.venv/bin/python benchmarks/r4_package.py``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _files() -> list[Path]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_r4_index import unpacked

    folder = Path(unpacked())
    return sorted(p for p in folder.glob("*.json") if p.name != "package.json")


def bare(files: list[Path]) -> dict[str, float]:
    """json.loads + the R4B model of each file."""
    from fhir.resources.R4B import get_fhir_model_class

    start, cpu = time.perf_counter(), time.process_time()
    refused = no_model = 0
    for path in files:
        resource_json = json.loads(path.read_bytes())
        try:
            model = get_fhir_model_class(resource_json["resourceType"])
        except (KeyError, ValueError):
            no_model += 1
            continue
        try:
            model.model_validate(resource_json)
        except Exception:  # what R4B refuses of R4 is part of the figure, not a failure
            refused += 1
    return {
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - cpu,
        "refused": refused,
        "no_model": no_model,
    }


def chain(files: list[Path]) -> dict[str, float]:
    """The whole chain, as interop validate runs it."""
    from interop.validators.chain import ValidationContext
    from interop.validators.files import validate_file

    context = ValidationContext()
    start, cpu = time.perf_counter(), time.process_time()
    with_errors = errors = 0
    for path in files:
        report = validate_file(path, context)
        errors += len(report.errors)
        with_errors += bool(report.errors)
    return {
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - cpu,
        "files_with_errors": with_errors,
        "errors": errors,
    }


def _child(which: str) -> None:
    files = _files()
    result = bare(files) if which == "bare" else chain(files)
    result["files"] = len(files)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    _files()  # fetch and check once, before timing
    results = {}
    for which in ("bare", "chain"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", which], capture_output=True, text=True, check=True
        )
        results[which] = json.loads(out.stdout)
    b, c = results["bare"], results["chain"]
    print(f"files: {c['files']:,}")
    print(
        f"bare R4B parse: {b['seconds']:.1f} s wall, {b['cpu']:.1f} s CPU, "
        f"peak {b['peak_mb']:.0f} MB "
        f"({b['no_model']} without an R4B model, {b['refused']} refused by R4B)"
    )
    print(
        f"whole chain:    {c['seconds']:.1f} s wall, {c['cpu']:.1f} s CPU, "
        f"peak {c['peak_mb']:.0f} MB "
        f"({c['files_with_errors']} files with genuine errors, {c['errors']} errors)"
    )
    print(
        f"ratio chain / bare parse: {c['seconds'] / b['seconds']:.2f} wall, "
        f"{c['cpu'] / b['cpu']:.2f} CPU"
    )


if __name__ == "__main__":
    main()
