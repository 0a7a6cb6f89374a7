"""The sandbox's HTTP connections under abuse: a deadline for a request's headers and a cap on
open connections, which uvicorn's h11 protocol lacks.

uvicorn closes a kept-alive connection after ``timeout_keep_alive`` without data, but a
connection that sends nothing, or a request's headers a byte at a time, is held for ever: a
few thousand half-open connections exhausted the process's file handles. ``GuardedH11Protocol``
closes a connection whose request headers are not complete within ``HEADER_TIMEOUT`` of its
opening (or of the end of its previous response), and, when ``MAX_CONNECTIONS`` are open,
closes the connection that has waited longest for its headers to make room for the new one,
so a real client still gets an answer while the flood lasts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HEADER_TIMEOUT", "MAX_CONNECTIONS", "GuardedH11Protocol"]

#: seconds a connection has to send a request's complete headers
HEADER_TIMEOUT = 10.0
#: open connections at most; beyond, the one waiting longest for its headers is closed
MAX_CONNECTIONS = 512


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header-read deadline and a connection cap."""

    header_timeout: float = HEADER_TIMEOUT
    max_connections: int = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        #: since when this connection waits for a request's headers (None: in a request)
        self.waiting_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            # the headers are in: the request runs under the app's own limits
            self._stop_deadline()
            self.waiting_since = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._await_headers()

    def _await_headers(self) -> None:
        self._stop_deadline()
        self.waiting_since = time.monotonic()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self.waiting_since is not None and not self.transport.is_closing():
            # closed without an answer or a log line: a flood must not flood the log as well
            self.transport.close()

    def _make_room(self) -> None:
        waiting = [
            c
            for c in self.connections
            if isinstance(c, GuardedH11Protocol)
            and c is not self
            and c.waiting_since is not None
            and not c.transport.is_closing()
        ]
        if waiting:
            min(waiting, key=lambda c: c.waiting_since or 0.0).transport.close()
        else:
            # every other connection is in a request: the newcomer waits its turn elsewhere
            self.transport.close()
