"""The guidance's timescales across files: a child's artefacts validated together."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from interop.validators.business_rules import check_case, child_nhs_number

if TYPE_CHECKING:
    from interop.validators.chain import ValidationContext
    from interop.validators.files import FileReport


def add_case_issues(
    reports: Sequence[FileReport],
    context: ValidationContext,
    complete: bool | Collection[str] = False,
) -> None:
    """Run the timescales between a child's artefacts (T06-T10) over every artefact read, and
    add each issue to the report of the file holding the artefact it is about.

    The rules match artefacts by the child's NHS number, so a conference checklist in one file
    and the strategy discussion in another are checked against each other. ``complete`` names
    the children whose whole case was read (see ``check_case``): only theirs can miss a meeting.
    """
    owners = {r.artefact.local_id: r for r in reports if r.artefact is not None}
    artefacts = [r.artefact for r in reports if r.artefact is not None and not r.errors]
    if not artefacts:
        return
    found = check_case(artefacts, as_of=context.as_of, edition=context.edition, complete=complete)
    for issue in found:
        local_id = issue.location.split(":", 1)[0]
        owner = owners.get(local_id)
        if owner is not None:
            owner.issues.append(issue)


def children_of(reports: Sequence[FileReport]) -> set[str]:
    """The NHS numbers of the children the readable artefacts of ``reports`` are about."""
    numbers = (child_nhs_number(r.artefact) for r in reports if r.artefact is not None)
    return {n for n in numbers if n is not None}
