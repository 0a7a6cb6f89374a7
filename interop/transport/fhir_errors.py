"""The errors of the FHIR REST client (``interop.transport.fhir_client``), and how a server's
OperationOutcome or a failed connection becomes one.

``FhirClientError`` is the root, a ``TransportError``: ``FhirError`` when the server answered
with an error status (its OperationOutcome's ``issues`` kept), ``FhirTransportError`` when there
was no usable answer (``kind`` auth, unavailable, timeout or protocol). Messages are cut to
``MAX_MESSAGE`` characters and the server's texts to printable characters, so an answer cannot
flood or forge a log line. NHS numbers are masked in every message and every text of a server's
answer: a path (``Patient/9434765919``), a search or a server's diagnostics can carry one, and
these errors are printed and logged.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from interop.privacy import mask_nhs_numbers_in
from interop.transport.base import TransportError
from interop.transport.retry import RETRYABLE_STATUS

__all__ = [
    "MAX_MESSAGE",
    "FhirClientError",
    "FhirError",
    "FhirTransportError",
    "FhirTransportErrorKind",
    "OutcomeIssue",
    "is_tls_failure",
    "is_transient",
    "outcome_issues",
    "short_reason",
    "transport_failure",
]

FhirTransportErrorKind = Literal["auth", "unavailable", "timeout", "protocol"]

#: the longest message an error carries (a server's diagnostics can be long)
MAX_MESSAGE = 500


@dataclass(frozen=True)
class OutcomeIssue:
    """One ``OperationOutcome.issue`` of a server's answer."""

    severity: str
    code: str
    diagnostics: str | None = None
    details: str | None = None
    expression: tuple[str, ...] = ()

    def describe(self) -> str:
        """``error [invalid] Flag.status: diagnostics (details)``."""
        where = f" {', '.join(self.expression)}" if self.expression else ""
        text = self.diagnostics or self.details or "(no diagnostics)"
        if self.details and self.diagnostics and self.details != self.diagnostics:
            text += f" ({self.details})"
        return f"{self.severity} [{self.code}]{where}: {text}"


class FhirClientError(TransportError):
    """Base of the client's errors; ``request_id`` is the ``X-Request-ID`` of the request."""

    request_id: str | None = None


class FhirError(FhirClientError):
    """The server answered with an error status; ``issues`` are its OperationOutcome's.

    ``retry_after`` is the wait it asked for (429/503), ``attempts`` how many times the request
    was sent.
    """

    def __init__(
        self,
        status: int,
        issues: tuple[OutcomeIssue, ...],
        *,
        what: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        summary = "; ".join(issue.describe() for issue in issues[:3]) or "no OperationOutcome"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        message = mask_nhs_numbers_in(f"{what}: HTTP {status}{tries}: {summary}")
        super().__init__(message[:MAX_MESSAGE])
        self.status: int = status
        self.issues = issues
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = attempts


class FhirTransportError(FhirClientError):
    """No usable answer from the server.

    ``kind``: ``auth`` (token endpoint refused, TLS failure), ``unavailable`` (unreachable,
    connection reset), ``timeout`` or ``protocol`` (an answer that is not FHIR JSON, a next link
    leaving the endpoint). ``outcome_unknown`` is true when a non-idempotent request may have
    been applied: check before sending it again.
    """

    def __init__(
        self,
        kind: FhirTransportErrorKind,
        message: str,
        *,
        status: int | None = None,
        outcome_unknown: bool = False,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(mask_nhs_numbers_in(message)[:MAX_MESSAGE])
        self.kind: FhirTransportErrorKind = kind
        self.status = status
        self.outcome_unknown = outcome_unknown
        self.request_id = request_id
        self.attempts = attempts


def outcome_issues(body: Any) -> tuple[OutcomeIssue, ...]:
    """The issues of an error answer's parsed body (none when it is no OperationOutcome)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ()
    issues = []
    for item in body.get("issue") or []:
        if not isinstance(item, dict):
            continue
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        text = details.get("text") if isinstance(details, dict) else None
        if not text and isinstance(details, dict):
            codings = details.get("coding") or []
            first = codings[0] if codings and isinstance(codings[0], dict) else {}
            text = first.get("display") or first.get("code")
        where = item.get("expression") or item.get("location") or []
        issues.append(
            OutcomeIssue(
                severity=_text(item.get("severity")) or "error",
                code=_text(item.get("code")) or "unknown",
                diagnostics=_text(item.get("diagnostics")),
                details=_text(text),
                expression=tuple(_text(w) or "" for w in where if isinstance(w, str))[:5],
            )
        )
    return tuple(issues)


def is_transient(failure: FhirClientError) -> bool:
    """Whether trying the same request again may work (a retryable status, no answer)."""
    if isinstance(failure, FhirError):
        return failure.status in RETRYABLE_STATUS
    assert isinstance(failure, FhirTransportError)
    return failure.kind in ("unavailable", "timeout", "protocol")


def short_reason(failure: FhirClientError) -> str:
    """``HTTP 503`` or the transport failure's kind, for a retry's log line."""
    if isinstance(failure, FhirError):
        return f"HTTP {failure.status}"
    assert isinstance(failure, FhirTransportError)
    return failure.kind


def transport_failure(
    exc: httpx.TransportError, where: str, idempotent: bool, request_id: str, attempt: int
) -> FhirTransportError:
    """The error of a request httpx could not complete; ``outcome_unknown`` when it was sent,
    is not idempotent and may have been applied."""
    kind: FhirTransportErrorKind
    # a connection that never opened carried nothing: its outcome is known (not applied)
    sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if is_tls_failure(exc):
        # a certificate refused either way (ours or the server's) will not mend by retrying
        kind, detail = "auth", "the TLS handshake failed (check the certificates and CA)"
    elif isinstance(exc, httpx.TimeoutException):
        kind, detail = "timeout", f"no answer in time ({type(exc).__name__})"
    else:
        kind, detail = "unavailable", f"the connection failed ({type(exc).__name__})"
    unknown = sent and not idempotent
    if unknown:
        detail += "; the request may have been applied: check before sending it again"
    return FhirTransportError(
        kind,
        f"{where}: {detail}",
        outcome_unknown=unknown,
        request_id=request_id,
        attempts=attempt,
    )


def is_tls_failure(exc: BaseException) -> bool:
    """Whether a connection failed in its TLS handshake (a certificate refused either way)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "SSL" in text or "TLSV1_ALERT" in text or "certificate" in text.lower()


def _text(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return mask_nhs_numbers_in(
        "".join(ch if ch.isprintable() else " " for ch in value[:MAX_MESSAGE])
    )
