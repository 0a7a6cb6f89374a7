"""The attendance outbox's dispatcher: sends each queued message once, whatever happens.

``Dispatcher.drain()`` sends every row that is due; ``start()`` runs the same in a background
thread, woken by the handler after each commit (``wake()``) and otherwise when the next retry
is due. Per row:

1. ``sending`` is committed before the attempt (the intent);
2. the channel delivers it:
   - **fhir**: a conditional create (``If-None-Exist: identifier=<system>|<notification id>``):
     doing it again finds the first one and creates nothing;
   - **mesh**: a send with the row id as the MESH local id. The first send is never repeated
     blindly: a row found ``sending`` (a crash, or an answer lost) is first looked up by its
     local id (``MeshTransport.find_by_local_id``), as ``interop.sync.cpis_sync`` does, and
     sent again only when MESH has no such message;
   - **mllp**: the HL7 v2 alert with a control id fixed per notification, so a receiver can
     tell a repeat; only AA counts as delivered;
3. ``sent`` with the remote id; the payload is dropped.

A failure leaves the row for later (``pending``, or ``sending`` when the message may have
gone), with an exponential back-off from ``retry_initial`` to ``retry_max`` seconds (or the
server's Retry-After when longer). Rows are never dropped: a message the far end refuses is
logged as an error at each attempt until someone fixes the endpoint.

One dispatcher per state file: two processes sending from the same outbox could each send a
row before the other marks it, so a dispatcher given a ``lock_path`` holds an exclusive lock on
that file for its lifetime, and a second one is refused (``DispatcherBusy``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from interop.attendance.messages import NOTIFICATION_ID_SYSTEM
from interop.attendance.store import AttendanceStore, OutboxRow
from interop.errors import BusyError, RemoteError
from interop.privacy import mask_nhs_numbers_in, protect_logger

if TYPE_CHECKING:
    from interop.config import EndpointSettings, MeshSettings

__all__ = [
    "Channel",
    "DeliveryFailed",
    "Dispatcher",
    "DispatcherBusy",
    "FhirChannel",
    "MeshChannel",
    "MllpChannel",
    "channels_for",
]

_log = logging.getLogger("interop.attendance.dispatch")
# a far end's error text, an endpoint's answer and the ids derived from a sender's message may
# carry an NHS number: every record of this logger has them masked
protect_logger(_log.name)


class DeliveryFailed(RemoteError):
    """An attempt failed. ``in_doubt``: the message may have arrived all the same;
    ``retry_after``: seconds the far end asked to wait."""

    def __init__(self, message: str, *, in_doubt: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.in_doubt = in_doubt
        self.retry_after = retry_after


class DispatcherBusy(BusyError):
    """Another dispatcher (a running listener, another ``listen dispatch``) holds the outbox."""


class Channel(Protocol):
    """How rows of one endpoint are delivered."""

    def deliver(self, row: OutboxRow) -> str | None:
        """Deliver the row's payload; its remote id. ``DeliveryFailed`` when it failed."""
        ...

    def resolve(self, row: OutboxRow) -> str | None:
        """For a row left ``sending``: the remote id if it did arrive, None if it must be
        (re)delivered. ``DeliveryFailed`` when that cannot be known now."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class FhirChannel:
    """A FHIR endpoint: Communications and Flags by conditional create."""

    def __init__(self, client: Any) -> None:
        """``client``: an ``interop.transport.fhir_client.FhirClient``."""
        self.client = client

    def deliver(self, row: OutboxRow) -> str | None:
        from interop.transport.fhir_client import FhirClientError, FhirError, FhirTransportError

        assert row.payload is not None
        resource = json.loads(row.payload)
        condition = f"identifier={NOTIFICATION_ID_SYSTEM}|{row.notification_id}"
        try:
            written = self.client.create(resource, if_none_exist=condition)
        except FhirError as exc:
            if exc.status == 412:  # several match: it is there already (more than once)
                return None
            raise DeliveryFailed(str(exc), retry_after=exc.retry_after) from None
        except FhirTransportError as exc:
            raise DeliveryFailed(str(exc), in_doubt=exc.outcome_unknown) from None
        except FhirClientError as exc:
            raise DeliveryFailed(str(exc)) from None
        found = written.get("id") if isinstance(written, dict) else None
        return f"{resource.get('resourceType')}/{found}" if found else None

    def resolve(self, row: OutboxRow) -> str | None:
        return None  # a conditional create is safe to repeat: deliver again

    def close(self) -> None:
        self.client.close()


class MeshChannel:
    """A MESH mailbox (the endpoint's), sent from the ``[mesh]`` mailbox."""

    def __init__(self, transport: Any, recipient: str) -> None:
        """``transport``: an ``interop.transport.mesh.MeshTransport`` (its own, not shared
        with another thread)."""
        self.transport = transport
        self.recipient = recipient

    def deliver(self, row: OutboxRow) -> str | None:
        from interop.transport.mesh import TransportError

        assert row.payload is not None
        assert row.workflow_id is not None
        try:
            message_id: str = self.transport.send(
                self.recipient,
                row.workflow_id,
                row.payload,
                local_id=row.row_id,
                subject=row.subject,
            )
        except TransportError as exc:
            raise DeliveryFailed(
                str(exc), in_doubt=exc.outcome_unknown, retry_after=exc.retry_after
            ) from None
        return message_id

    def resolve(self, row: OutboxRow) -> str | None:
        from interop.transport.mesh import TransportError

        try:
            found = self.transport.find_by_local_id(row.row_id)
        except TransportError as exc:
            raise DeliveryFailed(f"{exc} (the send is still in doubt)", in_doubt=True) from None
        return None if found is None else str(found.message_id)

    def close(self) -> None:
        self.transport.close()


class MllpChannel:
    """The trust's MLLP listener: one connection per message, AA required."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    def deliver(self, row: OutboxRow) -> str | None:
        from interop.hl7v2.ack import read_ack
        from interop.hl7v2.er7 import Er7Error
        from interop.transport.mllp import MllpClient, MllpError

        assert row.payload is not None
        try:
            with MllpClient(self.host, self.port, timeout=self.timeout) as client:
                answer = client.send(row.payload)
        except (MllpError, OSError) as exc:
            raise DeliveryFailed(f"mllp://{self.host}:{self.port}: {exc}", in_doubt=True) from None
        try:
            ack = read_ack(answer)
        except Er7Error:
            raise DeliveryFailed("the acknowledgement could not be read", in_doubt=True) from None
        if ack.code not in ("AA", "CA"):
            raise DeliveryFailed(f"answered {ack.code}: {ack.text or 'no reason given'}")
        return ack.control_id or None

    def resolve(self, row: OutboxRow) -> str | None:
        return None  # the control id is the same on a resend: the receiver can tell

    def close(self) -> None:
        pass


def channels_for(
    endpoints: Mapping[str, EndpointSettings], mesh: MeshSettings | None
) -> dict[str, Channel]:
    """A channel per endpoint (fhir, mesh, mllp); ``ValueError`` for an unusable one."""
    from urllib.parse import urlsplit

    from interop.transport.fhir_client import FhirClient
    from interop.transport.mesh import MeshTransport

    found: dict[str, Channel] = {}
    for name, endpoint in endpoints.items():
        if endpoint.kind == "fhir":
            found[name] = FhirChannel(FhirClient.from_settings(endpoint))
        elif endpoint.kind == "mesh":
            if mesh is None or endpoint.mailbox is None:
                raise ValueError(f"endpoint {name}: a mesh endpoint needs [mesh] and a mailbox")
            found[name] = MeshChannel(MeshTransport(mesh), endpoint.mailbox)
        elif endpoint.kind == "mllp":
            url = urlsplit(endpoint.url or "")
            if url.hostname is None or url.port is None:
                raise ValueError(f"endpoint {name}: an mllp endpoint needs mllp://host:port")
            found[name] = MllpChannel(url.hostname, url.port, endpoint.timeout)
    return found


class Dispatcher:
    """Sends the outbox of one state file (see the module's docstring)."""

    def __init__(
        self,
        store: AttendanceStore,
        channels: Mapping[str, Channel],
        *,
        retry_initial: float = 2.0,
        retry_max: float = 300.0,
        clock: Callable[[], float] = time.time,
        batch: int = 100,
        lock_path: Path | None = None,
        claim_hold: float = 600.0,
    ) -> None:
        """``store`` is the dispatcher's own connection to the state file; ``lock_path`` the
        file locked while this dispatcher lives (``DispatcherBusy`` when another holds it);
        ``claim_hold`` how long rows it claimed stay its own should it die mid-send."""
        self._lock_fd: int | None = None
        if lock_path is not None:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise DispatcherBusy(
                    f"another dispatcher (a running listener?) is sending from {lock_path.stem}"
                ) from None
            self._lock_fd = fd
        self.store = store
        self.channels = dict(channels)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.clock = clock
        self.batch = batch
        self.claim_hold = claim_hold
        # rows are claimed in the state under this name: two dispatchers (two listeners on
        # one PostgreSQL state, or one started by hand) never attempt the same row
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        #: rows this dispatcher marked sent since it started (the outbox's counts are every
        #: run's, and other dispatchers' of a shared state)
        self.sent = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass ---------------------------------------------------------------------------

    def drain(self, *, everything: bool = False) -> dict[str, int]:
        """Attempt every row due now (each at most once), in this thread; ``everything``:
        the rows waiting for a retry too. The outbox's counts after."""
        return self._pass(stoppable=False, everything=everything)

    def _pass(self, *, stoppable: bool, everything: bool = False) -> dict[str, int]:
        with self._lock:
            attempted: set[str] = set()
            try:
                while not (stoppable and self._stop.is_set()):
                    now = float("inf") if everything else self.clock()
                    due = self.store.claim_due(now, self.worker, self.batch, self.claim_hold)
                    rows = [r for r in due if r.row_id not in attempted]
                    if not rows:
                        break
                    for row in rows:
                        attempted.add(row.row_id)
                        self._attempt(row)
                        if stoppable and self._stop.is_set():
                            break
            finally:
                # claimed but not attempted (attempted already, or stopping): give them back
                self.store.release_claims(self.worker)
        return self.store.counts()

    def _attempt(self, row: OutboxRow) -> None:
        channel = self.channels.get(row.endpoint)
        if channel is None:
            in_doubt = row.state == "sending"
            self._retry(row, f"endpoint {row.endpoint} is not configured", in_doubt=in_doubt)
            return
        try:
            if row.state == "sending":
                remote = channel.resolve(row)
                if remote is not None:
                    self.store.mark_sent(row.row_id, remote)
                    self.sent += 1
                    _log.info("%s to %s: had arrived (%s)", row.kind, row.endpoint, remote)
                    return
            self.store.mark_sending(row.row_id)
            remote = channel.deliver(row)
        except DeliveryFailed as exc:
            self._retry(row, str(exc), in_doubt=exc.in_doubt, retry_after=exc.retry_after)
            return
        except Exception as exc:  # a bug must cost a retry, never the dispatcher
            self._retry(row, f"{type(exc).__name__} while sending", in_doubt=True)
            return
        self.store.mark_sent(row.row_id, remote)
        self.sent += 1
        _log.info("%s %s sent to %s", row.kind, row.notification_id, row.endpoint)

    def _retry(
        self, row: OutboxRow, error: str, *, in_doubt: bool, retry_after: float | None = None
    ) -> None:
        # a far end's error text may echo what it was sent: no NHS number in logs or state
        error = mask_nhs_numbers_in(error)
        attempts = row.attempts + 1  # failed attempts, this one included
        delay = min(self.retry_max, self.retry_initial * 2 ** min(attempts - 1, 30))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_max))
        self.store.mark_retry(row.row_id, error, self.clock() + delay, in_doubt=in_doubt)
        _log.error(
            "%s %s to %s failed (attempt %d; next in %.0f s): %s",
            row.kind,
            row.notification_id,
            row.endpoint,
            attempts,
            delay,
            error,
        )

    # -- in the background ------------------------------------------------------------------

    def wake(self) -> None:
        """Something new is queued: send it now."""
        self._wake.set()

    def start(self) -> None:
        """Start the background thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="attendance-dispatch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._pass(stoppable=True)
            except Exception as exc:  # the state file locked for long, a bug: try again later
                _log.error("dispatch pass failed: %s", type(exc).__name__)
            due = None
            with suppress(Exception):
                due = self.store.next_due()
            wait = 5.0 if due is None else min(5.0, max(0.05, due - self.clock()))
            self._wake.wait(wait)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the background thread (after the row in hand) and close the channels."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for channel in self.channels.values():
            with suppress(Exception):
                channel.close()
        self.channels.clear()
        self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None
