"""MESH (NHS England's message exchange) through NHS England's own client, ``mesh-client``.

``MeshTransport`` wraps one ``mesh_client.MeshClient`` for one mailbox: handshake, send with a
local id, tracking (by message id and by local id), inbox listing, download, acknowledgement.
Every failure is a ``MeshTransportError`` (a ``base.TransportError``) whose ``kind`` says what
the caller can do about it, and whose message names the mailbox and message but never the
payload. ``TransportError`` here is the same class under its older name.

Retries. A first send (``POST /outbox``) is never retried: if MESH stored the message but the
answer was lost, a retry would deliver it twice. A send whose outcome is unknown raises
``MeshTransportError(outcome_unknown=True)``; the caller then asks ``find_by_local_id`` before
sending again. Idempotent GET and PUT requests are retried on 429/502/503/504, connection
failures and timeouts, honouring ``Retry-After``, within ``max_retries`` and a ``retry_budget``
of waiting time; a ``Retry-After`` beyond the budget is not waited for but reported
(``MeshTransportError.retry_after``). The retries are done here, not by urllib3 inside
mesh-client, for two reasons: each attempt gets a fresh authorisation token (MESH tokens are
single use, and urllib3 would resend the same header), and a download is retried as a whole,
including the reading of its body.

A ``MeshTransport`` is not thread-safe: use one per thread.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

import mesh_client
import requests
import urllib3

from interop.transport import base

if TYPE_CHECKING:
    from interop.config import Config, MeshSettings

__all__ = [
    "MeshTransport",
    "MeshTransportError",
    "ReceivedMessage",
    "SentMessage",
    "TransportError",
    "TransportErrorKind",
]

TransportErrorKind = Literal["auth", "unavailable", "rejected", "not-found", "timeout"]

_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
# What mesh-client lets through: requests' errors, urllib3's (raised while a download's body is
# read from the raw stream) and its own MeshError (a send MESH refused).
_FAILURES = (requests.RequestException, urllib3.exceptions.HTTPError, mesh_client.MeshError)
_MAX_BACKOFF = 8.0
_MAX_HEADER = 500

_T = TypeVar("_T")


class MeshTransportError(base.TransportError):
    """A MESH request failed.

    ``kind``: ``"auth"`` (password, shared key, certificate or mailbox refused; TLS failure),
    ``"unavailable"`` (MESH down, overloaded or unreachable: try later), ``"rejected"`` (MESH
    refused the request as invalid: do not repeat it unchanged), ``"not-found"`` (no such
    message, or already acknowledged) or ``"timeout"`` (no answer in time).
    ``status`` is the HTTP status when there was one; ``retry_after`` the seconds MESH asked to
    wait; ``outcome_unknown`` is true for a send that may or may not have been stored.
    """

    def __init__(
        self,
        kind: TransportErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind: TransportErrorKind = kind
        self.status = status
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


#: the older name of ``MeshTransportError``, kept so existing ``except TransportError`` work
TransportError = MeshTransportError


@dataclass(frozen=True)
class SentMessage:
    """What MESH's tracking says about a message this mailbox sent."""

    message_id: str
    local_id: str | None
    recipient: str | None
    workflow_id: str | None
    status: str | None
    tracking: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class ReceivedMessage:
    """A downloaded inbox message; ``data`` is left out of the repr (it is personal data)."""

    message_id: str
    data: bytes = field(repr=False)
    workflow_id: str | None
    sender: str | None
    recipient: str | None
    local_id: str | None
    subject: str | None
    filename: str | None
    message_type: str | None = None


