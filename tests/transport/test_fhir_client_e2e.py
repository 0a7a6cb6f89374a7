"""The FHIR client and the push / pull / cpis lookup commands against the toolkit's own FHIR
sandbox (``interop.sandbox.fhir_server``)
on 127.0.0.1: every valid fixture pushed and read back, repeated
pushes that change nothing, paging over more than 1,000 resources, CP-IS lookups."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fhir_pull_support import as_pulled, nhs_of

from interop.artefact_json import dump_artefact
from interop.cli.main import cli
from interop.cli.push_cmd import push
from interop.domain import ArtefactBase, ChildProtectionFlag
from interop.issues import IssueCode, error
from interop.mappings.convert import read_artefact
from interop.mappings.fhir import artefact_to_fhir, fhir_to_artefact
from interop.sandbox.fhir_server.running import running_server
from interop.transport.bundles import assemble, resource_key, to_transaction
from interop.transport.cpis_api import AuditLog, CpisApi
from interop.transport.fhir_client import FhirClient
from interop.transport.flags import PatientFlags

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "artefacts"
VALID = sorted((FIXTURES / "valid").glob("*/*.json"))
FLAG_FIXTURE = FIXTURES / "valid" / "child-protection-flag" / "cpp-active.json"
#: the child of cpp-active and of ten other fixtures (three of them about her referrals, two
#: her assessments and two her section 47 outcomes)
FLAG_NHS = "9404405434"
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
JSON = dict[str, Any]


def load(path: Path) -> ArtefactBase:
    return read_artefact(path.read_bytes())[1]


class Counting(httpx.HTTPTransport):
    """The real network transport, counting what goes through it."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        return super().handle_request(request)


