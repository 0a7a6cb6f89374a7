"""Large FHIR Bundles validated entry by entry, in memory bounded by the file's size.

Parsing a 100 MB Bundle whole builds a tree ten times its size. Here the text is decoded once
and the top-level object is walked with the C JSON decoder one value at a time: each
``entry`` is parsed, validated and dropped before the next, so the peak is the text plus the
largest entry. Every entry goes through the FHIR stages inside a Bundle of its own (the
Bundle's ``type`` is kept, so per-entry Bundle invariants hold as written), and its issues are
located at ``Bundle.entry[i]``; the Bundle's other elements are validated once, at the end.
The Bundle's own rules (its elements, the cardinality and slices of its entries in a profile,
bdl-7 and the other Bundle invariants) run once at the end, on stubs of the entries (each
without its resource's content: a few hundred bytes an entry).

References between entries (the profile stage's target types of ``Bundle.entry`` fullUrls)
are resolved from a first, cheap pass over the entries (their fullUrl and resource type only).
What a whole parse checks and this does not: artefact mapping (toolkit artefacts are small,
never streamed). The same protections hold: the size limit, UTF-8, duplicate keys, NaN, depth.

FHIR XML Bundles go the same way (``validate_large_xml_bundle``): ``interop.fhir.xml_stream``
reads them with ``iterparse``, one entry at a time, with the hardened parser's protections
(no DTD, no entities, no network, libxml2's depth and text limits); the tree then holds one
entry and the Bundle's other elements, not the whole document. An entry whose XML cannot be
read is reported (the reader's issues) and not validated further; the other entries are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from interop.issues import Issue, IssueCode, Severity, error

# the same hooks as interop.safe_json's whole-document parse: duplicate keys and NaN refused
from interop.safe_json import (
    JsonInputError,
    JsonLimits,
    _depth_exceeds,
    _reject_constant,
    _reject_duplicate_keys,
    decode_utf8,
)
from interop.validators.chain import ValidationContext, validate_resource

JSON = dict[str, Any]
_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
)
_BLANK = " \t\r\n"


class _Stop(Exception):
    """The text cannot be walked further; ``issue`` says where."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def _at(text: str, pos: int, message: str, code: IssueCode = IssueCode.INVALID) -> _Stop:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return _Stop(error(code, "$", message, line=line, column=column))


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _BLANK:
        pos += 1
    return pos


def _expect(text: str, pos: int, char: str) -> int:
    pos = _skip(text, pos)
    if not text.startswith(char, pos):
        raise _at(text, pos, f"Expecting '{char}'")
    return pos + 1


def _value(text: str, pos: int, limits: JsonLimits) -> tuple[Any, int]:
    try:
        value, end = _DECODER.raw_decode(text, _skip(text, pos))
    except json.JSONDecodeError as exc:
        raise _at(text, exc.pos, exc.msg) from None
    except RecursionError:
        raise _at(text, pos, f"nesting is deeper than {limits.max_depth} levels") from None
    except ValueError as exc:  # a duplicate key, NaN
        raise _at(text, pos, str(exc), IssueCode.STRUCTURE) from None
    if _depth_exceeds(value, limits.max_depth - 2):  # an entry sits two levels down
        raise _at(
            text, pos, f"nesting is deeper than {limits.max_depth} levels", IssueCode.TOO_COSTLY
        )
    return value, end


def _walk(text: str, shell: JSON, limits: JsonLimits) -> Iterator[JSON]:
    """The Bundle's entries one by one; its other members land in ``shell``."""
    pos = _expect(text, 0, "{")
    if text.startswith("}", _skip(text, pos)):
        return
    while True:
        key, pos = _value(text, pos, limits)
        pos = _expect(text, pos, ":")
        if key in shell or (key == "entry" and "entry" in shell):
            raise _at(
                text, pos, f"the key '{key}' appears twice in one object", IssueCode.STRUCTURE
            )
        if key == "entry" and text.startswith("[", _skip(text, pos)):
            shell["entry"] = None  # seen; its entries are validated as they come
            pos = _skip(text, pos) + 1
            if not text.startswith("]", _skip(text, pos)):
                while True:
                    entry, pos = _value(text, pos, limits)
                    yield entry
                    pos = _skip(text, pos)
                    if text.startswith("]", pos):
                        break
                    pos = _expect(text, pos, ",")
            pos = _skip(text, pos) + 1
        else:
            shell[key], pos = _value(text, pos, limits)
        pos = _skip(text, pos)
        if text.startswith("}", pos):
            break
        pos = _expect(text, pos, ",")
    if _skip(text, pos + 1) != len(text):
        raise _at(text, pos + 1, "Extra data")


def _relocate(issues: list[Issue], index: int, keep_others: bool = False) -> list[Issue]:
    """The issues of a one-entry Bundle that concern its entry, at ``Bundle.entry[index]``
    (and, with ``keep_others``, the others as they are: a reader's document-wide ones)."""
    kept = []
    for issue in issues:
        if keep_others and not issue.location.startswith("Bundle.entry[0]"):
            kept.append(issue)
        elif issue.location.startswith("Bundle.entry[0]"):
            where = f"Bundle.entry[{index}]" + issue.location[len("Bundle.entry[0]") :]
            kept.append(
                Issue(
                    issue.severity,
                    issue.code,
                    where,
                    issue.message,
                    issue.rule_id,
                    issue.rule_source,
                    issue.line,
                    issue.column,
                )
            )
    return kept


