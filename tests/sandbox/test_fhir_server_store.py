"""The FHIR sandbox's parts below HTTP: the SQLite store, search parsing, indexing, Bundles,
and ``interop serve`` as a real process."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from interop.identifiers import NHS_NUMBER_SYSTEM
from interop.sandbox.fhir_server.bundles import to_transaction
from interop.sandbox.fhir_server.indexing import index_rows
from interop.sandbox.fhir_server.search import SearchError, date_range, parse_search
from interop.sandbox.fhir_server.store import (
    Conflict,
    Gone,
    NotFound,
    PreconditionFailed,
    SqliteStore,
    StoreError,
)

NHS = NHS_NUMBER_SYSTEM
JSON = dict[str, Any]


def patient(pid: str, nhs: str = "9434765919") -> JSON:
    return {"resourceType": "Patient", "id": pid, "identifier": [{"system": NHS, "value": nhs}]}


def flag(fid: str, subject: JSON, status: str = "active") -> JSON:
    return {
        "resourceType": "Flag",
        "id": fid,
        "status": status,
        "code": {"coding": [{"system": "https://example.org/cs", "code": "CP-IS"}]},
        "subject": subject,
    }


def by_nhs(store: SqliteStore, kind: str, nhs: str) -> list[str]:
    """``patient:identifier``: what the references' Reference.identifier say."""
    query = parse_search(kind, [("patient:identifier", f"{NHS}|{nhs}")])
    return [s.id for s in store.search(query).resources]


def by_chain(store: SqliteStore, kind: str, nhs: str) -> list[str]:
    """``patient.identifier``: the identifiers of the stored Patient referred to."""
    query = parse_search(kind, [("patient.identifier", f"{NHS}|{nhs}")])
    return [s.id for s in store.search(query).resources]


@pytest.fixture
def store() -> SqliteStore:
    return SqliteStore(None)


# --- the store -------------------------------------------------------------------------------


def test_versions_are_the_servers_and_identical_content_writes_nothing(store: SqliteStore) -> None:
    first = store.update({**patient("p1"), "meta": {"versionId": "77", "profile": ["x"]}})
    assert (first.created, first.changed, first.stored.version) == (True, True, 1)
    assert first.stored.resource is not None
    assert first.stored.resource["meta"]["versionId"] == "1"
    assert first.stored.resource["meta"]["profile"] == ["x"]  # the client's meta is kept
    assert list(first.stored.resource)[:3] == ["resourceType", "id", "meta"]
    again = store.update({**patient("p1"), "meta": {"profile": ["x"]}})
    assert (again.created, again.changed, again.stored.version) == (False, False, 1)
    changed = store.update({**patient("p1", "9434765870"), "meta": {"profile": ["x"]}})
    assert (changed.changed, changed.stored.version) == (True, 2)
    assert [v.version for v in store.history("Patient", "p1")] == [2, 1]
    assert store.vread("Patient", "p1", 1).resource["identifier"][0]["value"] == "9434765919"  # type: ignore[index]


def test_refusals(store: SqliteStore) -> None:
    store.create(patient("p1"))
    with pytest.raises(Conflict):
        store.create(patient("p1"))
    with pytest.raises(PreconditionFailed):
        store.update(patient("p1", "9434765870"), if_match=3)
    with pytest.raises(NotFound):
        store.read("Patient", "nobody")
    with pytest.raises(NotFound):
        store.vread("Patient", "p1", 2)
    assert store.delete("Patient", "p1") is not None
    assert store.delete("Patient", "p1") is None
    with pytest.raises(Gone):
        store.read("Patient", "p1")
    with pytest.raises(Gone):
        store.vread("Patient", "p1", 2)
    recreated = store.update(patient("p1"))
    assert (recreated.created, recreated.stored.version) == (True, 3)


def _create_then_fail(store: SqliteStore, pid: str) -> None:
    with store.transaction():
        store.create(patient(pid))
        raise RuntimeError("boom")