@pytest.fixture
def server() -> Iterator[str]:
    with running_server(page_size=50) as base:
        yield base


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def run_push(*args: str) -> tuple[int, str]:
    # `push` is not in cli/main.py's registry yet: invoke the command itself
    result = CliRunner().invoke(push, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def versions(client: FhirClient, keys: list[str]) -> dict[str, str]:
    found = client.read_many(keys)
    assert len(found) == len(set(keys))
    return {key: resource["meta"]["versionId"] for key, resource in found.items()}


# --- push ------------------------------------------------------------------------------------


def test_every_valid_fixture_pushes_and_a_repeated_push_changes_nothing(server: str) -> None:
    bundles = [artefact_to_fhir(load(path)) for path in VALID]
    assert len(bundles) >= 25
    children: set[str] = set()
    keys: list[str] = []
    with FhirClient(server) as client:
        for path, bundle in zip(VALID, bundles, strict=True):
            result = client.push(bundle)
            assert len(result.outcomes) == len(bundle["entry"])
            # the child's one Patient is created with their first artefact only; a later one
            # adds to it what it lacks (a new version) or finds it unchanged
            seen, _ = nhs_of(load(path)) in children, children.add(nhs_of(load(path)))
            assert result.created == len(bundle["entry"]) - seen
            keys.extend(o.resource for o in result.outcomes)
        before = versions(client, keys)
        assert {v for k, v in before.items() if not k.startswith("Patient/")} == {"1"}
        for bundle in bundles:
            again = client.push(bundle)
            assert again.created == 0
            assert {o.status for o in again.outcomes} == {"200 unchanged"}
        for bundle in bundles:
            client.push(bundle, mode="resources")
        assert versions(client, keys) == before  # no new versionId anywhere
        assert len(list(client.search("Flag", {}))) == sum(
            1 for b in bundles for e in b["entry"] if e["resource"]["resourceType"] == "Flag"
        )
        # one Patient per child: found by NHS number, referenced by all their artefacts
        assert len(list(client.search("Patient", {}))) == len(children)
        patients = list(client.search("Patient", {"identifier": f"{NHS_SYSTEM}|{FLAG_NHS}"}))
        assert len(patients) == 1
        pointing = list(client.search("Flag", {"patient": f"Patient/{patients[0]['id']}"}))
        flags = [
            e
            for path, bundle in zip(VALID, bundles, strict=True)
            if nhs_of(load(path)) == FLAG_NHS
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Flag"
        ]
        assert len(pointing) == len(flags) > 0


def test_a_changed_artefact_updates_in_place(server: str) -> None:
    flag = load(FLAG_FIXTURE)
    assert isinstance(flag, ChildProtectionFlag)
    ended = flag.model_copy(update={"plan_end": flag.plan_start + timedelta(days=30)})
    with FhirClient(server) as client:
        client.push(artefact_to_fhir(flag))
        result = client.push(artefact_to_fhir(ended))
        assert result.created == 0
        flags = PatientFlags(client).of_patient(FLAG_NHS)
    assert len(flags) == 1
    assert flags[0]["meta"]["versionId"] == "2"
    assert flags[0]["status"] == "inactive"


# --- pull ------------------------------------------------------------------------------------


def test_pull_by_patient_maps_back_to_the_artefacts_pushed(server: str) -> None:
    artefacts = [load(path) for path in VALID]
    with FhirClient(server) as client:
        for artefact in artefacts:
            client.push(artefact_to_fhir(artefact))
        for nhs in sorted({nhs_of(a) for a in artefacts}):
            groups = assemble(client.patient_record(nhs))
            pulled = sorted((fhir_to_artefact(g) for g in groups), key=lambda a: a.local_id)
            assert pulled == [a for a in as_pulled(artefacts) if nhs_of(a) == nhs]


def test_paging_over_more_than_1000_resources_by_patient_and_since(server: str) -> None:
    template = load(FLAG_FIXTURE)
    assert isinstance(template, ChildProtectionFlag)
    flags = [template.model_copy(update={"local_id": f"LCC-CP-2026-{i:05d}"}) for i in range(260)]
    bundles = [artefact_to_fhir(flag) for flag in flags]
    setup = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [e for b in bundles for e in to_transaction(b)["entry"]],
    }
    assert len(setup["entry"]) > 1000
    transport = Counting()
    with FhirClient(server, transport=transport) as client:
        client.transaction(setup)  # one request to set up; push itself is tested above
        transport.requests.clear()

        record = client.patient_record(FLAG_NHS)
        assert len(record) == len(setup["entry"])
        flag_pages = [r for r in transport.requests if r == ("GET", "/fhir/Flag")]
        assert len(flag_pages) == 6  # 260 flags, 50 a page: the next links were followed
        pulled = [fhir_to_artefact(group) for group in assemble(record)]
        assert sorted(a.local_id for a in pulled) == sorted(f.local_id for f in flags)

        everything = client.changed_since("2000-01-01")
        searched = ("Flag", "CareTeam", "Patient")  # the Organizations are not patient-linked
        assert everything.changed == {
            e["request"]["url"] for e in setup["entry"] if e["resource"]["resourceType"] in searched
        }
        assert len(everything.resources) == len(setup["entry"])
        assert everything.watermark is not None

        ended = [
            flag.model_copy(update={"plan_end": flag.plan_start + timedelta(days=10)})
            for flag in flags[100:103]
        ]
        for flag in ended:
            client.push(artefact_to_fhir(flag))
        since = client.changed_since(everything.watermark)
    changed_groups = [
        group
        for group in assemble(since.resources)
        if any(resource_key(e["resource"]) in since.changed for e in group["entry"])
    ]
    pulled = sorted((fhir_to_artefact(g) for g in changed_groups), key=lambda a: a.local_id)
    assert pulled == ended
    assert since.watermark is not None
    assert since.watermark > everything.watermark


# --- CP-IS and flags ---------------------------------------------------------------------------