def validate_large_bundle(data: bytes, context: ValidationContext) -> tuple[list[Issue], str]:
    """Every issue of a FHIR JSON Bundle, entry by entry, and the resource type found."""
    limits = JsonLimits(max_bytes=context.max_bytes, max_depth=100)
    try:
        text = decode_utf8(data, limits)
    except JsonInputError as exc:
        return [exc.issue], "resource"
    shell: JSON = {}
    issues: list[Issue] = []
    stubs: list[Any] = []
    typed_first = True  # whether the Bundle's type was known when its entries came
    try:
        # a first, cheap pass (parsing is a few percent of validating): every entry's fullUrl
        # and resource type, so references between entries are checked as in a whole read
        full_urls: dict[str, str] = {}
        for entry in _walk(text, {}, limits):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if (
                isinstance(resource, dict)
                and isinstance(entry.get("fullUrl"), str)
                and isinstance(resource.get("resourceType"), str)
            ):
                full_urls[entry["fullUrl"]] = resource["resourceType"]
        context.bundle_full_urls = full_urls
        for index, entry in enumerate(_walk(text, shell, limits)):
            typed_first = typed_first and (index > 0 or "type" in shell)
            issues += _entry_issues(entry, index, shell, context)
            stubs.append(_stub(entry))
        if not typed_first and "type" in shell:
            # JSON members have no order: a type written after the entries is valid, and the
            # entries' rules that depend on it (bdl-*) run again now that it is known
            issues = []
            for index, entry in enumerate(_walk(text, {}, limits)):
                issues += _entry_issues(entry, index, shell, context)
    except _Stop as stop:
        return [*issues, stop.issue], str(shell.get("resourceType", "resource"))
    finally:
        context.bundle_full_urls = {}
    resource_type = shell.get("resourceType")
    if resource_type != "Bundle":
        why = f"'{resource_type}' is not a Bundle" if resource_type else "no resourceType"
        return [
            error(IssueCode.STRUCTURE, "$", f"a large FHIR input is a Bundle: {why}")
        ], "resource"
    # the Bundle's own elements, cardinality of its entries (profiles), slices and invariants
    # (bdl-7 and the like), on stubs of its entries; their own issues were reported already
    if shell.pop("entry", None) is None and stubs:
        shell["entry"] = stubs
    found = validate_resource(shell, context, map_artefact=False).issues
    issues = [i for i in found if not i.location.startswith("Bundle.entry[")] + issues
    return _once_per_file(issues), "Bundle"


def _entry_issues(entry: Any, index: int, shell: JSON, context: ValidationContext) -> list[Issue]:
    """An entry's issues, validated in a Bundle of its own (with the Bundle's type, if known)."""
    alone = {"resourceType": shell.get("resourceType", "Bundle"), "entry": [entry]}
    if "type" in shell:
        alone["type"] = shell["type"]
    result = validate_resource(alone, context, map_artefact=False)
    return _relocate(result.issues, index)


def validate_large_xml_bundle(data: bytes, context: ValidationContext) -> tuple[list[Issue], str]:
    """Every issue of a FHIR XML Bundle, entry by entry, and the resource type found."""
    from interop.fhir import XmlBundleStream, XmlStreamError

    if len(data) > context.max_bytes:
        message = f"the input is {len(data):,} bytes; the limit is {context.max_bytes:,}"
        return [error(IssueCode.TOO_COSTLY, "", message)], "resource"
    stream = XmlBundleStream(data)
    issues: list[Issue] = []
    stubs: list[Any] = []
    try:
        context.bundle_full_urls = stream.full_urls()
        for index, (alone, read_issues) in enumerate(stream.entries()):
            if alone is None:
                issues += _relocate(read_issues, index, keep_others=True)
                stubs.append({})
                continue
            result = validate_resource(alone, context, map_artefact=False)
            issues += _relocate(result.issues, index)
            stubs.append(_stub(alone["entry"][0]))
    except XmlStreamError as stop:
        return [*stream.issues, *issues, stop.issue], "Bundle"
    finally:
        context.bundle_full_urls = {}
    shell = stream.shell()
    if shell is None:
        return [*stream.issues, *issues], "Bundle"
    if stubs:
        shell["entry"] = stubs
    found = validate_resource(shell, context, map_artefact=False).issues
    issues = (
        stream.issues + [i for i in found if not i.location.startswith("Bundle.entry[")] + issues
    )
    return _once_per_file(issues), "Bundle"


def _stub(entry: Any) -> Any:
    """What the Bundle's own rules read of an entry: all but its resource's content."""
    if not isinstance(entry, dict):
        return entry
    stub = {k: v for k, v in entry.items() if k != "resource"}
    resource = entry.get("resource")
    if isinstance(resource, dict):
        stub["resource"] = {k: resource[k] for k in ("resourceType", "id", "meta") if k in resource}
    return stub


def _once_per_file(issues: list[Issue]) -> list[Issue]:
    """The warnings the structure stage says once per file, once (each entry said them)."""
    seen: set[str] = set()
    kept = []
    for issue in issues:
        if issue.severity is Severity.WARNING and "once per file" in issue.message:
            if issue.message in seen:
                continue
            seen.add(issue.message)
        kept.append(issue)
    return kept
