"""Where the sandbox keeps resources: the ``ResourceStore`` interface and its SQLite back end.

Every version of every resource is kept (vread and history read them). The server owns
``meta.versionId`` (1, 2, 3 ...) and ``meta.lastUpdated``; writing content equal to the current
version's (server meta aside) writes nothing, so repeating a PUT or a transaction is idempotent.
Search parameters are indexed when a resource is written (``.indexing``), so a
search is an SQL query on the index, and pages follow a keyset cursor on the order resources
were first created, bounded by a snapshot taken at the first page: adding resources while a
client pages never shifts, repeats or skips an entry.

``SqliteStore`` is the embedded default; the interface is small enough for a PostgreSQL store
to follow. It is a development sandbox: one connection, serialised by a lock, is plenty.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from interop.sandbox.fhir_server.indexing import IndexRow, identifiers_of, index_rows
from interop.sandbox.fhir_server.search import Cursor, SearchQuery, instant_text

Resource = dict[str, Any]

# /2: patient rows hold Reference.identifier only, patient-chain rows the stored Patient's
SCHEMA_ID = "interop-fhir-sandbox/2"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (       -- the current version of each resource
    pk INTEGER PRIMARY KEY AUTOINCREMENT,    -- creation order: the paging key, never reused
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,              -- fixed-width UTC instant: sorts as text
    deleted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS resources_updated ON resources (type, last_updated);
CREATE INDEX IF NOT EXISTS resources_by_type ON resources (type, deleted);  -- then pk: pages
CREATE TABLE IF NOT EXISTS versions (        -- every version, for vread and history
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,
    content TEXT,                            -- NULL: the version that deleted the resource
    PRIMARY KEY (type, id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS search_index (
    pk INTEGER NOT NULL,
    type TEXT NOT NULL,
    param TEXT NOT NULL,
    system TEXT NOT NULL,                    -- '' when the token has no system
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_lookup ON search_index (type, param, value, system, pk);
CREATE INDEX IF NOT EXISTS search_by_resource ON search_index (pk);
CREATE INDEX IF NOT EXISTS search_patient_ref ON search_index (value) WHERE param = 'patient-ref';
"""


class StoreError(Exception):
    """The store cannot do what was asked; subclasses say why."""


class NotFound(StoreError):
    """No such resource (or version)."""


class Gone(StoreError):
    """The resource (or that version of it) was deleted."""


class PreconditionFailed(StoreError):
    """An If-Match version does not match, or a conditional operation matched several."""


class Conflict(StoreError):
    """A create with an id that is already taken."""


class InvalidRequest(StoreError):
    """A write the store cannot take as asked (a conditional update whose id disagrees)."""


@dataclass(frozen=True)
class StoredResource:
    """One version of a resource; ``resource`` is None for the version that deleted it."""

    resource_type: str
    id: str
    version: int
    last_updated: str
    resource: Resource | None

    @property
    def deleted(self) -> bool:
        """Whether this version is a deletion."""
        return self.resource is None

    @property
    def reference(self) -> str:
        """``Type/id``."""
        return f"{self.resource_type}/{self.id}"


@dataclass(frozen=True)
class WriteOutcome:
    """What a write did: ``created`` a new resource, ``changed`` it (a new version), or neither
    (identical content, or a conditional create that found its match)."""

    stored: StoredResource
    created: bool
    changed: bool


@dataclass(frozen=True)
class SearchPage:
    """One page of matches, the number of matches in the snapshot, and the next page's cursor."""

    resources: list[StoredResource]
    total: int
    next_cursor: Cursor | None