def test_cpis_lookup_with_and_without_unscheduled_access(server: str, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with FhirClient(server, ods_code="RR8") as client:
        client.push(artefact_to_fhir(load(FLAG_FIXTURE)))
        cpis = CpisApi(client)
        teams = cpis.care_teams(FLAG_NHS)
        assert [t["category"][0]["coding"][0]["code"] for t in teams] == ["CPP"]
        assert cpis.audit_events(FLAG_NHS) == []  # a scheduled read is silent

        again = cpis.care_teams(
            FLAG_NHS, unscheduled=True, audit=AuditLog(log, "dr.b"), reason="ED attendance"
        )
        assert again == teams
        (event,) = cpis.audit_events(FLAG_NHS)
    agent = event["agent"][0]["who"]["identifier"]
    assert agent["value"] == "RR8"
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [line["phase"] for line in lines] == ["requested", "completed"]
    assert FLAG_NHS not in log.read_text(encoding="utf-8")


def test_flag_create_is_idempotent_and_ending_is_recorded(server: str) -> None:
    bundle = artefact_to_fhir(load(FLAG_FIXTURE))
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    new_flag = {
        "resourceType": "Flag",
        "identifier": [{"system": "https://example.org/fgm-flags", "value": "FGM-0001"}],
        "status": "active",
        "code": {
            "coding": [
                {
                    "system": "https://fhir.nhs.uk/England/CodeSystem/PatientFlagCategory",
                    "code": "FGM",
                }
            ]
        },
        "subject": {
            "reference": f"Patient/{patient['id']}",
            "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": FLAG_NHS},
        },
        "period": {"start": "2026-02-01"},
    }
    code = "https://fhir.nhs.uk/England/CodeSystem/PatientFlagCategory|FGM"
    with FhirClient(server) as client:
        client.push(bundle)
        flags = PatientFlags(client)
        first = flags.create(new_flag)
        second = flags.create(new_flag)
        assert first["id"] == second["id"]
        assert [f["id"] for f in flags.of_patient(FLAG_NHS, code=code)] == [first["id"]]
        ended = flags.end(first["id"], status="inactive", reason="Risk no longer present")
        assert (ended["status"], ended["meta"]["versionId"]) == ("inactive", "2")
        assert flags.end(first["id"], status="inactive", reason="again")["meta"]["versionId"] == "2"


# --- the commands ------------------------------------------------------------------------------


def test_cli_push_pull_and_lookup(server: str, tmp_path: Path) -> None:
    code, out = run_push(str(FIXTURES / "valid"), "--endpoint", server)
    assert code == 0, out
    assert out.count("pushed ") == len(VALID)
    code, out = run_push(str(FLAG_FIXTURE), "--endpoint", server)
    assert code == 0
    assert "0 created" in out

    out_dir = tmp_path / "pulled"
    code, out = run("pull", "--endpoint", server, "--patient", FLAG_NHS, "--out", str(out_dir))
    assert code == 0, out
    written = sorted(out_dir.rglob("*.json"))
    assert len(written) == 11
    flag = load(FLAG_FIXTURE)
    saved = out_dir / "child-protection-flag" / f"{flag.local_id}.json"
    assert saved.read_text(encoding="utf-8") == dump_artefact(flag) + "\n"
    assert FLAG_NHS not in out  # summaries are masked

    state = tmp_path / "state.sqlite"
    code, out = run(
        "pull",
        "--endpoint",
        server,
        "--since",
        "2000-01-01",
        "--state",
        str(state),
        "--new-state",
        "--out",
        str(tmp_path / "since"),
    )
    assert code == 0, out
    assert f"{len(VALID)} artefact(s)" in out
    assert "watermark of" in out
    code, out = run("pull", "--endpoint", server, "--since", "last", "--state", str(state))
    assert code == 0, out
    assert "0 artefact(s)" in out

    code, out = run("cpis", "lookup", FLAG_NHS, "--endpoint", server)
    assert code == 2
    assert "traced on PDS first" in out
    code, out = run("cpis", "lookup", FLAG_NHS, "--endpoint", server, "--already-traced")
    assert code == 0, out
    # the sandbox holds every artefact: the treatment plan's care team is found too
    assert "NHS *** *** 5434: 2 care team(s); scheduled lookup" in out
    assert (
        "Child protection plan (CPP), active, from 2026-06-09; Leicester City Council (LA465)"
        in out
    )

    log = tmp_path / "audit.jsonl"
    code, out = run(
        "cpis",
        "lookup",
        FLAG_NHS,
        "--endpoint",
        server,
        "--unscheduled",
        "--reason",
        "ED attendance",
        "--ods",
        "RR8",
        "--audit-log",
        str(log),
        "--history",
        "--already-traced",
    )
    assert code == 0, out
    assert "the local authority is notified" in out
    assert "access history: 1 event(s)" in out
    assert len(log.read_text(encoding="utf-8").splitlines()) == 2