def test_a_transaction_is_all_or_nothing_and_nests_as_savepoints(store: SqliteStore) -> None:
    with pytest.raises(RuntimeError):
        _create_then_fail(store, "a")
    with pytest.raises(NotFound):
        store.read("Patient", "a")
    with store.transaction():
        store.create(patient("b"))
        with pytest.raises(RuntimeError):
            _create_then_fail(store, "c")
        store.create(patient("d"))
    assert store.read("Patient", "b").version == 1
    assert store.read("Patient", "d").version == 1
    with pytest.raises(NotFound):
        store.read("Patient", "c")


def test_patient_index_follows_the_patient_whenever_it_is_written(store: SqliteStore) -> None:
    store.create(flag("f1", {"reference": "Patient/p1"}))  # before its Patient
    assert by_chain(store, "Flag", "9434765919") == []
    store.create(patient("p1"))
    assert by_chain(store, "Flag", "9434765919") == ["f1"]
    store.update(patient("p1", "9434765870"))  # the Patient's NHS number is corrected
    assert by_chain(store, "Flag", "9434765919") == []
    assert by_chain(store, "Flag", "9434765870") == ["f1"]
    logical = {"identifier": {"system": NHS, "value": "9876543210"}}
    store.create(flag("f2", logical))
    assert by_nhs(store, "Flag", "9876543210") == ["f2"]
    assert by_chain(store, "Flag", "9876543210") == []  # no Patient to chain through
    absolute = {"reference": "http://elsewhere.example/fhir/Patient/p1/_history/2"}
    store.create(flag("f3", absolute))
    assert by_chain(store, "Flag", "9434765870") == ["f1", "f3"]
    ref_query = parse_search("Flag", [("subject", "Patient/p1")])
    assert [s.id for s in store.search(ref_query).resources] == ["f1", "f3"]


def test_identifier_modifier_matches_reference_identifier_only(store: SqliteStore) -> None:
    """FHIR R4: ``:identifier`` matches Reference.identifier, never the identifiers of the
    resource a literal reference points to (that is the chain)."""
    store.create(patient("p1"))
    store.create(flag("literal", {"reference": "Patient/p1"}))
    both = {"reference": "Patient/p1", "identifier": {"system": NHS, "value": "9434765919"}}
    store.create(flag("both", both))
    assert by_nhs(store, "Flag", "9434765919") == ["both"]
    assert by_chain(store, "Flag", "9434765919") == ["literal", "both"]


def test_sort_summary_count_and_total(store: SqliteStore) -> None:
    for i in range(5):
        store.create(patient(f"s{i}"))
    store.update(patient("s0", "9434765870"))  # now the latest change
    newest = parse_search("Patient", [("_sort", "-_lastUpdated"), ("_count", "2")])
    first = store.search(newest)
    assert [s.id for s in first.resources] == ["s0", "s4"]
    assert first.next_cursor is not None
    rest = parse_search(
        "Patient",
        [("_sort", "-_lastUpdated"), ("_count", "2"), ("_cursor", first.next_cursor.token())],
    )
    assert [s.id for s in store.search(rest).resources] == ["s3", "s2"]
    oldest = parse_search("Patient", [("_sort", "_lastUpdated")])
    assert [s.id for s in store.search(oldest).resources] == ["s1", "s2", "s3", "s4", "s0"]
    counted = store.search(parse_search("Patient", [("_summary", "count")]))
    assert (counted.resources, counted.total) == ([], 5)


def test_lenient_parsing_ignores_and_names_what_it_cannot_run() -> None:
    query = parse_search("Flag", [("name", "x"), ("code:text", "plan")], strict=False)
    assert len(query.ignored) == 2
    assert query.ignored[0].startswith("name: not a search parameter")
    with pytest.raises(SearchError):
        parse_search("Flag", [("name", "x")])  # strict, as a conditional's criteria are


def test_search_pages_by_a_keyset_cursor_within_a_snapshot(store: SqliteStore) -> None:
    for i in range(25):
        store.create(patient(f"p{i:02d}"))
    query = parse_search("Patient", [("identifier", f"{NHS}|9434765919"), ("_count", "10")])
    first = store.search(query)
    assert (len(first.resources), first.total) == (10, 25)
    store.create(patient("late"))  # added after the first page
    seen = [s.id for s in first.resources]
    cursor = first.next_cursor
    while cursor is not None:
        page = store.search(
            parse_search("Patient", [("_count", "10"), ("_cursor", cursor.token())])
        )
        seen.extend(s.id for s in page.resources)
        cursor = page.next_cursor
    assert seen == [f"p{i:02d}" for i in range(25)]


