"""Where the attendance rules learn whether a child is flagged, and of their treatment plan.

Flag sources (``[attendance] flag_source``), each answering ``flags_for(nhs_number, day)``
with the plans CP-IS would show on that day (started, and not yet past their delete date):

- ``LedgerFlags``: the LA's own CP-IS sync ledger (``interop.sync.ledger``), for an
  installation that is both the LA and the listener, in a SQLite state file or a PostgreSQL
  state (``postgresql://``). Local and fast: the ledger is read into memory once and read
  again only when another connection has changed it (SQLite's ``PRAGMA data_version``; on
  PostgreSQL a fingerprint of the records' statuses), so a lookup is a dictionary access.
  Records CP-IS rejected are left out (CP-IS does not hold them, so it would not notify
  either).
- the CP-IS stand-in's register (``interop.sandbox.cpis_spine.RegisterFlags``): the sandbox
  passes it in, since the core never imports the sandbox.
- ``FhirFlags``: a CP-IS FHIR API style endpoint: a silent read of the child's CareTeams
  (``IsUnscheduledAccessEvent: false``: the notification is the rules' job, not the
  lookup's) whose category is a plan type, with the Organization and Patient they name,
  mapped by the function it is given (the mappings are not the core's to import).

``FhirPlans`` reads a child's health treatment plans from a FHIR endpoint the same way: the
child's CarePlans and MedicationStatements, grouped, and each group holding a
HealthTreatmentPlan CarePlan mapped.

A source that cannot answer raises ``LookupFailed``: the listener then answers AE and the
sending system resends, which is better than guessing that a child is not flagged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from interop.codes import PlanType
from interop.domain import ChildProtectionFlag, HealthTreatmentPlan
from interop.domain.child_protection_flag import HISTORY_MONTHS, add_months
from interop.errors import RemoteError
from interop.state import State, StateError, is_postgres_url, open_state
from interop.state.connection import BUSY_TIMEOUT_SECONDS

__all__ = [
    "FhirFlags",
    "FhirPlans",
    "FlagFact",
    "FlagSource",
    "LedgerFlags",
    "LookupFailed",
    "PlanSource",
    "ToArtefact",
]

JSON = dict[str, Any]
#: a FHIR Bundle to a domain artefact (``interop.mappings.fhir.fhir_to_artefact``)
ToArtefact = Callable[[JSON], object]


class LookupFailed(RemoteError):
    """A flag or plan source could not answer; the message names no person."""


@dataclass(frozen=True)
class FlagFact:
    """One plan CP-IS holds for a child: its type, dates and the responsible LA."""

    plan_type: PlanType
    la_ods: str
    la_name: str
    start: date
    end: date | None = None
    delete: date | None = None
    emergency_duty_phone: str | None = None
    office_hours_phone: str | None = None

    def held_on(self, day: date) -> bool:
        """Whether CP-IS shows this plan on ``day``: started, and not yet deleted (an ended
        plan is kept until its delete date, by default 12 months after its end)."""
        delete = self.delete
        if delete is None and self.end is not None:
            delete = add_months(self.end, HISTORY_MONTHS)
        return self.start <= day and (delete is None or day < delete)

    def in_force_on(self, day: date) -> bool:
        """Whether the plan itself is in force on ``day``."""
        return self.start <= day and (self.end is None or day <= self.end)

    @classmethod
    def of_flag(cls, flag: ChildProtectionFlag) -> FlagFact:
        """The fact of a child protection flag artefact."""
        la = flag.responsible_la
        return cls(
            plan_type=flag.plan_type,
            la_ods=la.ods_code,
            la_name=la.name,
            start=flag.plan_start,
            end=flag.plan_end,
            delete=flag.delete_date,
            emergency_duty_phone=la.emergency_duty_phone,
            office_hours_phone=la.office_hours_phone,
        )


class FlagSource(Protocol):
    """What the rules ask of a flag source."""

    def flags_for(self, nhs_number: str, day: date) -> list[FlagFact]:
        """The plans held for ``nhs_number`` on ``day``; ``LookupFailed`` if it cannot say."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class PlanSource(Protocol):
    """What the rules ask of a treatment plan source."""

    def plans_for(self, nhs_number: str) -> list[HealthTreatmentPlan]:
        """The child's health treatment plans; ``LookupFailed`` if it cannot say."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _day(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


class LedgerFlags:
    """The plans of the LA's CP-IS sync ledger (see the module's docstring)."""

    def __init__(
        self,
        path: Path | str,
        *,
        la_phones: tuple[str | None, str | None] = (None, None),
    ) -> None:
        """``path``: the state holding the ledger, a SQLite file or a ``postgresql://`` URL.
        ``la_phones``: the LA's (emergency duty, office hours) numbers, which the ledger
        does not hold (``[local_authority]``)."""
        self._db: Any
        if is_postgres_url(path):
            self._db, self._version_sql = _open_postgres_ledger(str(path)), _PG_VERSION
        else:
            self._db, self._version_sql = _open_sqlite_ledger(Path(path)), "PRAGMA data_version"
        self._phones = la_phones
        self._lock = threading.Lock()
        self._version: tuple[object, ...] | None = None
        self._index: dict[str, list[FlagFact]] = {}

    def _refresh(self) -> None:
        version = tuple(self._db.execute(self._version_sql).fetchone())
        if version == self._version:
            return
        index: dict[str, list[FlagFact]] = {}
        rows = self._db.execute(
            "SELECT r.la_ods, u.la_name, ur.payload FROM records r"
            " JOIN upload_records ur ON ur.upload_id = r.upload_id AND ur.local_id = r.local_id"
            " JOIN uploads u ON u.upload_id = r.upload_id"
            " WHERE r.status <> 'rejected'"
        )
        for la_ods, la_name, payload in rows:
            record = json.loads(payload)
            plan = PlanType.lookup(record.get("plan_type"))
            start = _day(record.get("start_date"))
            if plan is None or start is None:
                continue
            index.setdefault(str(record["nhs_number"]), []).append(
                FlagFact(
                    plan_type=plan,
                    la_ods=str(la_ods),
                    la_name=str(la_name),
                    start=start,
                    end=_day(record.get("end_date")),
                    delete=_day(record.get("delete_date")),
                    emergency_duty_phone=self._phones[0],
                    office_hours_phone=self._phones[1],
                )
            )
        self._index, self._version = index, version

    def flags_for(self, nhs_number: str, day: date) -> list[FlagFact]:
        """The plans held on ``day``, from the ledger as it is now."""
        with self._lock:
            try:
                self._refresh()
            except (sqlite3.DatabaseError, StateError) as exc:
                raise LookupFailed(f"the CP-IS ledger cannot be read ({exc})") from None
            except Exception as exc:  # the PostgreSQL driver's errors: the server is away
                if type(exc).__module__.startswith("psycopg"):
                    raise LookupFailed(f"the CP-IS ledger cannot be read ({exc})") from None
                raise
            return [f for f in self._index.get(nhs_number, ()) if f.held_on(day)]

    def close(self) -> None:
        """Close the ledger."""
        self._db.close()


#: what changes whenever a record's status or upload does (PostgreSQL has no data_version)
_PG_VERSION = (
    "SELECT COUNT(*), MAX(updated_at), COALESCE(SUM(hashtext(upload_id || status)), 0) FROM records"
)


def _open_sqlite_ledger(path: Path) -> sqlite3.Connection:
    """The ledger's SQLite file, read-only (the listener never writes the sync's ledger)."""
    if not path.is_file():
        raise LookupFailed(f"the CP-IS ledger {path} does not exist")
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            timeout=BUSY_TIMEOUT_SECONDS,
            check_same_thread=False,
        )
        db.execute("SELECT 1 FROM records LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        raise LookupFailed(f"{path} is not a CP-IS sync ledger ({exc})") from None
    return db


def _open_postgres_ledger(url: str) -> State:
    """The ledger's PostgreSQL state, through the state layer (never created here)."""
    try:
        state = open_state(url)
    except StateError as exc:
        raise LookupFailed(f"the CP-IS ledger: {exc}") from None
    if "records" not in state.tables():
        state.close()
        raise LookupFailed(f"{state.location} holds no CP-IS sync ledger")
    return state


def _artefacts(
    resources: Iterable[JSON], to_artefact: ToArtefact, wanted: Callable[[JSON], bool]
) -> list[object]:
    """The artefacts of the groups the resources form that ``wanted`` picks (a Bundle of
    each group); ``LookupFailed`` when one of those cannot be read."""
    from interop.issues import IssuesError
    from interop.transport.bundles import assemble

    found = []
    for bundle in assemble(resources):
        if not wanted(bundle):
            continue
        try:
            found.append(to_artefact(bundle))
        except IssuesError as exc:
            # where and what kind of problem, not its message: that may quote a value
            first = f"{exc.issues[0].code} at {exc.issues[0].location}" if exc.issues else "?"
            raise LookupFailed(f"a record read could not be mapped ({first})") from None
    return found


def _is_flag_team(team: JSON) -> bool:
    """A CareTeam of a child protection plan: its category is a plan type (the CP-IS API's
    shape), not the care team of some other artefact (a treatment plan's)."""
    plan_codes = {p.value for p in PlanType} | {p.cpis_information_code for p in PlanType}
    for category in team.get("category") or []:
        for coding in (category or {}).get("coding") or []:
            if isinstance(coding, dict) and coding.get("code") in plan_codes:
                return True
    return False


def _has_treatment_plan(bundle: JSON) -> bool:
    """A group holding a CarePlan of the toolkit's HealthTreatmentPlan profile."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "CarePlan":
            profiles = (resource.get("meta") or {}).get("profile") or []
            if any(str(p).endswith("/StructureDefinition/HealthTreatmentPlan") for p in profiles):
                return True
    return False


class FhirFlags:
    """CP-IS flags from a FHIR endpoint (the CP-IS FHIR API's CareTeam search)."""

    def __init__(self, client: Any, to_artefact: ToArtefact) -> None:
        """``client``: an ``interop.transport.fhir_client.FhirClient`` (used from one thread
        at a time); ``to_artefact``: ``interop.mappings.fhir.fhir_to_artefact``."""
        self._client = client
        self._to_artefact = to_artefact
        self._lock = threading.Lock()

    def flags_for(self, nhs_number: str, day: date) -> list[FlagFact]:
        """The child's CareTeams read silently, their LA and Patient read by reference."""
        from interop.transport.bundles import references, relative_reference
        from interop.transport.cpis_api import CpisApi
        from interop.transport.fhir_client import FhirClientError

        with self._lock:
            try:
                found = CpisApi(self._client).care_teams(nhs_number)
                teams = [t for t in found if _is_flag_team(t)]
                wanted = {
                    target
                    for team in teams
                    for reference in references(team)
                    if (target := relative_reference(reference)) is not None
                }
                named = self._client.read_many(sorted(wanted)) if wanted else {}
            except FhirClientError as exc:
                raise LookupFailed(f"flag lookup failed: {exc}") from None
        artefacts = _artefacts([*teams, *named.values()], self._to_artefact, lambda _: True)
        facts = [FlagFact.of_flag(a) for a in artefacts if isinstance(a, ChildProtectionFlag)]
        return [f for f in facts if f.held_on(day)]

    def close(self) -> None:
        """Close the client."""
        self._client.close()


class FhirPlans:
    """Health treatment plans from a FHIR endpoint: the child's CarePlans and what they name."""

    def __init__(self, client: Any, to_artefact: ToArtefact) -> None:
        self._client = client
        self._to_artefact = to_artefact
        self._lock = threading.Lock()

    def plans_for(self, nhs_number: str) -> list[HealthTreatmentPlan]:
        """Every health treatment plan found for the child."""
        from interop.transport.fhir_client import FhirClientError

        with self._lock:
            try:
                resources = self._client.patient_record(
                    nhs_number, types=("CarePlan", "MedicationStatement")
                )
            except FhirClientError as exc:
                raise LookupFailed(f"treatment plan lookup failed: {exc}") from None
        artefacts = _artefacts(resources, self._to_artefact, _has_treatment_plan)
        return [a for a in artefacts if isinstance(a, HealthTreatmentPlan)]

    def close(self) -> None:
        """Close the client."""
        self._client.close()