class ResourceStore(Protocol):
    """What the FHIR sandbox needs of a store. Writes are atomic; ``transaction()`` groups
    several into one all-or-nothing unit (nested use joins the outer one)."""

    def create(self, resource: Resource) -> WriteOutcome:
        """Store a new resource with ``resource['id']`` when given, else a new UUID."""
        ...

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        """The current version; ``NotFound`` or ``Gone``."""
        ...

    def vread(self, resource_type: str, resource_id: str, version: int) -> StoredResource:
        """One version; ``NotFound`` or ``Gone`` (the version is a deletion)."""
        ...

    def update(self, resource: Resource, *, if_match: int | None = None) -> WriteOutcome:
        """Write ``resource`` under its id (creating it when absent); same content: no-op."""
        ...

    def delete(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """Delete; the deletion version, or None when already deleted; ``NotFound``."""
        ...

    def conditional_create(self, resource: Resource, criteria: SearchQuery) -> WriteOutcome:
        """Create unless ``criteria`` match one resource (returned unchanged); several: 412."""
        ...

    def conditional_update(
        self, resource: Resource, criteria: SearchQuery, *, if_match: int | None = None
    ) -> WriteOutcome:
        """Update the one resource ``criteria`` match, or create; several: 412."""
        ...

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of the resources matching ``query``, in creation order."""
        ...

    def history(self, resource_type: str, resource_id: str) -> list[StoredResource]:
        """Every version, newest first; ``NotFound``."""
        ...

    def transaction(self) -> AbstractContextManager[ResourceStore]:
        """A unit of work: everything in it is stored, or nothing when it raises."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


def now_instant() -> str:
    """The current time as the store writes ``meta.lastUpdated``."""
    return instant_text(datetime.now(UTC))


def _dump(resource: Resource) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def comparable(resource: Resource) -> Resource:
    """The content that decides whether a write changes a resource: all but the id and the
    server's own meta (versionId, lastUpdated)."""
    body = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    meta = resource.get("meta")
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        if kept:
            body["meta"] = kept
    return body


def _stamped(resource: Resource, resource_id: str, version: int, stamp: str) -> Resource:
    meta = resource.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta.update(versionId=str(version), lastUpdated=stamp)
    stored: Resource = {"resourceType": resource["resourceType"], "id": resource_id, "meta": meta}
    stored.update((k, v) for k, v in resource.items() if k not in ("resourceType", "id", "meta"))
    return stored


class SqliteStore:
    """The sandbox's resources in SQLite: a file (WAL journal) or, with ``path=None``, memory.

    One connection serves every thread, one at a time; ``transaction()`` holds it for the
    whole unit, so concurrent requests see each other's writes whole or not at all.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self._stamp = now_instant()
        target = ":memory:" if path is None else str(path)
        try:
            self._db = sqlite3.connect(
                target, check_same_thread=False, isolation_level=None, timeout=30
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {target}: {exc}") from None
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{target} cannot be used as the sandbox's database: {exc}") from None

    def _prepare(self) -> None:
        tables = {
            row[0]
            for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "sandbox_meta" not in tables:
            raise sqlite3.DatabaseError("it holds other tables: not a FHIR sandbox database")
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM sandbox_meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO sandbox_meta VALUES ('schema', ?)", (SCHEMA_ID,))
        elif row[0] != SCHEMA_ID:
            raise sqlite3.DatabaseError(f"schema {row[0]!r}, this version reads {SCHEMA_ID!r}")

    # --- units of work ----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[SqliteStore]:
        """A unit of work (a savepoint when nested): committed whole, or rolled back."""
        with self._lock:
            depth = self._depth
            if depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
                # every write of one unit shares one lastUpdated, as a transaction should
                self._stamp = now_instant()
            else:
                self._db.execute(f"SAVEPOINT unit{depth}")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth = depth
                if depth == 0:
                    self._db.execute("ROLLBACK")
                else:
                    self._db.execute(f"ROLLBACK TO unit{depth}")
                    self._db.execute(f"RELEASE unit{depth}")
                raise
            self._depth = depth
            self._db.execute("COMMIT" if depth == 0 else f"RELEASE unit{depth}")

    def close(self) -> None:
        """Close the database (a WAL checkpoint folds the journal into the file)."""
        with self._lock:
            self._db.close()

    # --- reading ----------------------------------------------------------------------------

    def _current(self, resource_type: str, resource_id: str) -> tuple[int, int, bool] | None:
        row = self._db.execute(
            "SELECT pk, version, deleted FROM resources WHERE type = ? AND id = ?",
            (resource_type, resource_id),
        ).fetchone()
        return (row[0], row[1], bool(row[2])) if row else None

    def _version(self, resource_type: str, resource_id: str, version: int) -> StoredResource:
        row = self._db.execute(
            "SELECT last_updated, content FROM versions WHERE type = ? AND id = ? AND version = ?",
            (resource_type, resource_id, version),
        ).fetchone()
        if row is None:
            raise NotFound(f"{resource_type}/{resource_id} has no version {version}")
        content = json.loads(row[1]) if row[1] is not None else None
        return StoredResource(resource_type, resource_id, version, row[0], content)

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        """The current version; ``NotFound`` or ``Gone``."""
        with self._lock:
            current = self._current(resource_type, resource_id)
            if current is None:
                raise NotFound(f"{resource_type}/{resource_id} is not known")
            stored = self._version(resource_type, resource_id, current[1])
        if stored.deleted:
            raise Gone(f"{resource_type}/{resource_id} was deleted")
        return stored

    def vread(self, resource_type: str, resource_id: str, version: int) -> StoredResource:
        """One version; ``NotFound`` or ``Gone`` (that version is a deletion)."""
        with self._lock:
            stored = self._version(resource_type, resource_id, version)
        if stored.deleted:
            raise Gone(f"version {version} of {resource_type}/{resource_id} is a deletion")
        return stored

    def history(self, resource_type: str, resource_id: str) -> list[StoredResource]:
        """Every version, newest first; ``NotFound``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT version, last_updated, content FROM versions WHERE type = ? AND id = ? "
                "ORDER BY version DESC",
                (resource_type, resource_id),
            ).fetchall()
        if not rows:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        return [
            StoredResource(
                resource_type, resource_id, v, at, json.loads(c) if c is not None else None
            )
            for v, at, c in rows
        ]

    # --- searching --------------------------------------------------------------------------

    @staticmethod
    def _conditions(query: SearchQuery) -> tuple[list[str], list[Any]]:
        # With index clauses, the index rows drive the query (pk IN ...): the unary '+' keeps
        # SQLite from walking all resources of the type by another index instead.
        plus = "+" if query.tokens else ""
        where = [f"{plus}r.type = ?", f"{plus}r.deleted = 0"]
        args: list[Any] = [query.resource_type]
        for clause in query.tokens:
            options: list[str] = []
            option_args: list[Any] = []
            for system, value in clause.alternatives:
                parts = ["1"]
                if value is not None:
                    parts.append("value = ?")
                    option_args.append(value)
                if system is not None:
                    parts.append("system = ?")
                    option_args.append(system)
                options.append("(" + " AND ".join(parts) + ")")
            where.append(
                "r.pk IN (SELECT pk FROM search_index WHERE type = ? AND param = ? AND ("
                + " OR ".join(options)
                + "))"
            )
            args.extend((query.resource_type, clause.param, *option_args))
        for ids in query.ids:
            where.append(f"r.id IN ({', '.join('?' * len(ids))})")
            args.extend(ids)
        for date in query.last_updated:
            if date.prefix == "eq":
                where.append(f"{plus}r.last_updated >= ? AND {plus}r.last_updated < ?")
                args.extend((date.low, date.high))
            else:
                op, bound = {
                    "gt": (">=", date.high),
                    "ge": (">=", date.low),
                    "lt": ("<", date.low),
                    "le": ("<", date.high),
                }[date.prefix]
                where.append(f"{plus}r.last_updated {op} ?")
                args.append(bound)
        return where, args

    def _page_sql(self, query: SearchQuery) -> tuple[str, str, list[Any]]:
        """The count and page queries of a search, and their arguments before the snapshot
        bound (count: + upto; page: + upto, after, limit)."""
        where, args = self._conditions(query)
        sql_where = " AND ".join([*where, "r.pk <= ?"])
        count = f"SELECT count(*) FROM resources r WHERE {sql_where}"
        select = (
            "SELECT r.pk, r.id, r.version, r.last_updated, v.content FROM resources r "
            "JOIN versions v ON v.type = r.type AND v.id = r.id AND v.version = r.version "
        )
        if query.sort is None:
            page = f"{select}WHERE {sql_where} AND r.pk > ? ORDER BY r.pk LIMIT ?"
        else:
            # sorted: the cursor's ``after`` is an offset (the rows before it; ? >= 0 keeps
            # the argument list the same shape)
            order = "DESC" if query.sort.startswith("-") else "ASC"
            page = (
                f"{select}WHERE {sql_where} AND ? >= 0 "
                f"ORDER BY r.last_updated {order}, r.pk {order} LIMIT ? OFFSET ?"
            )
        return count, page, args

    def explain(self, query: SearchQuery) -> list[str]:
        """SQLite's plan for a search's page query (to check it uses the indexes)."""
        _, page, args = self._page_sql(query)
        with self._lock:
            rows = self._db.execute(f"EXPLAIN QUERY PLAN {page}", (*args, 0, 0, 1)).fetchall()
        return [str(row[3]) for row in rows]

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of matches in creation order, within the snapshot of the first page."""
        count_sql, page_sql, args = self._page_sql(query)
        with self._lock:
            if query.cursor is None:
                upto = self._db.execute("SELECT coalesce(max(pk), 0) FROM resources").fetchone()[0]
                after = 0
            else:
                after, upto = query.cursor.after, query.cursor.upto
            total = self._db.execute(count_sql, (*args, upto)).fetchone()[0]
            if query.count_only:
                return SearchPage([], total, None)
            limit = (query.count + 1,) if query.sort is None else (query.count + 1, after)
            rows = self._db.execute(page_sql, (*args, upto, after, *limit)).fetchall()
        page = rows[: query.count]
        found = [
            StoredResource(query.resource_type, rid, version, at, json.loads(content))
            for _, rid, version, at, content in page
        ]
        more = len(rows) > query.count and query.count > 0
        if not more:
            return SearchPage(found, total, None)
        resume = page[-1][0] if query.sort is None else after + len(page)
        return SearchPage(found, total, Cursor(resume, upto))

    def _matches(self, criteria: SearchQuery) -> list[StoredResource]:
        bounded = SearchQuery(
            criteria.resource_type, criteria.tokens, criteria.ids, criteria.last_updated, count=2
        )
        return self.search(bounded).resources

    # --- writing ----------------------------------------------------------------------------

    def _patient_identifiers(self, patient_id: str) -> list[tuple[str, str]]:
        current = self._current("Patient", patient_id)
        if current is None or current[2]:
            return []
        patient = self._version("Patient", patient_id, current[1]).resource
        return identifiers_of(patient) if patient else []

    def _index(self, pk: int, resource_type: str, resource: Resource | None) -> None:
        self._db.execute("DELETE FROM search_index WHERE pk = ?", (pk,))
        if resource is None:
            return
        rows: list[IndexRow] = index_rows(resource, self._patient_identifiers)
        self._db.executemany(
            "INSERT INTO search_index (pk, type, param, system, value) VALUES (?, ?, ?, ?, ?)",
            [(pk, resource_type, *row) for row in rows],
        )

    def _reindex_referrers(self, patient_id: str) -> None:
        """A Patient changed: re-index the resources whose patient rows came from it."""
        referrers = self._db.execute(
            "SELECT DISTINCT r.pk, r.type, r.id, r.version FROM search_index s "
            "JOIN resources r ON r.pk = s.pk "
            "WHERE s.param = 'patient-ref' AND s.value = ? AND r.deleted = 0",
            (f"Patient/{patient_id}",),
        ).fetchall()
        for pk, resource_type, resource_id, version in referrers:
            self._index(
                pk, resource_type, self._version(resource_type, resource_id, version).resource
            )

    def _write(
        self,
        resource_type: str,
        resource_id: str,
        resource: Resource | None,
        *,
        if_match: int | None = None,
        must_be_new: bool = False,
    ) -> WriteOutcome:
        current = self._current(resource_type, resource_id)
        if must_be_new and current is not None:
            raise Conflict(f"{resource_type}/{resource_id} already exists")
        if if_match is not None and (current is None or current[1] != if_match):
            have = "does not exist" if current is None else f"is at version {current[1]}"
            raise PreconditionFailed(
                f"If-Match asks for version {if_match}; {resource_type}/{resource_id} {have}"
            )
        if current is not None and not current[2] and resource is not None:
            existing = self._version(resource_type, resource_id, current[1])
            assert existing.resource is not None
            if comparable(existing.resource) == comparable(resource):
                return WriteOutcome(existing, created=False, changed=False)
        version = current[1] + 1 if current else 1
        stamp = self._stamp
        stored = _stamped(resource, resource_id, version, stamp) if resource is not None else None
        self._db.execute(
            "INSERT INTO versions (type, id, version, last_updated, content) "
            "VALUES (?, ?, ?, ?, ?)",
            (resource_type, resource_id, version, stamp, _dump(stored) if stored else None),
        )
        deleted = int(stored is None)
        if current is None:
            cursor = self._db.execute(
                "INSERT INTO resources (type, id, version, last_updated, deleted) "
                "VALUES (?, ?, ?, ?, ?)",
                (resource_type, resource_id, version, stamp, deleted),
            )
            pk = cursor.lastrowid
            assert pk is not None
        else:
            pk = current[0]
            self._db.execute(
                "UPDATE resources SET version = ?, last_updated = ?, deleted = ? WHERE pk = ?",
                (version, stamp, deleted, pk),
            )
        self._index(pk, resource_type, stored)
        if resource_type == "Patient":
            self._reindex_referrers(resource_id)
        created = current is None or current[2]
        return WriteOutcome(
            StoredResource(resource_type, resource_id, version, stamp, stored), created, True
        )

    def create(self, resource: Resource) -> WriteOutcome:
        """Store a new resource with ``resource['id']`` when given, else a new UUID."""
        resource_id = resource.get("id") or str(uuid.uuid4())
        with self.transaction():
            return self._write(resource["resourceType"], resource_id, resource, must_be_new=True)

    def update(self, resource: Resource, *, if_match: int | None = None) -> WriteOutcome:
        """Write ``resource`` under its id (creating it when absent); same content: no-op."""
        if not resource.get("id"):
            raise InvalidRequest("an update needs the resource's id")
        with self.transaction():
            return self._write(
                resource["resourceType"], resource["id"], resource, if_match=if_match
            )

    def delete(self, resource_type: str, resource_id: str) -> StoredResource | None:
        """Delete; the deletion version, or None when it was already deleted; ``NotFound``."""
        with self.transaction():
            current = self._current(resource_type, resource_id)
            if current is None:
                raise NotFound(f"{resource_type}/{resource_id} is not known")
            if current[2]:
                return None
            return self._write(resource_type, resource_id, None).stored

    def conditional_create(self, resource: Resource, criteria: SearchQuery) -> WriteOutcome:
        """Create unless ``criteria`` match one resource (returned as is); several: 412."""
        with self.transaction():
            found = self._matches(criteria)
            if len(found) > 1:
                raise PreconditionFailed("the If-None-Exist criteria match more than one resource")
            if found:
                return WriteOutcome(found[0], created=False, changed=False)
            return self.create(resource)

    def conditional_update(
        self, resource: Resource, criteria: SearchQuery, *, if_match: int | None = None
    ) -> WriteOutcome:
        """Update the one resource ``criteria`` match, or create one; several: 412."""
        with self.transaction():
            found = self._matches(criteria)
            if len(found) > 1:
                raise PreconditionFailed("the update's criteria match more than one resource")
            if not found:
                if if_match is not None:
                    raise PreconditionFailed("If-Match given but nothing matches the criteria")
                return self.create(resource) if not resource.get("id") else self.update(resource)
            match = found[0]
            if resource.get("id") not in (None, match.id):
                raise InvalidRequest(
                    f"the resource's id is {resource['id']}; the criteria match {match.reference}"
                )
            return self.update({**resource, "id": match.id}, if_match=if_match)
