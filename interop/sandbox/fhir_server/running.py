"""Run the FHIR sandbox in the background of this process: for tests, benchmarks and scripts.

``with running_server() as base: ...`` serves ``http://127.0.0.1:PORT/fhir`` from a uvicorn
in a background thread until the block ends, then stops it and closes the store.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from interop.issues import Issue
from interop.sandbox.fhir_server.app import create_app
from interop.sandbox.fhir_server.connections import GuardedH11Protocol
from interop.sandbox.fhir_server.store import SqliteStore

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (0: a free port), or ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only then,
    # and without it every small response waits ~40 ms for a delayed ACK (Nagle)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


#: seconds a kept-alive connection may wait for its next request
KEEP_ALIVE_TIMEOUT = 5
#: bytes of a request's head h11 buffers before it refuses the request (431)
MAX_HEAD_BYTES = 16 * 1024


def server_config(app: Any, *, log_level: str = "warning") -> uvicorn.Config:
    """uvicorn settings for the sandbox: no access log (query strings hold NHS numbers); a
    bounded request head, keep-alive and header-read time, and number of open connections
    (``GuardedH11Protocol``), so half-open connections cannot exhaust file handles."""
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        http=GuardedH11Protocol,
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )


def _wait_until_answering(base_url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and thread.is_alive():
        try:
            # a cheap search of the store: answering, and its database open
            if httpx.get(f"{base_url}/Patient?_count=0", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the FHIR sandbox did not start answering at {base_url}")


@contextmanager
def running_server(
    db: Path | None = None,
    *,
    port: int = 0,
    validator: Callable[[dict[str, Any]], list[Issue]] | None = None,
    page_size: int = 50,
    audit_log: Path | None = None,
) -> Iterator[str]:
    """Serve the sandbox on 127.0.0.1 (``port`` 0: a free one) from ``db`` (None: memory);
    yields the base URL ``http://127.0.0.1:PORT/fhir`` once it answers; stops on exit."""
    store = SqliteStore(db)
    sock = bind_socket("127.0.0.1", port)
    server = uvicorn.Server(
        server_config(
            create_app(store, validator=validator, page_size=page_size, audit_log=audit_log)
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fhir-sandbox", daemon=True
    )
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/fhir"
    try:
        thread.start()
        _wait_until_answering(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
        store.close()
