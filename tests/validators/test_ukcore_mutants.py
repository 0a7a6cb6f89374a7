"""Single-edit mutants of UK Core's own examples: each one is an error at the edited element.

Every mutant changes one thing in one example of ``../shared/ukcore/examples`` (read as R4
JSON, or edited in its XML for what only XML can get wrong) and goes through the whole chain
with UK Core loaded (``--ig``). Each class of error R4 makes is covered by several examples:
required bindings on ``code`` and on ``CodeableConcept``, codes in datatypes (identifier.use,
name.use, telecom.system/use), element order in XML, empty values, whitespace around a code,
a script in the narrative, control characters, the id pattern, an unknown element and a
missing required element. The unmutated examples staying free of false errors is
``test_ukcore_examples``' business.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from r4_package import UKCORE, ukcore

from interop.fhir import read_fhir_xml
from interop.fhir.r4spec import R4Spec
from interop.validators.chain import ValidationContext
from interop.validators.files import validate_bytes

JSON = dict[str, Any]
PER_CLASS = 8


@dataclass(frozen=True)
class Mutant:
    name: str  # class/example
    data: bytes
    location: str  # where the error must be (an error's location starts with it)


def _examples() -> list[tuple[str, bytes, JSON]]:
    folder = UKCORE / "examples"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.xml")):
        data = path.read_bytes()
        try:
            found.append((path.stem, data, read_fhir_xml(data)))
        except Exception:  # the examples the reader refuses are listed in test_ukcore_examples
            continue
    return found


def _required_codes(spec: R4Spec, type_name: str, want: str) -> Iterator[str]:
    """Top-level elements of a type with a required binding to a ValueSet listed in full."""
    for name, element in spec.children(type_name, type_name).items():
        if element.binding is None or element.binding[0] != "required" or element.choice:
            continue
        codes = spec.value_sets.get(element.binding[1])
        if codes is not None and not codes.open and element.types == (want,):
            yield name


def _json(resource: JSON) -> bytes:
    return json.dumps(resource, ensure_ascii=False).encode()


def _mutants() -> list[Mutant]:
    spec = R4Spec.load()
    examples = _examples()
    classes: dict[str, list[Mutant]] = {}

    def add(kind: str, stem: str, data: bytes, location: str) -> None:
        found = classes.setdefault(kind, [])
        if len(found) < PER_CLASS:
            found.append(Mutant(f"{kind}/{stem}", data, location))

    for stem, xml, resource in examples:
        rt = resource["resourceType"]
        for name in _required_codes(spec, rt, "code"):
            if isinstance(resource.get(name), str) and not name.startswith("_"):
                edited = copy.deepcopy(resource)
                edited[name] = "banana"
                add("required-code", stem, _json(edited), f"{rt}.{name}")
                break
        for name in _required_codes(spec, rt, "CodeableConcept"):
            value = resource.get(name)
            if isinstance(value, dict) and value.get("coding"):
                edited = copy.deepcopy(resource)
                edited[name]["coding"][0]["code"] = "banana"
                add("required-concept", stem, _json(edited), f"{rt}.{name}.coding[0]")
                break
        for element, key in (
            ("identifier", "use"),
            ("name", "use"),
            ("telecom", "system"),
            ("telecom", "use"),
        ):
            items = resource.get(element)
            if isinstance(items, list) and items and isinstance(items[0], dict):
                edited = copy.deepcopy(resource)
                edited[element][0][key] = "banana"
                add(
                    f"datatype-code-{element}.{key}",
                    stem,
                    _json(edited),
                    f"{rt}.{element}[0].{key}",
                )
        if isinstance(resource.get("status"), str):
            edited = copy.deepcopy(resource)
            edited["status"] = f" {resource['status']}"
            add("code-whitespace", stem, _json(edited), f"{rt}.status")
            edited = copy.deepcopy(resource)
            del edited["status"]
            if spec.children(rt, rt)["status"].min == 1:
                add("missing-required", stem, _json(edited), f"{rt}.status")
        div = resource.get("text", {}).get("div")
        if isinstance(div, str) and div.endswith("</div>"):
            edited = copy.deepcopy(resource)
            edited["text"]["div"] = div[: -len("</div>")] + "<script>alert(1)</script></div>"
            add("narrative-script", stem, _json(edited), f"{rt}.text.div/script")
            edited = copy.deepcopy(resource)
            edited["text"]["div"] = div.replace("<div ", '<div onclick="steal()" ', 1)
            add("narrative-handler", stem, _json(edited), f"{rt}.text.div")
        if isinstance(resource.get("id"), str):
            edited = copy.deepcopy(resource)
            edited["id"] = "not an id!"
            add("id-pattern", stem, _json(edited), f"{rt}.id")
        edited = copy.deepcopy(resource)
        edited["colour"] = "red"
        add("unknown-element", stem, _json(edited), f"{rt}.colour")
        display = _first_display(resource, rt)
        if display is not None:
            location, holder = display
            edited = copy.deepcopy(resource)
            _at(edited, location, rt)["display"] = holder["display"] + "\u000b"
            add("control-character", stem, _json(edited), f"{location}.display")
        # what only XML gets wrong: element order, empty value attributes
        moved = _text_after_subject(xml)
        if moved is not None:
            add("xml-order", stem, moved, f"{rt}.text")
        empty = re.sub(rb'(<id value=")[^"]*(")', rb"\1\2", xml, count=1)
        if empty != xml and "id" in resource:
            add("xml-empty-value", stem, empty, f"{rt}.id")
    return [m for found in classes.values() for m in found]


def _first_display(resource: JSON, rt: str) -> tuple[str, JSON] | None:
    """The first Coding (of a top-level CodeableConcept) with a display, and its location."""
    for key, value in resource.items():
        if isinstance(value, dict) and isinstance(value.get("coding"), list):
            for i, coding in enumerate(value["coding"]):
                if isinstance(coding, dict) and isinstance(coding.get("display"), str):
                    return f"{rt}.{key}.coding[{i}]", coding
    return None


def _at(resource: JSON, location: str, rt: str) -> JSON:
    key, _, rest = location.removeprefix(f"{rt}.").partition(".coding[")
    found: JSON = resource[key]["coding"][int(rest.rstrip("]"))]
    return found


def _text_after_subject(xml: bytes) -> bytes | None:
    """The example with its narrative (which R4 puts before everything but id and meta)
    moved after its subject."""
    status = re.search(rb"\n\s*<text>.*?</text>", xml, re.S)
    subject = re.search(rb"\n\s*<subject>.*?</subject>", xml, re.S)
    if status is None or subject is None or status.start() > subject.start():
        return None
    without = xml[: status.start()] + xml[status.end() :]
    cut = subject.end() - (status.end() - status.start())
    return without[:cut] + xml[status.start() : status.end()] + without[cut:]


MUTANTS = _mutants()


@pytest.fixture(scope="module")
def context() -> ValidationContext:
    return ValidationContext(igs=(ukcore(),))


def test_the_corpus_covers_every_class() -> None:
    ukcore()
    kinds = Counter(m.name.partition("/")[0] for m in MUTANTS)
    assert len(MUTANTS) >= 60
    for kind in (
        "required-code",
        "required-concept",
        "datatype-code-telecom.system",
        "code-whitespace",
        "missing-required",
        "narrative-script",
        "narrative-handler",
        "id-pattern",
        "unknown-element",
        "control-character",
        "xml-order",
        "xml-empty-value",
    ):
        assert kinds[kind] >= 2, (kind, kinds)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_an_error_at_the_edited_element(
    mutant: Mutant, context: ValidationContext
) -> None:
    report = validate_bytes(mutant.data, Path(mutant.name), context)
    errors = [i for i in report.errors if i.location.startswith(mutant.location)]
    if mutant.name.startswith("xml-order/"):
        errors = [i for i in errors if "out of order" in i.message]
    assert errors, [i.describe() for i in report.issues]
