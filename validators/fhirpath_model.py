"""fhirpathpy's FHIR R4 model as lookup tables: element types by path, choice elements, and the
types each type specialises.

The invariants stage's walk and the native FHIRPath evaluator read the same tables, so both see
every element with the type fhirpathpy gives it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhirpathpy.models import models as fhirpath_models

MODEL: dict[str, Any] = fhirpath_models["r4"]
#: an element's type by its path: "Patient.birthDate" -> "date"
PATH2TYPE: dict[str, str] = MODEL["path2Type"]
#: a choice element's types by its path: "Observation.value" -> ["Quantity", ...]
CHOICES: dict[str, list[str]] = MODEL["choiceTypePaths"]
#: elements defined at another path: "Questionnaire.item.item" -> "Questionnaire.item"
ELSEWHERE: dict[str, str] = MODEL["pathsDefinedElsewhere"]
#: the type each type specialises: "Age" -> "Quantity"
PARENT: dict[str, str] = MODEL["type2Parent"]


@cache
def type_chain(type_name: str) -> tuple[str, ...]:
    """A type and the types it specialises: ``Age, Quantity, Element``."""
    chain = [type_name]
    while (parent := PARENT.get(chain[-1])) is not None and parent not in chain:
        chain.append(parent)
    return tuple(chain)
