"""Structural checking of FHIR JSON: against R4 (``check_structure``) and the R4B models."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from interop.issues import Issue, IssueCode, error


@cache
def model_class(resource_type: str) -> type[BaseModel] | None:
    """The R4B model of a resource type, or None when R4B has no such resource."""
    try:
        cls = get_fhir_model_class(resource_type)
        resource = get_fhir_model_class("Resource")
    except (KeyError, ValueError):
        return None
    # the lookup knows datatypes and backbone elements too (Period, BundleEntry): not resources
    return cls if isinstance(cls, type) and issubclass(cls, resource) else None


def fhir_path(resource_type: str, loc: tuple[int | str, ...], resource: Any = None) -> str:
    """A pydantic location inside a resource as a FHIRPath-like path.

    Given the resource, the path is walked alongside it, and every resource met inside
    (a Bundle entry's ``resource``, ``contained[i]``, a response's ``outcome``) adds its type:
    ``Bundle.entry[0].resource.ofType(Flag).period.start``, as every other stage locates.
    """
    path = resource_type
    node = resource
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
        elif part.startswith("function-") or part == "__root__":
            continue
        else:
            path += f".{part}"
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("resourceType"), str):
            path += f".ofType({node['resourceType']})"
    return path


#: fhir_core's message for an element R4 requires that is absent (pydantic says "missing"
#: only for the fields the models themselves require)
_REQUIRED_ELEMENT = re.compile(r"Value for the field '[^']+' is required")


def _is_missing(err: ErrorDetails) -> bool:
    return err["type"] == "missing" or bool(_REQUIRED_ELEMENT.search(err["msg"]))


#: the library's wording of some errors, and the toolkit's plainer one
_PLAINER = (
    (
        re.compile(
            r"Any of one field value is expected from this list \[[^\]]*\], but got multiple!"
        ),
        "a choice element (such as value[x]) holds one type only; several are given",
    ),
    (re.compile(r"^Extra inputs are not permitted$"), "an element R4 does not have here"),
    (
        re.compile(r"Expect any of field value from this list \[([^\]]*)\]\.?"),
        r"one of these is required: \1",
    ),
    (
        re.compile(r"DateTime value string does not match spec regex"),
        "not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)",
    ),
    (
        re.compile(r"Date value string does not match spec regex"),
        "not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)",
    ),
)


def _message(text: str) -> str:
    for pattern, plainer in _PLAINER:
        if pattern.search(text):
            return pattern.sub(plainer, text).removeprefix("Value error, ").rstrip(".")
    return text


def check_structure(resource: Any) -> list[Issue]:
    """Every structural problem of a FHIR JSON resource against R4 itself (unknown element,
    wrong type, cardinality, base bindings, narrative...): ``interop.fhir.r4check``.

    The R4B models are not asked: they know resources R4 does not have and lack some it has
    (EffectEvidenceSynthesis, MedicinalProduct...), and stop at the first problem of a kind.
    """
    from interop.fhir.r4check import check_r4

    if not isinstance(resource, dict):
        return [error(IssueCode.STRUCTURE, "", "a FHIR resource is a JSON object")]
    return check_r4(resource)


def check_structure_r4b(resource: Any) -> list[Issue]:
    """The R4B models' view of a resource (what the toolkit's own builders must satisfy)."""
    if not isinstance(resource, dict):
        return [error(IssueCode.STRUCTURE, "", "a FHIR resource is a JSON object")]
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [error(IssueCode.REQUIRED, "resourceType", "resourceType is required")]
    cls = model_class(resource_type)
    if cls is None:
        return [
            error(
                IssueCode.CODE_INVALID, "resourceType", f"'{resource_type}' is not an R4 resource"
            )
        ]
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        return [
            error(
                IssueCode.REQUIRED if _is_missing(err) else IssueCode.STRUCTURE,
                fhir_path(resource_type, tuple(err["loc"]), resource),
                _message(err["msg"]),
            )
            for err in exc.errors(include_input=False, include_url=False)
        ]
    except (ValueError, TypeError) as exc:  # fhir.resources raises these for some shapes
        return [error(IssueCode.STRUCTURE, resource_type, str(exc))]
    return []
