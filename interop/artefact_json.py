"""Artefact JSON in and out: read a file into a domain artefact, or say everything wrong with it.

Reading is strict about types (a date is an ISO string, a flag is ``true``/``false``, never
``"yes"`` or a number) and reports every problem with its JSON path (``$.subject.nhs_number``).
Messages never quote the input's values, which may be personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from interop.domain import ARTEFACT_KINDS, ARTEFACT_MODELS, Artefact, ArtefactBase
from interop.domain.rules import RULES, STRUCTURAL_RULES, VIOLATIONS_ERROR
from interop.issues import Issue, IssueCode, error
from interop.safe_json import (
    DEFAULT_LIMITS,
    JsonInputError,
    JsonLimits,
    decode_utf8,
    parse_json,
)

__all__ = [
    "LoadResult",
    "artefact_adapter",
    "dump_artefact",
    "issues_from_validation_error",
    "json_path",
    "parse_artefact",
    "read_artefact_file",
]


@cache
def artefact_adapter() -> TypeAdapter[Artefact]:
    """The validator of the artefact union (built once: it is costly)."""
    return TypeAdapter(Artefact)


@dataclass
class LoadResult:
    """An artefact read from ``source``, or the issues that stopped it."""

    source: str
    artefact: ArtefactBase | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when an artefact was read and no issue is an error."""
        return self.artefact is not None and not any(i.is_error for i in self.issues)


def json_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A pydantic location as a JSON path: ``('a', 0, 'b')`` → ``$.a[0].b``."""
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _dotted(path: str) -> list[int | str]:
    parts: list[int | str] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        for index in filter(None, rest.replace("]", "").split("[")):
            parts.append(int(index))
    return parts


_NHS_ERRORS = {
    "nhs_number_type",
    "nhs_number_empty",
    "nhs_number_non_digit",
    "nhs_number_length",
    "nhs_number_check_digit",
    "nhs_number_range",
}
_CODE_ERRORS = {"enum", "literal_error", "country_code"}
#: a malformed SNOMED CT concept id (``interop.identifiers.check_snomed_concept_id``)
_SNOMED_ERRORS = {
    "snomed_type",
    "snomed_non_digit",
    "snomed_length",
    "snomed_leading_zero",
    "snomed_partition",
    "snomed_check_digit",
}
_STRUCTURE_ERRORS = {
    "extra_forbidden",
    "model_type",
    "dict_type",
    "list_type",
    "model_attributes_type",
}


_INDEX = re.compile(r"\[\d+\]")


def _with_structural_rule(issue: Issue, artefact_kind: str) -> Issue:
    rule_id = STRUCTURAL_RULES.get((artefact_kind, _INDEX.sub("[*]", issue.location)))
    if rule_id is None or issue.rule_id is not None:
        return issue
    return replace(issue, rule_id=rule_id, rule_source=RULES[rule_id].source)


def _issues_from_error(err: ErrorDetails, skip: int, artefact_kind: str) -> list[Issue]:
    return [_with_structural_rule(i, artefact_kind) for i in _issues_at(err, skip)]


def _issues_at(err: ErrorDetails, skip: int) -> list[Issue]:
    loc = list(err["loc"])[skip:]
    kind = err["type"]
    if kind == VIOLATIONS_ERROR:
        violations: list[dict[str, str]] = (err.get("ctx") or {}).get("violations", [])
        return [
            error(
                IssueCode.INVARIANT,
                json_path([*loc, *_dotted(v["path"])]),
                v["message"],
                rule_id=v["rule"],
                rule_source=RULES[v["rule"]].source,
            )
            for v in violations
        ]
    message = err["msg"]
    if kind in _NHS_ERRORS:
        rule = RULES["C01"]
        return [
            error(
                IssueCode.VALUE, json_path(loc), message, rule_id=rule.id, rule_source=rule.source
            )
        ]
    if kind == "missing":
        return [error(IssueCode.REQUIRED, json_path(loc), "this field is required")]
    if kind == "extra_forbidden":
        return [error(IssueCode.STRUCTURE, json_path(loc), f"unknown field '{loc[-1]}'")]
    if kind in _SNOMED_ERRORS:
        return [error(IssueCode.CODE_INVALID, json_path(loc), message)]
    if kind in _CODE_ERRORS:
        return [error(IssueCode.CODE_INVALID, json_path(loc), f"unknown code: {message}")]
    if kind in _STRUCTURE_ERRORS:
        return [error(IssueCode.STRUCTURE, json_path(loc), message)]
    return [error(IssueCode.VALUE, json_path(loc), message)]


def _kind_issue(value: Any) -> Issue | None:
    if not isinstance(value, dict):
        return error(IssueCode.STRUCTURE, "$", "an artefact is a JSON object")
    kind = value.get("kind")
    if kind is None:
        return error(
            IssueCode.REQUIRED, "$.kind", f"'kind' is required: one of {', '.join(ARTEFACT_KINDS)}"
        )
    if kind not in ARTEFACT_KINDS:
        return error(
            IssueCode.CODE_INVALID,
            "$.kind",
            f"unknown artefact kind; expected one of {', '.join(ARTEFACT_KINDS)}",
        )
    return None


def parse_artefact(
    data: bytes | str, *, source: str = "<input>", limits: JsonLimits = DEFAULT_LIMITS
) -> LoadResult:
    """Read artefact JSON (bytes or text) into a domain artefact, collecting every issue."""
    result = LoadResult(source)
    try:
        text = decode_utf8(data, limits) if isinstance(data, bytes) else data
        value = parse_json(text, limits)
    except JsonInputError as exc:
        result.issues.append(exc.issue)
        return result
    kind_problem = _kind_issue(value)
    if kind_problem is not None:
        result.issues.append(kind_problem)
        return result
    try:
        # strict: JSON types only (no "yes" for true, no numbers for dates)
        result.artefact = artefact_adapter().validate_json(text, strict=True)
    except ValidationError as exc:
        # the discriminated union puts the kind first in every location: drop it
        result.issues.extend(issues_from_validation_error(exc, skip=1))
    return result


def issues_from_validation_error(exc: ValidationError, *, skip: int = 0) -> list[Issue]:
    """Every error of a pydantic ValidationError as Issues with JSON paths.

    ``skip`` drops leading location parts: 1 for the artefact union, whose first part is the
    kind; 0 for a single model, whose kind is known from the error's title.
    """
    by_class = {model.__name__: kind for kind, model in ARTEFACT_MODELS.items()}
    issues: list[Issue] = []
    for err in exc.errors(include_input=False, include_url=False):
        kind = str(err["loc"][0]) if skip and err["loc"] else by_class.get(exc.title, "")
        issues.extend(_issues_from_error(err, skip, kind))
    return issues


def read_artefact_file(path: Path, *, limits: JsonLimits = DEFAULT_LIMITS) -> LoadResult:
    """Read and parse one file. ``OSError`` (missing, unreadable) is left to the caller."""
    with path.open("rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    return parse_artefact(data, source=str(path), limits=limits)


def dump_artefact(artefact: ArtefactBase, *, indent: int | None = 2) -> str:
    """Artefact JSON: the fields that have a value, in the model's order."""
    return artefact.model_dump_json(indent=indent, exclude_none=True)
