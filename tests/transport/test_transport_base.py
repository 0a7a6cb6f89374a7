"""The one transport base: every endpoint is an ``Endpoint`` that closes on leaving its ``with``,
and every transport failure is a ``TransportError`` (so a ``RemoteError``, exit code 3).

The endpoints run against real loopback servers: the FHIR sandbox, mesh-sandbox, the MLLP
listener, a temporary folder."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from mesh_server import MeshSandbox

from interop.config import EndpointSettings, load_config
from interop.errors import RemoteError, exit_code_for
from interop.sandbox.fhir_server.running import running_server
from interop.transport import Endpoint, TransportError
from interop.transport.auth import TokenError
from interop.transport.fhir_client import (
    FhirClient,
    FhirClientError,
    FhirError,
    FhirTransportError,
)
from interop.transport.folder import FolderEndpoint, FolderError
from interop.transport.mesh import MeshTransport, MeshTransportError
from interop.transport.mllp import MllpClient, MllpError, MllpServer, ServerThread

ENDPOINTS = (FhirClient, MeshTransport, MllpClient, FolderEndpoint)
ERRORS = (
    MeshTransportError,
    FhirClientError,
    FhirError,
    FhirTransportError,
    MllpError,
    FolderError,
    TokenError,
)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.__name__)
def test_every_endpoint_class_implements_the_base(endpoint: type[Endpoint]) -> None:
    assert issubclass(endpoint, Endpoint)
    # the context manager is written once, in the base
    assert endpoint.__enter__ is Endpoint.__enter__
    assert endpoint.__exit__ is Endpoint.__exit__


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
def test_every_transport_error_is_a_transport_error(error: type[Exception]) -> None:
    assert issubclass(error, TransportError)
    assert issubclass(error, RemoteError)


def test_the_older_names_still_import() -> None:
    from interop.transport.mesh import TransportError as MeshOldName

    assert MeshOldName is MeshTransportError
    assert issubclass(MeshOldName, TransportError)


@pytest.fixture
def fhir_base() -> Iterator[str]:
    with running_server() as base:
        yield base


def test_the_fhir_client_closes_and_fails_as_a_transport_error(fhir_base: str) -> None:
    with FhirClient(fhir_base, name="sandbox") as client:
        assert isinstance(client, Endpoint)
        assert client.name == "sandbox"
        assert client.capabilities()["resourceType"] == "CapabilityStatement"
        with pytest.raises(TransportError) as raised:
            client.read("Flag", "no-such-flag")
    assert client._http.is_closed
    assert isinstance(raised.value, FhirError)
    assert raised.value.status == 404
    assert exit_code_for(raised.value) == 3


def test_an_unreachable_fhir_server_is_a_transport_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        FhirClient(f"http://127.0.0.1:{port}/fhir", timeout=2) as client,
        pytest.raises(TransportError) as raised,
    ):
        client.capabilities()
    assert isinstance(raised.value, FhirTransportError)
    assert raised.value.kind == "unavailable"


def test_the_mesh_transport_closes_and_fails_as_a_transport_error(
    mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, env = mesh_sandbox.write_config(tmp_path, party="la")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with MeshTransport.from_config(load_config(path)) as transport:
        assert isinstance(transport, Endpoint)
        assert transport.mailbox in transport.name
        transport.handshake()
        adapter = transport._session.get_adapter(transport._client.mailbox_url)
        assert adapter.poolmanager.pools  # the handshake's connection is pooled...
        with pytest.raises(TransportError) as raised:
            transport.download("NO-SUCH-MESSAGE")
    assert not adapter.poolmanager.pools  # ...and closed with the transport
    assert isinstance(raised.value, MeshTransportError)
    assert raised.value.kind == "not-found"


def test_the_mllp_client_closes_and_fails_as_a_transport_error() -> None:
    thread = ServerThread(MllpServer(None, host="127.0.0.1", port=0, idle_timeout=0.2))
    host, port = thread.start()
    try:
        with MllpClient(host, port, timeout=10) as client:
            assert isinstance(client, Endpoint)
            assert client.name == f"mllp://{host}:{port}"
            # the listener closes an idle connection: the client is told, as a TransportError
            with pytest.raises(TransportError) as raised:
                client.receive()
        assert client._socket.fileno() == -1
        assert isinstance(raised.value, MllpError)
    finally:
        thread.stop(10)
    assert thread.stopped


def test_the_folder_endpoint_writes_whole_files_and_fails_as_a_transport_error(
    tmp_path: Path,
) -> None:
    settings = EndpointSettings(name="drop-folder", kind="folder", path=tmp_path / "outbox")
    with FolderEndpoint.from_settings(settings) as folder:
        assert isinstance(folder, Endpoint)
        assert folder.name == "drop-folder"
        assert folder.files() == []
        written = folder.write("flag-1.json", b"{}")
        folder.write("flag-1.json", b'{"again": true}')  # a repeated send replaces the file
        assert written == tmp_path / "outbox" / "flag-1.json"
        assert folder.files() == ["flag-1.json"]  # no temporary file left behind
        assert folder.read("flag-1.json") == b'{"again": true}'
        with pytest.raises(ValueError, match="bare file name"):
            folder.write("../escape.json", b"{}")
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(TransportError) as raised:
        FolderEndpoint(tmp_path / "a-file").write("x.json", b"{}")
    assert isinstance(raised.value, FolderError)
    assert "x.json" in str(raised.value)
    with pytest.raises(ValueError, match="not folder"):
        FolderEndpoint.from_settings(EndpointSettings(name="f", kind="fhir", url="http://x"))


def test_the_client_and_the_sandbox_server_name_their_errors_apart() -> None:
    """One ``FhirError`` (the client's: the server answered an error); the sandbox server's
    refusal is an ``OutcomeError``, and no two exception classes share a name."""
    import importlib
    import pkgutil

    import interop.sandbox.fhir_server as server_package
    import interop.transport as transport_package
    from interop.sandbox.fhir_server.outcome import OutcomeError

    seen: dict[str, set[str]] = {}
    for package in (transport_package, server_package):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, BaseException):
                    seen.setdefault(value.__name__, set()).add(
                        value.__module__ + "." + value.__qualname__
                    )
    clashes = {name: where for name, where in seen.items() if len(where) > 1}
    assert clashes == {}
    assert seen["FhirError"] == {"interop.transport.fhir_errors.FhirError"}
    assert seen["OutcomeError"] == {"interop.sandbox.fhir_server.outcome.OutcomeError"}
    assert not issubclass(OutcomeError, RemoteError)  # a refusal the server sends, not a failure
