"""NHS numbers never reach a log in full, not even through the libraries the toolkit calls."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from echoing_server import echoing_server

from interop.cli.main import cli
from interop.privacy import mask_nhs_numbers_in
from interop.sandbox.fhir_server.running import running_server
from interop.transport.fhir_client import FhirClient, FhirError

NHS = "9434765919"


def test_runs_of_ten_digits_are_masked_bare_spaced_or_in_a_url() -> None:
    text = f"GET /Flag?patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C{NHS}"
    assert NHS not in mask_nhs_numbers_in(text)
    assert mask_nhs_numbers_in(text).endswith("%7C*** *** 5919")
    assert mask_nhs_numbers_in("child 943 476 5919 seen") == "child *** *** 5919 seen"
    # longer digit runs (timestamps, ids) are not NHS numbers and stay as they are
    assert mask_nhs_numbers_in("20260301101500") == "20260301101500"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ADT9434765919001", "ADT*** *** 5919001"),  # a sender's MSH-10 built on the number
        ("9434765919-1", "*** *** 5919-1"),
        ("943 476 5919", "*** *** 5919"),
        ("943-476-5919", "*** *** 5919"),
        ("id 943%20476%205919", "id *** *** 5919"),  # spaced, in a URL
        ("Patient/9434765919/_history/2", "Patient/*** *** 5919/_history/2"),
        ("visit-9434765918.hl7", "visit-*** *** 5918.hl7"),  # ten digits: masked, valid or not
        ("1119434765919", "111*** *** 5919"),  # inside a longer run: found by its check digit
    ],
)
def test_nhs_numbers_are_masked_in_every_form(text: str, masked: str) -> None:
    assert mask_nhs_numbers_in(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "control id 12345, V0001, port 2575, 127.0.0.1:54321",  # ids of other lengths
        "943476591",  # nine digits
        "20261207000001",  # a longer run with no ten digits passing the check
        "2026-03-01T10:15:00+00:00 2026-12-07 21:25:12,123",  # times as logged
        "0113 496 0001",  # a phone number, 4-3-4
        # uuids (resource and request ids) whose last group holds a run passing the check
        "not overwritten (Flag/d3f31117-5188-47fa-80a3-686480041519): HTTP 412",
        "Flag/705065ac-6458-4b37-be16-4b0377014146, request 22222222-2222-4222-8222-222222222222",
    ],
)
def test_what_is_not_an_nhs_number_stays_readable(text: str) -> None:
    assert mask_nhs_numbers_in(text) == text


def test_an_nhs_number_beside_a_uuid_is_still_masked() -> None:
    text = "Patient/9434765919 of Flag/705065ac-6458-4b37-be16-4b0377014146 (9434765919001)"
    assert mask_nhs_numbers_in(text) == (
        "Patient/*** *** 5919 of Flag/705065ac-6458-4b37-be16-4b0377014146 (*** *** 5919001)"
    )


def test_long_runs_can_be_kept_whole_for_text_quoting_a_file_back() -> None:
    # an HL7 timestamp and a uuid whose stretches pass the check by chance
    quoted = "20261102093000 urn:uuid:00000000-0000-4000-8000-000000000001"
    assert mask_nhs_numbers_in(quoted) != quoted
    assert mask_nhs_numbers_in(quoted, in_longer_runs=False) == quoted
    assert mask_nhs_numbers_in(f"PID {NHS}", in_longer_runs=False) == "PID *** *** 5919"


@pytest.mark.integration
def test_httpx_request_lines_at_info_carry_no_nhs_number(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # another test's command may have quietened httpx (interop listen does): ask for INFO here
    caplog.set_level(logging.INFO, logger="httpx")
    with running_server() as base, FhirClient(base) as client:
        assert list(client.search_by_patient("Flag", NHS)) == []
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("httpx")]
    assert any("Flag?" in line for line in lines), lines
    assert not any(NHS in line for line in lines)
    assert any("5919" in line for line in lines)


@pytest.mark.integration
def test_an_error_reading_a_patient_by_nhs_number_does_not_quote_it() -> None:
    # the sandbox answers 404 and names the resource it did not find
    with running_server() as base, FhirClient(base) as client, pytest.raises(FhirError) as caught:
        client.read("Patient", NHS)
    assert caught.value.status == 404
    said = [str(caught.value), *(issue.describe() for issue in caught.value.issues)]
    assert not any(NHS in text for text in said), said
    assert "Patient/*** *** 5919" in str(caught.value)


@pytest.mark.integration
@pytest.mark.parametrize("status", [404, 500])
def test_a_server_echoing_the_request_in_its_error_passes_no_nhs_number_on(status: int) -> None:
    with echoing_server(status) as base, FhirClient(base) as client:
        with pytest.raises(FhirError) as read:
            client.read("Patient", NHS)
        with pytest.raises(FhirError) as search:
            list(client.search_by_patient("Flag", NHS))
    for caught in (read, search):
        said = [str(caught.value), *(issue.describe() for issue in caught.value.issues)]
        assert caught.value.status == status
        assert not any(NHS in text for text in said), said
        assert any("*** *** 5919" in text for text in said)


@pytest.mark.integration
@pytest.mark.parametrize("status", [404, 500])
def test_the_pull_command_prints_no_nhs_number_of_a_failed_request(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with echoing_server(status) as base:
        result = CliRunner().invoke(cli, ["pull", "--endpoint", base, "--patient", "943 476 5919"])
    assert result.exit_code == 3, result.output
    assert f"HTTP {status}" in result.output
    assert "*** *** 5919" in result.output
    assert NHS not in result.output
    assert "943 476 5919" not in result.output
    assert NHS not in caplog.text