class MeshTransport(base.Endpoint):
    """One MESH mailbox, as configured by ``[mesh]``; use it as a context manager."""

    def __init__(
        self,
        settings: MeshSettings,
        *,
        application_name: str = "safeguarding-interop",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Build the mesh-client session (no request is made until a method is called)."""
        self._settings = settings
        self._mailbox = settings.mailbox
        self.name = f"MESH mailbox {settings.mailbox}"
        self._sleep = sleep
        self._clock = clock
        cert = None
        if settings.client_cert is not None and settings.client_key is not None:
            cert = (str(settings.client_cert), str(settings.client_key))
        # None lets mesh-client use the NHS CA bundle of INT/LIVE (and requests' default,
        # verifying, for any other https URL); False only when the test config turns it off.
        verify: str | bool | None = None
        if settings.ca_bundle is not None:
            verify = str(settings.ca_bundle)
        elif not settings.verify_tls:
            verify = False
        self._client = mesh_client.MeshClient(
            _endpoint(settings.endpoint),
            settings.mailbox,
            settings.password.value,
            shared_key=settings.shared_key.value.encode("utf-8"),
            cert=cert,
            verify=verify,
            timeout=settings.timeout,
            # No retries inside mesh-client: POST is not among its retry methods, and with
            # max_retries=0 urllib3 retries nothing; GET/PUT are retried by _attempt below.
            max_retries=0,
            retry_methods=("GET", "PUT"),
            application_name=application_name,
        )
        # mesh-client exposes no status on some errors (MeshError); a response hook keeps the
        # last status and Retry-After seen, so every failure can be classified.
        self._session: requests.Session = self._client._session
        self._session.hooks["response"].append(self._remember)
        self._last_status: int | None = None
        self._last_retry_after: float | None = None

    @classmethod
    def from_config(cls, config: Config) -> MeshTransport:
        """The transport of ``config.mesh``."""
        return cls(config.mesh)

    @property
    def mailbox(self) -> str:
        """This transport's mailbox id."""
        return self._mailbox

    def __repr__(self) -> str:
        return f"MeshTransport(endpoint={self._settings.endpoint!r}, mailbox={self._mailbox!r})"

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close()  # type: ignore[no-untyped-call]  # mesh-client leaves it untyped

    # -- operations -----------------------------------------------------------------------------

    def handshake(self) -> None:
        """Validate the mailbox and credentials (MESH asks for one every 24 hours)."""
        self._attempt("POST", f"handshake of mailbox {self._mailbox}", self._client.handshake)

    def send(
        self,
        recipient: str,
        workflow_id: str,
        data: bytes,
        *,
        local_id: str,
        subject: str | None = None,
        filename: str | None = None,
    ) -> str:
        """Send ``data`` to ``recipient``'s mailbox; return MESH's message id.

        ``local_id`` is the caller's idempotency key: make it unique per message. The send is
        made once: on ``MeshTransportError`` with ``outcome_unknown`` (timeout, reset, 5xx) the
        message may have been stored, so call ``find_by_local_id(local_id)`` and send again only
        if it finds nothing. Header values (ids, subject, filename) must be printable ASCII.
        """
        if not isinstance(data, bytes | bytearray) or not data:
            raise ValueError("MESH needs a non-empty bytes payload")
        headers: dict[str, Any] = {"workflow_id": workflow_id, "local_id": local_id}
        if subject is not None:
            headers["subject"] = subject
        if filename is not None:
            if "/" in filename or "\\" in filename:
                raise ValueError("filename must be a bare file name")
            headers["filename"] = filename
        for name, value in {"recipient": recipient, **headers}.items():
            _check_header(name, value)
        what = (
            f"sending local id {local_id!r} from mailbox {self._mailbox} to {recipient} "
            f"(workflow {workflow_id})"
        )
        return self._attempt(
            "POST", what, lambda: self._client.send_message(recipient, bytes(data), **headers)
        )

    def find_by_local_id(self, local_id: str) -> SentMessage | None:
        """Find the message this mailbox sent with ``local_id``, or None if MESH has none.

        mesh-client has no method for this: it calls MESH's
        ``GET /messageexchange/{mailbox}/outbox/tracking/{local_id}`` through the client's
        session. MESH marks this route **deprecated**. Should NHS England remove it from LIVE,
        a removed route also answers 404, which this method cannot tell from "never sent": the
        caller must then stop relying on it, keep the message id returned by every successful
        ``send`` next to its local id and check those with ``track(message_id)``, and treat a
        send with an unknown outcome and no recorded message id as needing reconciliation with
        the recipient, never as a licence to resend. Several messages with the same local id
        (a duplicate already happened) give ``MeshTransportError`` of kind ``"rejected"``.
        """
        _check_header("local_id", local_id)
        url = f"{self._client.mailbox_url}/outbox/tracking/{quote(local_id, safe='')}"
        what = f"tracking local id {local_id!r} in the outbox of mailbox {self._mailbox}"

        def lookup() -> SentMessage | None:
            response = self._session.get(url, timeout=self._settings.timeout)
            if response.status_code == 404:
                return None
            if response.status_code == 300:
                raise MeshTransportError(
                    "rejected",
                    f"{what}: MESH holds more than one message with this local id",
                    status=300,
                )
            response.raise_for_status()
            return _sent_message(response.json())

        return self._attempt("GET", what, lookup)

    def track(self, message_id: str) -> dict[str, Any]:
        """MESH's tracking record of a message this mailbox sent (status, timestamps...)."""
        _check_header("message_id", message_id)
        what = f"tracking message {message_id} of mailbox {self._mailbox}"
        return self._attempt("GET", what, lambda: dict(self._client.track_message(message_id)))

    def inbox(self, workflow_id: str | None = None) -> list[str]:
        """The ids of the messages waiting in the inbox, optionally of one workflow only."""
        if workflow_id is not None:
            _check_header("workflow_id", workflow_id)
            if "*" in workflow_id or "!" in workflow_id:
                raise ValueError("workflow_id is matched exactly: '*' and '!' are not allowed")
        what = f"listing the inbox of mailbox {self._mailbox}"
        return self._attempt(
            "GET", what, lambda: list(self._client.iterate_message_ids(workflow_filter=workflow_id))
        )

    def download(self, message_id: str) -> ReceivedMessage:
        """Download a whole inbox message (every chunk); it stays there until acknowledged."""
        _check_header("message_id", message_id)

        def fetch() -> ReceivedMessage:
            message = self._client.retrieve_message(message_id)
            try:
                data = message.read()
            finally:
                message.close()  # type: ignore[no-untyped-call]
            return ReceivedMessage(
                message_id=message_id,
                data=data,
                workflow_id=message.workflow_id,
                sender=message.sender,
                recipient=message.recipient,
                local_id=message.local_id,
                subject=message.subject,
                filename=message.filename,
                message_type=message.message_type,
            )

        return self._attempt("GET", f"downloading message {message_id} of {self._mailbox}", fetch)

    def acknowledge(self, message_id: str) -> None:
        """Acknowledge an inbox message: MESH removes it from the inbox."""
        _check_header("message_id", message_id)
        what = f"acknowledging message {message_id} of mailbox {self._mailbox}"
        self._attempt("PUT", what, lambda: self._client.acknowledge_message(message_id))

    # -- retries and errors ---------------------------------------------------------------------

    def _remember(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self._last_status = response.status_code
        self._last_retry_after = _retry_after(response.headers.get("Retry-After"))

    def _attempt(self, method: str, what: str, call: Callable[[], _T]) -> _T:
        """Run ``call``; retry it if ``method`` is idempotent and the failure is transient."""
        deadline = self._clock() + self._settings.retry_budget
        attempt = 1
        while True:
            self._last_status = self._last_retry_after = None
            try:
                return call()
            except MeshTransportError:
                raise
            except _FAILURES as exc:
                error = self._error(exc, what, sending=method == "POST")
                delay = self._retry_delay(method, error, attempt, deadline)
                if delay is None:
                    if attempt > 1:
                        error.args = (f"{error.args[0]} (after {attempt} attempts)",)
                    raise error from exc
            self._sleep(delay)
            attempt += 1

    def _retry_delay(
        self, method: str, error: MeshTransportError, attempt: int, deadline: float
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        transient = error.kind == "timeout" or (
            error.kind == "unavailable" and error.status in {None, *_RETRYABLE_STATUS}
        )
        if method not in ("GET", "PUT") or not transient or attempt > self._settings.max_retries:
            return None
        delay = error.retry_after
        if delay is None:
            delay = min(_MAX_BACKOFF, 0.5 * 2 ** (attempt - 1))
        if self._clock() + delay > deadline:
            return None
        return delay

    def _error(self, exc: BaseException, what: str, *, sending: bool) -> MeshTransportError:
        """Classify a failure of mesh-client, requests or urllib3."""
        status, retry_after = self._last_status, self._last_retry_after
        response = getattr(exc, "response", None)
        if isinstance(exc, requests.HTTPError) and response is not None:
            status = response.status_code
            retry_after = _retry_after(response.headers.get("Retry-After"))
        kind: TransportErrorKind
        if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError):
            kind, detail = "timeout", f"no answer within {self._settings.timeout:g} s"
        elif isinstance(exc, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
            kind = "auth"
            detail = "the TLS handshake failed (check client_cert, client_key and ca_bundle)"
        elif isinstance(exc, requests.ConnectionError | urllib3.exceptions.HTTPError):
            kind, detail = "unavailable", f"the connection failed ({_cause(exc)})"
        elif status is not None and status >= 400:
            kind, detail = _kind_of_status(status), _status_detail(status, exc)
        else:
            # A 2xx/3xx answer mesh-client could not read (not JSON, not MESH's shape).
            kind, detail = "unavailable", f"unexpected answer from MESH ({type(exc).__name__})"
        unknown = sending and kind in ("timeout", "unavailable") and status != 429
        if unknown:
            detail += "; the message may have been stored: check find_by_local_id before resending"
        return MeshTransportError(
            kind,
            f"{what}: {detail}",
            status=status,
            retry_after=retry_after,
            outcome_unknown=unknown,
        )


def _endpoint(endpoint: str) -> str | mesh_client.Endpoint:
    if endpoint == "INT":
        return mesh_client.INT_ENDPOINT
    if endpoint == "LIVE":
        return mesh_client.LIVE_ENDPOINT
    return endpoint


def _check_header(name: str, value: str) -> None:
    """MESH carries ids, subject and filename in HTTP headers: printable ASCII only."""
    if not isinstance(value, str) or not value or len(value) > _MAX_HEADER:
        raise ValueError(f"{name} must be a non-empty string of at most {_MAX_HEADER} characters")
    if not all(" " <= ch <= "~" for ch in value):
        raise ValueError(f"{name} must be printable ASCII")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _kind_of_status(status: int) -> TransportErrorKind:
    if status in (401, 403):
        return "auth"
    if status in (404, 410):
        return "not-found"
    if status == 408:
        return "timeout"
    if status == 429 or status >= 500:
        return "unavailable"
    return "rejected"


def _status_detail(status: int, exc: BaseException) -> str:
    detail = f"MESH answered {status}"
    # MeshError carries MESH's own short description (e.g. "Unregistered to address"); it
    # describes the request, never the payload.
    if isinstance(exc, mesh_client.MeshError) and exc.args and isinstance(exc.args[0], str):
        detail += f" ({exc.args[0][:200]})"
    if status in (401, 403):
        detail += "; check the mailbox id, password, shared key and client certificate"
    return detail


def _cause(exc: BaseException) -> str:
    """The innermost cause's type (ConnectionResetError...), without its text."""
    seen = exc
    for _ in range(10):
        inner = seen.__cause__ or seen.__context__
        if inner is None and seen.args and isinstance(seen.args[-1], BaseException):
            inner = seen.args[-1]
        if inner is None:
            break
        seen = inner
    return type(seen).__name__


def _sent_message(tracking: dict[str, Any]) -> SentMessage:
    """A SentMessage from MESH tracking JSON (v1 camelCase, as this route answers, or v2)."""

    def pick(*keys: str) -> str | None:
        for key in keys:
            value = tracking.get(key)
            if value not in (None, ""):
                return str(value)
        return None

    message_id = pick("messageId", "message_id", "dtsId")
    if message_id is None:
        raise MeshTransportError("unavailable", "MESH's tracking answer has no message id")
    return SentMessage(
        message_id=message_id,
        local_id=pick("localId", "local_id"),
        recipient=pick("recipient"),
        workflow_id=pick("workflowId", "workflow_id"),
        status=pick("status"),
        tracking=tracking,
    )
