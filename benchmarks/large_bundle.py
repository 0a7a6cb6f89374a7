"""A 100 MB FHIR JSON Bundle validated entry by entry, against a whole parse of it.

The Bundle is made of HL7's own R4 ValueSets and CodeSystems (Bundle-valuesets.json of
hl7.fhir.r4.examples 4.0.1, fetched and checked by ``scripts/build_r4_index.py``), repeated
with distinct fullUrls and ids until it reaches the size asked. Three measurements, each in a
fresh process so that its peak memory (``ru_maxrss``) is its own:

- ``json.loads`` of the file alone (what any whole-tree validator starts with);
- ``interop validate`` entry by entry (the default above 16 MB);
- ``interop validate`` with the whole tree (``stream_above`` raised past the size).

With ``--xml`` the same Bundle is written as FHIR XML (each entry by the toolkit's writer)
and the first measurement is ``lxml``'s whole-tree parse of the file instead.

Run: ``.venv/bin/python benchmarks/large_bundle.py [--mb 100] [--xml]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(target: Path, megabytes: int) -> int:
    """Write the Bundle; the number of entries."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_r4_index import unpacked

    source = json.loads((Path(unpacked()) / "Bundle-valuesets.json").read_bytes())
    entries = source["entry"]
    written, count = 0, 0
    with target.open("w", encoding="utf-8") as out:
        out.write('{"resourceType": "Bundle", "id": "large", "type": "collection", "entry": [')
        while written < megabytes * 1024 * 1024:
            entry = entries[count % len(entries)]
            resource_json = dict(entry["resource"], id=f"r{count}")
            text = json.dumps({"fullUrl": f"urn:uuid:{count:032x}", "resource": resource_json})
            out.write(("," if count else "") + text)
            written += len(text)
            count += 1
        out.write("]}")
    return count


def build_xml(target: Path, megabytes: int) -> int:
    """Write the Bundle as FHIR XML; the number of entries."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_r4_index import unpacked

    from interop.fhir.xml_writer import json_to_xml

    source = json.loads((Path(unpacked()) / "Bundle-valuesets.json").read_bytes())
    templates = []
    for entry in source["entry"]:
        one = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "urn:uuid:FULLURL", "resource": dict(entry["resource"], id="RID")}
            ],
        }
        text = json_to_xml(one).decode("utf-8")
        templates.append(text[text.index("<entry>") : text.rindex("</entry>") + len("</entry>")])
    written, count = 0, 0
    with target.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<Bundle xmlns="http://hl7.org/fhir">'
            '<id value="large"/><type value="collection"/>'
        )
        while written < megabytes * 1024 * 1024:
            template = templates[count % len(templates)]
            text = template.replace("FULLURL", f"{count:032x}").replace(
                '<id value="RID"/>', f'<id value="r{count}"/>', 1
            )
            out.write(text)
            written += len(text)
            count += 1
        out.write("</Bundle>")
    return count


def _child(mode: str, path: str) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    errors = -1
    if mode == "loads":
        json.loads(Path(path).read_bytes())
    elif mode == "lxml":
        from lxml import etree

        etree.fromstring(Path(path).read_bytes(), etree.XMLParser(huge_tree=True))
    else:
        from interop.validators.chain import ValidationContext
        from interop.validators.files import validate_file

        above = 16 * 1024 * 1024 if mode == "streamed" else 1 << 40
        context = ValidationContext(max_bytes=1 << 30, stream_above=above)
        errors = len(validate_file(Path(path), context).errors)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, used = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"wall": wall, "cpu": used, "peak_mb": peak, "errors": errors}))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--xml", action="store_true", help="the Bundle as FHIR XML")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("large.xml" if args.xml else "large.json")
        entries = (build_xml if args.xml else build)(path, args.mb)
        size = path.stat().st_size / 1024 / 1024
        print(f"Bundle: {size:.0f} MB, {entries:,} entries")
        for mode in ("lxml" if args.xml else "loads", "streamed", "whole"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout)
            extra = "" if r["errors"] < 0 else f", {r['errors']} errors"
            print(
                f"{mode:8}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, "
                f"peak {r['peak_mb']:.0f} MB{extra}"
            )


if __name__ == "__main__":
    main()
