"""What a pull gives back after pushes to a server that keeps one Patient per child."""

from __future__ import annotations

from typing import Any

from interop.domain import ArtefactBase

__all__ = ["as_pulled", "nhs_of", "person_of"]


def person_of(artefact: ArtefactBase) -> Any:
    """The child an artefact is about (``child``, or ``subject``)."""
    person = getattr(artefact, "child", None) or getattr(artefact, "subject", None)
    assert person is not None
    return person


def nhs_of(artefact: ArtefactBase) -> str:
    """The NHS number of the artefact's child."""
    return str(person_of(artefact).nhs_number)


def as_pulled(artefacts: list[ArtefactBase]) -> list[ArtefactBase]:
    """The artefacts as a pull gives them back after they were all pushed, in this order: the
    server holds one Patient per child, with each detail of the child from the first artefact
    that gave it (a push adds what the Patient lacks and overwrites nothing), so each artefact
    comes back with the child as that Patient says; sorted by local id."""
    details: dict[str, dict[str, Any]] = {}
    for artefact in artefacts:
        known = details.setdefault(nhs_of(artefact), {})
        for name, value in person_of(artefact).model_dump().items():
            if known.get(name) is None:
                known[name] = value
    pulled = []
    for artefact in artefacts:
        field = "child" if getattr(artefact, "child", None) is not None else "subject"
        child = person_of(artefact).model_copy(update=details[nhs_of(artefact)])
        pulled.append(artefact.model_copy(update={field: child}))
    return sorted(pulled, key=lambda a: a.local_id)
