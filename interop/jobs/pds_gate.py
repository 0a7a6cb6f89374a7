"""Traced before shared: the CP-IS sync's PDS trace of every new or changed record.

CP-IS answers CPR01 (no PDS match), CPR02 (sensitive) or CPR05 (superseded) a day after the
upload. With ``[pds] before_upload`` the sync traces each row that is not unchanged since its
last upload before it is planned (``PdsGate.rows``): a superseded number is replaced by its
current one (or the row held, as ``[pds] superseded`` says), and a row PDS does not know, a
deceased child or a name or date of birth that differs (``[pds] mismatch = "hold"``) is held
back as a ``RowProblem`` with its reason (rule ``PDS``), so the LA sees it in this run's
report. A held row is not in the ledger, so the next run traces it again. A PDS failure stops
the run before anything is planned (``RemoteError``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interop.config import Config
    from interop.jobs.pds_trace import TracePolicy
    from interop.la_export import ExportRow, RowProblem, UnchangedRow
    from interop.transport.fhir_client import FhirClient

    Row = ExportRow | UnchangedRow | RowProblem

__all__ = ["PdsGate", "TraceSummary", "trace_before_upload"]

#: the rule id of a row held back by the trace (in the sync's report)
PDS_RULE = "PDS"


@dataclass
class TraceSummary:
    """What the trace before upload did this run."""

    traced: int = 0
    replaced: int = 0
    held: int = 0


class PdsGate:
    """Traces the new and changed rows of an export on the PDS behind ``client``."""

    def __init__(self, client: FhirClient, policy: TracePolicy) -> None:
        self.client = client
        self.policy = policy
        self.summary = TraceSummary()

    def rows(self, rows: Iterable[Row]) -> Iterator[Row]:
        """``rows``, each new or changed one traced: kept, with its number replaced, or turned
        into a ``RowProblem`` (held back). Unchanged rows and problems pass untouched."""
        from interop.la_export import ExportRow, RowProblem

        for row in rows:
            if not isinstance(row, ExportRow):
                yield row
                continue
            verdict = self._trace(row)
            if verdict is None:
                yield row
            elif isinstance(verdict, str):
                yield RowProblem(row.line, "nhs_number", verdict, PDS_RULE)
            else:
                yield verdict

    def _trace(self, row: ExportRow) -> ExportRow | str | None:
        """None (traced as is), the row under its replacement number, or why it is held."""
        from dataclasses import replace

        from interop.jobs.pds_trace import Expected, trace_with

        subject = row.flag.subject
        expected = Expected(subject.given_name, subject.family_name, subject.date_of_birth)
        result = trace_with(self.client, subject.nhs_number, expected, self.policy)
        if not result.ok:
            self.summary.held += 1
            return "held back by the PDS trace: " + "; ".join(result.reasons)
        self.summary.traced += 1
        if result.nhs_number == subject.nhs_number or result.nhs_number is None:
            return None
        self.summary.replaced += 1
        new_subject = subject.model_copy(update={"nhs_number": result.nhs_number})
        return replace(row, flag=row.flag.model_copy(update={"subject": new_subject}))


@contextmanager
def trace_before_upload(config: Config | None) -> Iterator[PdsGate | None]:
    """The gate ``[pds]`` asks for (``before_upload``), with its PDS client open for the
    block; None when the configuration asks for no trace."""
    from interop.jobs.fhir_endpoint import open_client
    from interop.jobs.pds_trace import policy_of

    settings = config.pds if config is not None else None
    if config is None or settings is None or not settings.before_upload:
        yield None
        return
    with open_client(config.endpoint(settings.endpoint)) as client:
        yield PdsGate(client, policy_of(settings))