def test_cli_dry_run_sends_nothing(server: str) -> None:
    code, out = run_push(str(FLAG_FIXTURE), "--endpoint", server, "--dry-run")
    assert code == 0, out
    assert "would PUT 4 resource(s)" in out
    with FhirClient(server) as client:
        assert list(client.search("Flag", {})) == []


def test_cli_usage_and_input_errors(server: str, tmp_path: Path) -> None:
    invalid = FIXTURES / "invalid" / "child-protection-flag" / "nhs-wrong-check-digit.json"
    code, out = run_push(str(invalid), str(FLAG_FIXTURE), "--endpoint", server)
    assert code == 1
    assert "not pushed, invalid" in out
    assert "pushed child-protection-flag" in out  # the valid file still went
    assert run("pull", "--endpoint", server)[0] == 2  # neither --patient nor --since
    assert run("pull", "--endpoint", server, "--patient", "9434765918")[0] == 1
    assert run("pull", "--endpoint", server, "--since", "yesterday")[0] == 2
    code, out = run("pull", "--endpoint", server, "--since", "last", "--state", str(tmp_path / "s"))
    assert code == 2
    assert "no state at" in out  # a missing state is never taken for a first run
    code, out = run(
        "pull",
        "--endpoint",
        server,
        "--since",
        "last",
        "--state",
        str(tmp_path / "s"),
        "--new-state",
    )
    assert code == 2
    assert "no watermark" in out
    assert run("cpis", "lookup", FLAG_NHS, "--endpoint", server, "--unscheduled")[0] == 2
    assert run("cpis", "lookup", FLAG_NHS, "--endpoint", server)[0] == 2  # not traced
    assert run("pull", "cpis", "--help")[0] == 0  # the CP-IS pull is still there
    assert (
        run_push(str(FLAG_FIXTURE), "--endpoint", "sandbox", "--config", str(tmp_path / "no"))[0]
        == 2
    )


def test_cli_remote_failure_prints_the_outcome_and_exits_3(tmp_path: Path) -> None:
    def refuse_flags(resource: JSON) -> list[Any]:
        if resource.get("resourceType") != "Flag":
            return []
        return [error(IssueCode.BUSINESS_RULE, "Flag.period", "flags are not taken here")]

    with running_server(validator=refuse_flags) as base:
        code, out = run_push(str(FLAG_FIXTURE), "--endpoint", base)
    assert code == 3
    assert "remote failure" in out
    assert "flags are not taken here" in out

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    config = tmp_path / "interop.toml"
    config.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.gone]\nkind = "fhir"\nurl = "http://127.0.0.1:{closed}/fhir"\n'
        "max_retries = 0\n",
        encoding="utf-8",
    )
    code, out = run("pull", "--endpoint", "gone", "--config", str(config), "--patient", FLAG_NHS)
    assert code == 3
    assert "connection failed" in out


def test_cli_named_endpoint_and_routing(server: str, tmp_path: Path) -> None:
    config = tmp_path / "interop.toml"
    config.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.sandbox]\nkind = "fhir"\nurl = "{server}"\n'
        '[endpoints.police]\nkind = "mesh"\nmailbox = "X26POL01"\nworkflow_id = "W"\n'
        '[directory.LA465]\nname = "Leicester City Council"\nrole = "local-authority"\n'
        'partners = ["RWE", "P465"]\n'
        '[directory.RWE]\nname = "Trust"\nrole = "health"\nendpoints = ["sandbox"]\n'
        '[directory.P465]\nname = "Police"\nrole = "police"\nendpoints = ["police"]\n',
        encoding="utf-8",
    )
    code, out = run_push(str(FLAG_FIXTURE), "--endpoint", "sandbox", "--config", str(config))
    assert code == 0, out
    code, out = run_push(str(FLAG_FIXTURE), "--route", "--config", str(config), "--dry-run")
    assert "route to sandbox: RWE" in out
    assert "mesh endpoint police: push sends to fhir endpoints only" in out
    assert code == 1
    code, out = run_push(str(FLAG_FIXTURE), "--endpoint", "sandbx", "--config", str(config))
    assert code == 2
    assert "did you mean 'sandbox'" in out