def test_search_is_driven_by_the_index(store: SqliteStore) -> None:
    query = parse_search(
        "CareTeam",
        [
            ("patient:identifier", f"{NHS}|9434765919"),
            ("status", "active"),
            ("_lastUpdated", "gt2020"),
        ],
    )
    plan = store.explain(query)
    assert any("search_lookup" in step for step in plan)
    assert not any(step.startswith("SCAN") for step in plan), plan
    assert any("PRIMARY KEY" in step for step in plan)


def test_concurrent_writers_and_readers(store: SqliteStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(40):
                store.create(flag(f"t{n}-{i}", {"reference": f"Patient/t{n}"}))
                store.search(parse_search("Flag", [("status", "active")]))
            store.create(patient(f"t{n}", "9876543210"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    query = parse_search("Flag", [("patient.identifier", f"{NHS}|9876543210")])
    assert store.search(query).total == 6 * 40
    assert store.search(parse_search("Flag", [("_count", "0")])).total == 240


def test_a_file_store_persists_and_refuses_other_databases(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.sqlite"
    first = SqliteStore(path)
    first.create(patient("kept"))
    first.close()
    again = SqliteStore(path)
    assert again.read("Patient", "kept").version == 1
    assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE something (x)")
    with pytest.raises(StoreError, match="not a FHIR sandbox database"):
        SqliteStore(other)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError):
        SqliteStore(garbage)
    with pytest.raises(StoreError):
        SqliteStore(tmp_path / "no-such-folder" / "x.sqlite")


# --- search parsing, indexing, Bundles ---------------------------------------------------------


def test_tokens_escapes_and_alternatives() -> None:
    query = parse_search(
        "Flag", [("identifier", r"a\|b|c"), ("code", r"x\,y,z|"), ("status", "active")]
    )
    assert [c.alternatives for c in query.tokens] == [
        (("a|b", "c"),),
        ((None, "x,y"), ("z", None)),
        ((None, "active"),),
    ]


def test_date_ranges() -> None:
    assert date_range("d", "2024") == ("2024-01-01T00:00:00.000000Z", "2025-01-01T00:00:00.000000Z")
    assert date_range("d", "2024-12")[1] == "2025-01-01T00:00:00.000000Z"
    assert date_range("d", "2024-02-28")[1] == "2024-02-29T00:00:00.000000Z"
    assert date_range("d", "2024-01-01T10:00+01:00") == (
        "2024-01-01T09:00:00.000000Z",
        "2024-01-01T09:01:00.000000Z",
    )
    assert date_range("d", "2024-01-01T10:00:00.5Z")[1] == "2024-01-01T10:00:00.600000Z"


@pytest.mark.parametrize(
    "pair",
    [
        ("name", "x"),
        ("code:text", "x"),
        ("status", ""),
        ("code", "a,,b"),
        ("identifier", "|"),
        ("_lastUpdated", "ne2024"),
        ("_lastUpdated", "2024-02-30"),
        ("_id", "bad id"),
        ("_include", "Patient:subject"),
        ("patient", "Organization/x"),
        ("_cursor", "abc"),
    ],
)
def test_search_errors_name_the_parameter(pair: tuple[str, str]) -> None:
    with pytest.raises(SearchError) as caught:
        parse_search("Flag", [pair])
    assert caught.value.parameter == pair[0]


def test_the_supported_types_are_those_the_structure_check_reads() -> None:
    from interop.fhir.structure import model_class
    from interop.sandbox.fhir_server.capability import R4_RESOURCE_TYPES, SUPPORTED_TYPES

    readable = {t for t in R4_RESOURCE_TYPES if model_class(t) is not None}
    assert readable - {"OperationOutcome", "Parameters"} == SUPPORTED_TYPES


def test_the_written_out_search_parameters_are_those_of_the_models() -> None:
    """The CapabilityStatement's table, against the elements each model has."""
    from interop.fhir.structure import model_class
    from interop.sandbox.fhir_server.capability import SEARCH_PARAM_TYPES, SUPPORTED_TYPES

    expected: dict[str, set[str]] = {name: set() for name in SEARCH_PARAM_TYPES}
    for resource_type in SUPPORTED_TYPES:
        cls = model_class(resource_type)
        assert cls is not None
        fields = set(cls.model_fields)
        for name in ("identifier", "status", "code", "category"):
            if name in fields:
                expected[name].add(resource_type)
        if fields & {"subject", "patient", "for_fhir"} or resource_type == "AuditEvent":
            expected["patient"].add(resource_type)
    assert {name: set(types) for name, types in SEARCH_PARAM_TYPES.items()} == expected


def test_count_is_capped() -> None:
    assert parse_search("Flag", [("_count", "5000")]).count == 1000
    assert parse_search("Flag", [], default_count=7).count == 7


def test_index_rows_of_a_flag() -> None:
    resource = {
        **flag("f", {"identifier": {"system": NHS, "value": "9434765919"}, "type": "Patient"}),
        "identifier": [{"system": "s", "value": "v"}],
        "category": [{"coding": [{"system": "c", "code": "safety"}]}],
    }
    rows = index_rows(resource, lambda _: [])
    assert set(rows) == {
        ("identifier", "s", "v"),
        ("status", "", "active"),
        ("code", "https://example.org/cs", "CP-IS"),
        ("category", "c", "safety"),
        ("patient", NHS, "9434765919"),
    }
    organisation = flag(
        "g", {"identifier": {"system": "ods", "value": "X"}, "type": "Organization"}
    )
    assert not [r for r in index_rows(organisation, lambda _: []) if r[0] == "patient"]


def test_to_transaction() -> None:
    collection = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:1", "resource": patient("1")},
            {"resource": {"resourceType": "Basic"}},
        ],
    }
    transaction = to_transaction(collection)
    assert transaction["type"] == "transaction"
    assert [e["request"] for e in transaction["entry"]] == [
        {"method": "PUT", "url": "Patient/1"},
        {"method": "POST", "url": "Basic"},
    ]
    assert transaction["entry"][0]["fullUrl"] == "urn:uuid:1"
    assert to_transaction(transaction) is transaction
    with pytest.raises(ValueError, match="Bundle"):
        to_transaction({"resourceType": "Patient"})


# --- interop serve -----------------------------------------------------------------------------

SERVE = [sys.executable, "-c", "from interop.cli.serve_cmd import serve; serve()"]


def _start(db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*SERVE, "--db", str(db), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base = process.stdout.readline().strip()
    assert base.startswith("http://127.0.0.1:"), base
    assert base.endswith("/fhir"), base
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/Patient?_count=0").status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("interop serve did not answer")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    return stderr


@pytest.mark.integration
def test_interop_serve_persists_across_restarts_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "serve.sqlite"
    process, base = _start(db)
    try:
        created = httpx.post(
            f"{base}/Patient",
            json=patient("ignored"),
            headers={"Content-Type": "application/fhir+json"},
        )
        assert created.status_code == 201
        pid = created.json()["id"]
    finally:
        stderr = _stop(process)
    assert "not for production" in stderr.lower()
    assert "not for real patient data" in stderr.lower()
    process, base = _start(db)
    try:
        assert httpx.get(f"{base}/Patient/{pid}").json()["identifier"][0]["value"] == "9434765919"
    finally:
        _stop(process)


@pytest.mark.integration
def test_interop_serve_refuses_a_database_that_is_not_one(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("shopping list" * 200, encoding="utf-8")
    result = subprocess.run(
        [*SERVE, "--db", str(garbage), "--port", "0"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--db:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_the_serve_command_imports_no_server_until_run() -> None:
    code = (
        "import sys, interop.cli.serve_cmd; "
        "print(json.dumps([m for m in ('starlette', 'uvicorn', 'pydantic', 'fhir.resources') "
        "if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []
