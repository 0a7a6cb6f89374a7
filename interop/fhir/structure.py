"""Structural checking of FHIR JSON with the fhir.resources R4B models."""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from interop.issues import Issue, IssueCode, error


@cache
def model_class(resource_type: str) -> type[BaseModel] | None:
    """The R4B model of a resource type, or None when R4B has no such resource."""
    try:
        cls = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def fhir_path(resource_type: str, loc: tuple[int | str, ...]) -> str:
    """A pydantic location inside a resource as a FHIRPath-like path."""
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith("function-") and part not in ("__root__",):
            path += f".{part}"
    return path


def check_structure(resource: Any) -> list[Issue]:
    """Every structural problem of a FHIR JSON resource (unknown element, wrong type...)."""
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
                IssueCode.REQUIRED if err["type"] == "missing" else IssueCode.STRUCTURE,
                fhir_path(resource_type, tuple(err["loc"])),
                err["msg"],
            )
            for err in exc.errors(include_input=False, include_url=False)
        ]
    except (ValueError, TypeError) as exc:  # fhir.resources raises these for some shapes
        return [error(IssueCode.STRUCTURE, resource_type, str(exc))]
    return []
