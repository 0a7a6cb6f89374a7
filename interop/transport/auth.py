"""How the FHIR client proves who it is: bearer token, NHS England signed JWT, mutual TLS.

An ``Authenticator`` gives the ``Authorization`` header for each attempt of a request, so a
retry after a token expired carries a fresh one:

- ``NoAuth``: nothing (a local sandbox);
- ``BearerToken``: a fixed token from configuration;
- ``SignedJwtAuth``: NHS England's application-restricted access. A JWT client assertion
  (header ``alg`` RS512 and ``kid``; claims ``iss`` = ``sub`` = the API key, ``aud`` = the token
  URL, a fresh ``jti``, ``exp`` at most five minutes ahead) is signed with the application's
  private key and exchanged at the token endpoint (``grant_type=client_credentials``); the
  access token is cached until shortly before it expires.

``tls_verify`` turns the TLS settings (verification on by default, a custom CA bundle, a
client certificate for mutual TLS) into what httpx takes as ``verify``.

Nothing here ever puts a token, a key or an assertion into a message or a repr.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from interop.transport.base import TransportError

if TYPE_CHECKING:
    from interop.config import EndpointAuth

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "Authenticator",
    "BearerToken",
    "NoAuth",
    "SignedJwtAuth",
    "TokenError",
    "authenticator_for",
    "tls_verify",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: NHS England refuses assertions that expire more than five minutes ahead
MAX_ASSERTION_LIFETIME = 300.0
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
_MAX_TOKEN_RESPONSE = 64 * 1024


class TokenError(TransportError):
    """The token endpoint did not give an access token.

    ``transient`` is true when trying again later may work (unreachable, 429, 5xx);
    ``status`` is the token endpoint's HTTP status when it answered.
    """

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


class Authenticator(Protocol):
    """Gives the Authorization header of a request; forgets a token the server refused."""

    def header(self, http: httpx.Client) -> str | None:
        """The ``Authorization`` value for the next attempt (None: send none)."""

    def invalidate(self) -> None:
        """Drop a cached token (the server answered 401 to it)."""

    @property
    def refreshable(self) -> bool:
        """Whether ``invalidate`` then ``header`` can give a different, fresh token."""


class NoAuth:
    """No authentication (a local or open test server)."""

    refreshable = False

    def header(self, http: httpx.Client) -> str | None:
        """No header."""
        return None

    def invalidate(self) -> None:
        """Nothing to forget."""

    def __repr__(self) -> str:
        return "NoAuth()"


class BearerToken:
    """A fixed bearer token; its repr never shows it."""

    refreshable = False

    def __init__(self, token: str) -> None:
        if not token.strip() or any(ch in token for ch in "\r\n"):
            raise ValueError("a bearer token is a non-empty single line")
        self._value = f"Bearer {token.strip()}"

    def header(self, http: httpx.Client) -> str | None:
        """``Bearer <token>``."""
        return self._value

    def invalidate(self) -> None:
        """A fixed token cannot be refreshed."""

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"


@dataclass(frozen=True)
class _CachedToken:
    header: str
    expires_at: float


class SignedJwtAuth:
    """NHS England application-restricted access: signed JWT → access token, cached.

    ``private_key_pem`` is the PEM text of the RSA private key whose public key the API
    platform holds under ``kid``. ``lifetime`` is the assertion's lifetime in seconds (at most
    300). A token is reused until ``refresh_margin`` seconds before it expires. ``clock`` gives
    the Unix time (replaceable for tests). Safe to share between threads.
    """

    refreshable = True

    def __init__(
        self,
        *,
        token_url: str,
        api_key: str,
        private_key_pem: str,
        kid: str,
        lifetime: float = MAX_ASSERTION_LIFETIME,
        refresh_margin: float = 30.0,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError("the assertion lifetime must be more than 0 and at most 300 s")
        if not token_url.startswith(("https://", "http://")):
            raise ValueError("the token URL must be an http(s) URL")
        if not api_key.strip() or not kid.strip():
            raise ValueError("the API key and the key id (kid) must not be empty")
        self._key = _load_private_key(private_key_pem)
        self.token_url = token_url
        self._api_key = api_key.strip()
        self.kid = kid.strip()
        self._lifetime = lifetime
        self._margin = refresh_margin
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: _CachedToken | None = None

    def __repr__(self) -> str:
        return f"SignedJwtAuth(token_url={self.token_url!r}, kid={self.kid!r})"

    def client_assertion(self) -> str:
        """A freshly signed client assertion (RS512, ``kid`` in the header)."""
        now = self._clock()
        claims: dict[str, Any] = {
            "iss": self._api_key,
            "sub": self._api_key,
            "aud": self.token_url,
            "jti": str(uuid.uuid4()),
            "exp": int(now + self._lifetime),
        }
        return jwt.encode(claims, self._key, algorithm="RS512", headers={"kid": self.kid})

    def header(self, http: httpx.Client) -> str | None:
        """``Bearer <access token>``, fetched when none is cached or it is about to expire."""
        with self._lock:
            cached = self._cached
            if cached is not None and self._clock() < cached.expires_at - self._margin:
                return cached.header
            self._cached = self._fetch(http)
            return self._cached.header

    def invalidate(self) -> None:
        """Forget the cached token."""
        with self._lock:
            self._cached = None

    def _fetch(self, http: httpx.Client) -> _CachedToken:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(),
        }
        where = f"token endpoint {self.token_url}"
        try:
            response = http.post(
                self.token_url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            raise TokenError(f"{where}: no answer in time", transient=True) from None
        except httpx.TransportError as exc:
            raise TokenError(
                f"{where}: unreachable ({type(exc).__name__})", transient=True
            ) from None
        body = response.content[:_MAX_TOKEN_RESPONSE]
        try:
            answer = json.loads(body) if body else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.status_code != 200:
            raise TokenError(
                f"{where} answered {response.status_code}: {_oauth_error(answer)}",
                status=response.status_code,
                transient=response.status_code in _TRANSIENT,
            )
        token = answer.get("access_token")
        expires_in = answer.get("expires_in", 0)
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            seconds = 0.0
        if not isinstance(token, str) or not token or any(ch in token for ch in "\r\n "):
            raise TokenError(f"{where} answered 200 without a usable access_token", status=200)
        return _CachedToken(f"Bearer {token}", self._clock() + max(0.0, seconds))


def _oauth_error(answer: dict[str, Any]) -> str:
    """The OAuth ``error`` and ``error_description`` (short, printable) or a placeholder."""
    parts = [str(answer[k])[:300] for k in ("error", "error_description") if answer.get(k)]
    text = ": ".join(parts) or "no error description"
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _load_private_key(pem: str) -> RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        # the key's text is never repeated in the message
        raise ValueError("the private key is not an unencrypted PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("RS512 needs an RSA private key")
    return key


def tls_verify(
    *,
    verify_tls: bool = True,
    ca_bundle: Path | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
) -> ssl.SSLContext | bool:
    """What httpx takes as ``verify``: True (system CAs via certifi), an SSL context (custom
    CA bundle, client certificate for mutual TLS) or False (only a test endpoint's config)."""
    if ca_bundle is None and client_cert is None and verify_tls:
        return True
    if verify_tls:
        import certifi

        context = ssl.create_default_context(cafile=str(ca_bundle or certifi.where()))
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        try:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ValueError(
                f"cannot load the client certificate {client_cert}: {reason}"
            ) from None
    if not verify_tls and client_cert is None:
        return False
    return context


def authenticator_for(auth: EndpointAuth | None, *, timeout: float = 30.0) -> Authenticator:
    """The authenticator of an endpoint's ``auth`` settings (``NoAuth`` when there are none)."""
    # told apart by their ``type`` tag: the transport does not import the configuration
    if auth is None:
        return NoAuth()
    if auth.type in ("bearer", "cis2"):  # a CIS2 access token is a bearer token
        return BearerToken(auth.token.value)
    if auth.type == "signed-jwt":
        return SignedJwtAuth(
            token_url=auth.token_url,
            api_key=auth.api_key.value,
            private_key_pem=auth.private_key.value,
            kid=auth.kid,
            lifetime=auth.assertion_lifetime,
            timeout=timeout,
        )
    raise TypeError(f"unknown auth settings {type(auth).__name__}")
