"""The CP-IS FHIR API as NHS England specifies it: the request headers (TraceID, the
user-restricted role id exactly when configured), the access history's ``_include``, the
documented errors explained, and no lookup without a PDS trace. Against real loopback servers:
a recording HTTP server standing for CP-IS and the PDS stand-in."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner
from national_support import National, national

from interop.cli.main import cli
from interop.config import load_config
from interop.errors import UsageError
from interop.jobs.cpis_lookup import NotTraced, cpis_lookup
from interop.transport.cpis_api import ACCESS_HISTORY_INCLUDE

__all__ = ["national"]

pytestmark = pytest.mark.integration


class Recorder:
    """What the recording CP-IS saw, and the status it answers with."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], list[tuple[str, str]]]] = []
        self.status = 200
        self.metadata = 0

    def reset(self, status: int = 200) -> None:
        self.requests.clear()
        self.metadata = 0
        self.status = status


@pytest.fixture(scope="module")
def cpis() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if split.path.endswith("/metadata"):
                # like the CP-IS API: no CapabilityStatement, so the client keeps the API's
                # own search (patient:identifier); counted apart from the lookups
                recorder.metadata += 1
                self.send_error(404)
                return
            recorder.requests.append((split.path, headers, parse_qsl(split.query)))
            if recorder.status != 200:
                body: dict[str, Any] = {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "forbidden", "diagnostics": "no"}],
                }
            else:
                body = {"resourceType": "Bundle", "type": "searchset", "total": 0}
            data = json.dumps(body).encode()
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:  # no access log: queries hold numbers
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorder, f"http://127.0.0.1:{server.server_address[1]}/cpis/FHIR/R4"
    server.shutdown()
    server.server_close()


def _config(folder: Path, cpis_base: str, pds_base: str, auth: str = "") -> Path:
    path = folder / "interop.toml"
    path.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.cpis]\nkind = "fhir"\nurl = "{cpis_base}"\nods_code = "RR8"\n{auth}\n'
        f'[endpoints.pds]\nkind = "fhir"\nurl = "{pds_base}"\n\n[pds]\nendpoint = "pds"\n',
        encoding="utf-8",
    )
    return path


CIS2 = '[endpoints.cpis.auth]\ntype = "cis2"\ntoken = { env = "TEST_CIS2_TOKEN" }\n'


def run(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"TEST_CIS2_TOKEN": "cis2-token-for-tests"}).invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_headers_as_documented_and_no_role_when_not_user_restricted(
    cpis: tuple[Recorder, str], national: National, tmp_path: Path
) -> None:
    recorder, base = cpis
    recorder.reset()
    config = _config(tmp_path, base, national.pds)
    code, out = run("cpis", "lookup", "9000000009", "--endpoint", "cpis", "--config", str(config))
    assert code == 0, out
    assert "PDS trace: traced" in out
    ((path, headers, query),) = recorder.requests
    assert path.endswith("/CareTeam")
    assert headers["isunscheduledaccessevent"] == "false"
    assert uuid.UUID(headers["traceid"]) == uuid.UUID(headers["x-request-id"])
    assert headers["nhsd-end-user-organisation-ods"] == "RR8"
    assert "nhsd-session-urid" not in headers
    assert "authorization" not in headers
    assert ("patient:identifier", "https://fhir.nhs.uk/Id/nhs-number|9000000009") in query


def test_user_restricted_headers_exactly_when_configured(
    cpis: tuple[Recorder, str], national: National, tmp_path: Path
) -> None:
    recorder, base = cpis
    recorder.reset()
    with_role = _config(tmp_path, base, national.pds, CIS2 + 'role_id = "555254242106"\n')
    code, out = run(
        "cpis", "lookup", "9000000009", "--endpoint", "cpis", "--config", str(with_role),
        "--history",
    )  # fmt: skip
    assert code == 0, out
    care_team, audit = recorder.requests
    for _, headers, _ in (care_team, audit):
        assert headers["nhsd-session-urid"] == "555254242106"
        assert headers["authorization"] == "Bearer cis2-token-for-tests"
    assert audit[0].endswith("/AuditEvent")
    assert ("_include", ACCESS_HISTORY_INCLUDE) in audit[2]
    # the caller's role wins over the configured one
    recorder.reset()
    args = ["cpis", "lookup", "9000000009", "--endpoint", "cpis", "--config", str(with_role)]
    assert run(*args, "--role-id", "999999999999")[0] == 0
    assert recorder.requests[0][1]["nhsd-session-urid"] == "999999999999"


def test_a_cis2_endpoint_without_a_role_is_refused_never_guessed(
    cpis: tuple[Recorder, str], national: National, tmp_path: Path
) -> None:
    recorder, base = cpis
    recorder.reset()
    config = _config(tmp_path, base, national.pds, CIS2)
    code, out = run("cpis", "lookup", "9000000009", "--endpoint", "cpis", "--config", str(config))
    assert code == 2
    assert "never guessed" in out
    assert recorder.requests == []


def test_a_lookup_without_a_trace_is_refused_unless_told(
    cpis: tuple[Recorder, str], national: National, tmp_path: Path
) -> None:
    recorder, base = cpis
    recorder.reset()
    config = load_config(_config(tmp_path, base, national.pds), need=("endpoints",), endpoints=None)
    with pytest.raises(UsageError, match="traced on PDS first"):
        cpis_lookup(config.endpoint("cpis"), "9000000009")
    assert recorder.requests == []
    found = cpis_lookup(config.endpoint("cpis"), "9000000009", already_traced=True)
    assert found.trace is None
    assert len(recorder.requests) == 1


def test_the_trace_replaces_a_superseded_number_or_stops_the_lookup(
    cpis: tuple[Recorder, str], national: National, tmp_path: Path
) -> None:
    recorder, base = cpis
    recorder.reset()
    config = load_config(_config(tmp_path, base, national.pds), need=("endpoints",), endpoints=None)
    cpis_api, pds = config.endpoint("cpis"), config.endpoint("pds")
    found = cpis_lookup(cpis_api, "9000000017", pds=pds)
    assert found.nhs_number == "9000000009"
    assert found.trace is not None
    assert ("patient:identifier", "https://fhir.nhs.uk/Id/nhs-number|9000000009") in (
        recorder.requests[0][2]
    )
    assert recorder.metadata == 1  # asked once, found missing: the API's own search kept
    recorder.reset()
    for unknown_or_deceased in ("9000000033", "9000000041"):
        with pytest.raises(NotTraced):
            cpis_lookup(cpis_api, unknown_or_deceased, pds=pds)
    assert recorder.requests == []


def test_documented_errors_are_explained(
    cpis: tuple[Recorder, str], national: National, tmp_path: Path
) -> None:
    recorder, base = cpis
    recorder.reset(status=403)
    config = _config(tmp_path, base, national.pds)
    code, out = run("cpis", "lookup", "9000000009", "--endpoint", "cpis", "--config", str(config))
    assert code == 3
    assert "the user's role (NHSD-Session-URID) does not allow viewing the CP-IS flag" in out
    recorder.reset()
