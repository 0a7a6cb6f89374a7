"""NHS numbers never reach a log in full, not even through the libraries the toolkit calls."""

from __future__ import annotations

import logging

import pytest

from interop.privacy import mask_nhs_numbers_in
from interop.sandbox.fhir_server.running import running_server
from interop.transport.fhir_client import FhirClient

NHS = "9434765919"


def test_runs_of_ten_digits_are_masked_bare_spaced_or_in_a_url() -> None:
    text = f"GET /Flag?patient:identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C{NHS}"
    assert NHS not in mask_nhs_numbers_in(text)
    assert mask_nhs_numbers_in(text).endswith("%7C*** *** 5919")
    assert mask_nhs_numbers_in("child 943 476 5919 seen") == "child *** *** 5919 seen"
    # longer digit runs (timestamps, ids) are not NHS numbers and stay as they are
    assert mask_nhs_numbers_in("20260301101500") == "20260301101500"


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
