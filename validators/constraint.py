"""A FHIRPath constraint (an invariant) as the profile and invariant stages share it."""

from __future__ import annotations

from dataclasses import dataclass

from interop.issues import Severity


@dataclass(frozen=True)
class Constraint:
    """One invariant: ``expression`` must evaluate to true on every node at ``path``.

    ``path`` is an element path of a StructureDefinition (``Bundle``, ``Bundle.entry``,
    ``Patient.contact``); ``source`` names where the constraint is defined (a profile's
    canonical URL, or ``http://hl7.org/fhir/StructureDefinition/Bundle`` for R4 core).
    """

    key: str
    severity: Severity
    human: str
    expression: str
    path: str
    source: str
