"""The endpoint directory routes each artefact to its recipients' endpoints by ODS code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interop.config import Config, load_config
from interop.domain import ArtefactBase, Organisation
from interop.mappings.convert import read_artefact
from interop.transport.directory import EndpointDirectory, recipients

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "artefacts" / "valid"

CONFIG = """\
[environment]
name = "test"

[endpoints.la465-fhir]
kind = "fhir"
url = "http://127.0.0.1:9/la465"

[endpoints.trust-fhir]
kind = "fhir"
url = "http://127.0.0.1:9/trust"

[endpoints.trust-flags-only]
kind = "fhir"
url = "http://127.0.0.1:9/trust-flags"
artefacts = ["child-protection-flag"]

[endpoints.police-mesh]
kind = "mesh"
mailbox = "X26POL01"
workflow_id = "TEST_POLICE"

[endpoints.la382-fhir]
kind = "fhir"
url = "http://127.0.0.1:9/la382"
artefacts = ["travel-alert"]

[directory.LA465]
name = "Leicester City Council"
role = "local-authority"
endpoints = ["la465-fhir"]
partners = ["RWE", "P465"]

[directory.RWE]
name = "University Hospitals of Leicester"
role = "health"
endpoints = ["trust-fhir", "trust-flags-only"]

[directory.P465]
name = "Leicestershire Police"
role = "police"
endpoints = ["police-mesh"]

[directory.LA382]
name = "Receiving Council"
role = "local-authority"
endpoints = ["la382-fhir"]

[directory.LA380]
name = "Council without partners"
role = "local-authority"
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = tmp_path_factory.mktemp("directory") / "interop.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path, need=("endpoints", "directory"))


@pytest.fixture(scope="module")
def directory(config: Config) -> EndpointDirectory:
    return EndpointDirectory.from_config(config)


def fixture(kind: str, name: str, **changes: Any) -> ArtefactBase:
    artefact = read_artefact((FIXTURES / kind / f"{name}.json").read_bytes())[1]
    return artefact.model_copy(update=changes) if changes else artefact


def routes(directory: EndpointDirectory, artefact: ArtefactBase) -> set[tuple[str, str]]:
    return {(r.endpoint.name, r.ods_code) for r in directory.route(artefact).routes}


def test_a_flag_goes_to_the_local_authoritys_health_and_police_partners(
    directory: EndpointDirectory,
) -> None:
    flag = fixture("child-protection-flag", "cpp-active")  # LA465
    routing = directory.route(flag)
    assert routes(directory, flag) == {
        ("trust-fhir", "RWE"),
        ("trust-flags-only", "RWE"),
        ("police-mesh", "P465"),
    }
    assert routing.unroutable == ()
    assert routing.endpoints == ("trust-fhir", "trust-flags-only", "police-mesh")
    reasons = {r.reason for r in routing.routes}
    assert reasons == {"partner of the responsible LA LA465"}
    # the local authority's own endpoint is not a recipient of its own flag
    assert "la465-fhir" not in routing.endpoints


def test_a_travel_alert_goes_to_the_receiving_local_authority(
    directory: EndpointDirectory,
) -> None:
    alert = fixture("travel-alert", "planned-uk-move-no-risk")  # destination LA382
    assert routes(directory, alert) == {("la382-fhir", "LA382")}
    assert directory.route(alert).routes[0].reason == "receiving LA"


def test_endpoints_take_only_the_kinds_they_list(directory: EndpointDirectory) -> None:
    # RWE's second endpoint takes flags only; a report for a social worker of LA465 goes to
    # LA465 itself
    report = fixture("strategy-discussion-health-report", "s47-diabetes-neglect")
    assert routes(directory, report) == {("la465-fhir", "LA465")}
    checklist = fixture("health-needs-checklist", "initial-conference")  # chair of LA465
    assert routes(directory, checklist) == {("trust-fhir", "RWE"), ("police-mesh", "P465")}


def test_what_cannot_be_routed_is_said(directory: EndpointDirectory) -> None:
    unknown_la = fixture("child-protection-flag", "cpp-ended")  # LA380: no partners
    routing = directory.route(unknown_la)
    assert routing.routes == ()
    assert routing.unroutable == ("LA380 lists no partners in [directory]",)

    elsewhere = fixture("child-protection-flag", "cpp-minimal")  # LA373: not in the directory
    assert directory.route(elsewhere).unroutable == (
        "LA373 (partner of the responsible LA LA373) is not in [directory]",
    )

    nobody = fixture("strategy-discussion-health-report", "neither-minimal")
    assert directory.route(nobody).unroutable == (
        "a strategy-discussion-health-report here names no recipient organisation",
    )

    # LA382 takes travel alerts only: a treatment plan for its social worker has nowhere to go
    plan = fixture("health-treatment-plan", "type1-diabetes")
    worker = plan.cp_plan.key_social_worker  # type: ignore[attr-defined]
    moved = worker.model_copy(
        update={"organisation": Organisation(ods_code="LA382", name="Receiving Council")}
    )
    plan = plan.model_copy(
        update={"cp_plan": plan.cp_plan.model_copy(update={"key_social_worker": moved})}  # type: ignore[attr-defined]
    )
    routing = directory.route(plan)
    assert routing.routes == ()
    assert routing.unroutable == (
        "LA382 (the key social worker's LA) has no endpoint taking health-treatment-plan",
    )


def test_missing_child_alerts_go_to_every_authority_told(directory: EndpointDirectory) -> None:
    alert = fixture("travel-alert", "whereabouts-unknown-closed")
    told = [r.ods_code for r in recipients(alert)]
    assert told == ["LA307", "LA304", "LA330"]
    assert len(directory.route(alert).unroutable) == 3  # none of them is in this directory


def test_lookups_are_case_insensitive(directory: EndpointDirectory) -> None:
    entry = directory.entry("la465")
    assert entry is not None
    assert entry.name == "Leicester City Council"
    assert [p.ods_code for p in directory.partners("LA465")] == ["RWE", "P465"]
    assert directory.entry("ZZZ") is None
    assert directory.partners("ZZZ") == []
