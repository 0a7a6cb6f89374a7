"""Authentication of the FHIR client against real servers on 127.0.0.1.

- NHS England's application-restricted signed JWT: a local token endpoint that checks each
  client assertion the way the API platform does (RS512 signature with the key registered under
  ``kid``, ``aud`` = its own URL, ``iss`` = ``sub`` = the API key, ``exp`` in the future and at
  most five minutes ahead, a ``jti`` never seen before) and a FHIR route that wants its tokens.
- Mutual TLS with a custom CA: a TLS server that requires a client certificate from that CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from interop.transport.auth import (
    CLIENT_ASSERTION_TYPE,
    SignedJwtAuth,
    TokenError,
    authenticator_for,
    tls_verify,
)
from interop.transport.fhir_client import FhirClient, FhirTransportError
from interop.transport.retry import RetryPolicy

pytestmark = pytest.mark.integration

API_KEY = "test-api-key-0001"
KID = "test-1"
PATIENT = {"resourceType": "Patient", "id": "p1"}


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The application's registered key, and a key the platform does not know."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


# --- the token endpoint ------------------------------------------------------------------------


@dataclass
class Platform:
    """The local API platform: token endpoint and one FHIR route, with what it saw."""

    url: str = ""
    public_keys: dict[str, Any] = field(default_factory=dict)
    expires_in: int = 599
    token_failures: list[int] = field(default_factory=list)  # statuses to answer first
    tokens: set[str] = field(default_factory=set)
    jtis: set[str] = field(default_factory=set)
    token_requests: int = 0
    rejections: list[str] = field(default_factory=list)
    fhir_authorizations: list[str] = field(default_factory=list)

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/token"

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """Check a client-credentials request as NHS England's token endpoint does."""
        self.token_requests += 1
        if self.token_failures:
            return self.token_failures.pop(0), {"error": "server_error"}
        if form.get("grant_type") != "client_credentials":
            return self.reject("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            return self.reject("invalid_request", "bad client_assertion_type")
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.DecodeError:
            return self.reject("invalid_request", "malformed JWT")
        if header.get("alg") != "RS512":
            return self.reject("invalid_request", "alg must be RS512")
        key = self.public_keys.get(header.get("kid", ""))
        if key is None:
            return self.reject("invalid_request", "kid does not match a registered key")
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS512"],
                audience=self.token_url,
                options={"require": ["iss", "sub", "aud", "jti", "exp"]},
            )
        except jwt.InvalidSignatureError:
            return self.reject("invalid_request", "signature does not verify")
        except jwt.InvalidAudienceError:
            return self.reject("invalid_request", "aud is not the token URL")
        except jwt.ExpiredSignatureError:
            return self.reject("invalid_request", "the assertion has expired")
        except jwt.InvalidTokenError as exc:
            return self.reject("invalid_request", f"invalid assertion ({type(exc).__name__})")
        if claims["iss"] != API_KEY or claims["sub"] != API_KEY:
            return self.reject("invalid_request", "iss and sub must be the API key")
        if claims["exp"] > time.time() + 300 + 5:
            return self.reject("invalid_request", "exp is more than 5 minutes ahead")
        if claims["jti"] in self.jtis:
            return self.reject("invalid_request", "jti has been used before")
        self.jtis.add(claims["jti"])
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        # NHS England sends expires_in as a string
        return 200, {
            "access_token": token,
            "expires_in": str(self.expires_in),
            "token_type": "Bearer",
        }

    def reject(self, error: str, description: str) -> tuple[int, dict[str, Any]]:
        self.rejections.append(description)
        return 401 if error == "invalid_request" else 400, {
            "error": error,
            "error_description": description,
        }

    def revoke_all(self) -> None:
        self.tokens.clear()


def _handler(platform: Platform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

        def answer(self, status: int, body: dict[str, Any], kind: str = "application/json") -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if self.path != "/oauth2/token":
                self.answer(404, {"error": "not_found"})
                return
            self.answer(*platform.exchange(form))

        def do_GET(self) -> None:
            authorization = self.headers.get("Authorization", "")
            platform.fhir_authorizations.append(authorization)
            token = authorization.removeprefix("Bearer ")
            if not authorization.startswith("Bearer ") or token not in platform.tokens:
                outcome = {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "login", "diagnostics": "bad token"}],
                }
                self.answer(401, outcome, "application/fhir+json")
                return
            self.answer(200, PATIENT, "application/fhir+json")

    return Handler


def _serve(
    handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None = None
) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def platform(keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> Iterator[Platform]:
    state = Platform(public_keys={KID: keys[0].public_key()})
    for port in _serve(_handler(state)):
        state.url = f"http://127.0.0.1:{port}"
        yield state


def _auth(platform: Platform, key: rsa.RSAPrivateKey, **kw: Any) -> SignedJwtAuth:
    options: dict[str, Any] = {
        "token_url": platform.token_url,
        "api_key": API_KEY,
        "private_key_pem": _pem(key),
        "kid": KID,
    } | kw
    return SignedJwtAuth(**options)


def _client(platform: Platform, auth: SignedJwtAuth, retries: int = 0) -> FhirClient:
    policy = RetryPolicy(max_retries=retries, sleep=lambda s: None)
    return FhirClient(f"{platform.url}/fhir", auth=auth, retry=policy)


# --- signed JWT ------------------------------------------------------------------------------


def test_signed_jwt_token_is_fetched_once_and_used(
    platform: Platform, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    with _client(platform, _auth(platform, keys[0])) as client:
        for _ in range(3):
            assert client.read("Patient", "p1") == PATIENT
    assert platform.rejections == []
    assert platform.token_requests == 1  # cached until it expires
    (token,) = platform.tokens
    assert platform.fhir_authorizations == [f"Bearer {token}"] * 3


def test_an_expiring_token_is_fetched_again(
    platform: Platform, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    platform.expires_in = 20  # inside the 30 s refresh margin: never reused
    with _client(platform, _auth(platform, keys[0])) as client:
        client.read("Patient", "p1")
        client.read("Patient", "p1")
    assert platform.token_requests == 2
    assert len(platform.jtis) == 2  # each assertion has its own jti
    assert len(set(platform.fhir_authorizations)) == 2


def test_a_revoked_token_is_replaced_once(
    platform: Platform, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    with _client(platform, _auth(platform, keys[0])) as client:
        client.read("Patient", "p1")
        platform.revoke_all()
        assert client.read("Patient", "p1") == PATIENT
    assert platform.token_requests == 2
    assert len(platform.fhir_authorizations) == 3  # the 401, then the retry with a new token


def test_token_endpoint_outage_is_retried(
    platform: Platform, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    platform.token_failures = [503]
    with _client(platform, _auth(platform, keys[0]), retries=2) as client:
        assert client.read("Patient", "p1") == PATIENT
    assert platform.token_requests == 2


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"kid": "test-2"}, "kid does not match"),
        ({"signing_key": 1}, "signature does not verify"),
        ({"api_key": "someone-else"}, "iss and sub must be the API key"),
    ],
    ids=["unknown-kid", "wrong-key", "wrong-api-key"],
)
def test_refused_assertion_is_an_auth_error_and_nothing_is_sent(
    platform: Platform,
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
    change: dict[str, Any],
    refusal: str,
) -> None:
    key = keys[change.pop("signing_key", 0)]
    auth = _auth(platform, key, **change)
    with _client(platform, auth, retries=3) as client, pytest.raises(FhirTransportError) as caught:
        client.read("Patient", "p1")
    assert caught.value.kind == "auth"
    assert refusal in str(caught.value)
    assert platform.token_requests == 1  # a refusal is not retried
    assert platform.fhir_authorizations == []  # the FHIR request was never sent


def _assertion(key: rsa.RSAPrivateKey, aud: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": API_KEY, "sub": API_KEY, "aud": aud, "jti": str(uuid.uuid4()), "exp": now + 60}
    headers = {"kid": claims.pop("kid", KID)}
    algorithm = claims.pop("alg", "RS512")
    return jwt.encode(body | claims, key, algorithm=algorithm, headers=headers)


@pytest.mark.parametrize(
    ("claims", "refusal"),
    [
        ({"aud": "https://elsewhere.example/oauth2/token"}, "aud is not the token URL"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"exp": int(time.time()) + 3600}, "more than 5 minutes ahead"),
        ({"alg": "RS256"}, "alg must be RS512"),
        ({"kid": "unknown"}, "kid does not match"),
    ],
    ids=["audience", "expired", "too-long", "algorithm", "kid"],
)
def test_the_token_endpoint_really_checks_assertions(
    platform: Platform,
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
    claims: dict[str, Any],
    refusal: str,
) -> None:
    """The checks the client's assertions pass are real: each defect is refused."""
    aud = claims.pop("aud", platform.token_url)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": _assertion(keys[0], aud, **claims),
    }
    response = httpx.post(platform.token_url, data=form)
    assert response.status_code == 401
    assert refusal in response.json()["error_description"]


def test_a_replayed_assertion_is_refused(
    platform: Platform, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": _assertion(keys[0], platform.token_url),
    }
    assert httpx.post(platform.token_url, data=form).status_code == 200
    assert "jti has been used" in httpx.post(platform.token_url, data=form).text


def test_client_assertion_claims(keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> None:
    now = 1_800_000_000.0
    auth = SignedJwtAuth(
        token_url="https://int.api.service.nhs.uk/oauth2/token",
        api_key=API_KEY,
        private_key_pem=_pem(keys[0]),
        kid=KID,
        lifetime=120,
        clock=lambda: now,
    )
    assertion = auth.client_assertion()
    assert jwt.get_unverified_header(assertion) == {"alg": "RS512", "kid": KID, "typ": "JWT"}
    claims = jwt.decode(
        assertion,
        keys[0].public_key(),
        algorithms=["RS512"],
        audience="https://int.api.service.nhs.uk/oauth2/token",
        options={"verify_exp": False},
    )
    assert claims["iss"] == claims["sub"] == API_KEY
    assert claims["exp"] == int(now) + 120
    uuid.UUID(claims["jti"])
    assert auth.client_assertion() != assertion  # a new jti every time


def test_cache_refreshes_inside_the_margin(
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    clock = [1_800_000_000.0]
    issued: list[str] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        issued.append(f"t{len(issued)}")
        return httpx.Response(200, json={"access_token": issued[-1], "expires_in": "600"})

    auth = SignedJwtAuth(
        token_url="https://auth.test/oauth2/token",
        api_key=API_KEY,
        private_key_pem=_pem(keys[0]),
        kid=KID,
        clock=lambda: clock[0],
    )
    http = httpx.Client(transport=httpx.MockTransport(token_endpoint))
    assert auth.header(http) == "Bearer t0"
    clock[0] += 569  # 31 s left: still used
    assert auth.header(http) == "Bearer t0"
    clock[0] += 2  # 29 s left: inside the 30 s margin
    assert auth.header(http) == "Bearer t1"


def test_bad_token_answers(keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> None:
    answers = [
        httpx.Response(200, json={"token_type": "Bearer"}),
        httpx.Response(200, content=b"<html>"),
        httpx.Response(503, json={"error": "unavailable"}),
    ]
    auth = _auth_offline(keys[0])
    http = httpx.Client(transport=httpx.MockTransport(lambda r: answers.pop(0)))
    with pytest.raises(TokenError, match="without a usable access_token"):
        auth.header(http)
    with pytest.raises(TokenError, match="answered 200 without"):
        auth.header(http)
    with pytest.raises(TokenError) as caught:
        auth.header(http)
    assert caught.value.transient


def _auth_offline(key: rsa.RSAPrivateKey) -> SignedJwtAuth:
    return SignedJwtAuth(
        token_url="https://auth.test/oauth2/token",
        api_key=API_KEY,
        private_key_pem=_pem(key),
        kid=KID,
    )


def test_settings_are_checked_and_the_key_never_shown(
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> None:
    pem = _pem(keys[0])
    with pytest.raises(ValueError, match="at most 300"):
        SignedJwtAuth(
            token_url="https://a.test/t",
            api_key=API_KEY,
            private_key_pem=pem,
            kid=KID,
            lifetime=301,
        )
    garbage = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ValueError, match="not an unencrypted PEM") as caught:
        SignedJwtAuth(
            token_url="https://a.test/t", api_key=API_KEY, private_key_pem=garbage, kid=KID
        )
    assert "c2VjcmV0" not in str(caught.value)
    auth = _auth_offline(keys[0])
    assert "PRIVATE" not in repr(auth)
    assert API_KEY not in repr(auth)


def test_tokens_never_reach_the_logs(
    platform: Platform,
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with _client(platform, _auth(platform, keys[0])) as client:
        client.read("Patient", "p1")
        platform.revoke_all()
        client.read("Patient", "p1")
    logged = caplog.text
    assert "interop.transport.fhir" in logged or "GET Patient/p1" in logged
    for token in platform.fhir_authorizations:
        assert token.removeprefix("Bearer ") not in logged


def test_authenticator_from_settings(keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> None:
    from interop.config import BearerAuthSettings, Secret, SignedJwtSettings

    bearer = authenticator_for(BearerAuthSettings(Secret("env:T", "abc")))
    assert bearer.header(httpx.Client()) == "Bearer abc"
    signed = authenticator_for(
        SignedJwtSettings(
            "https://a.test/oauth2/token",
            Secret("env:K", API_KEY),
            Secret("file:k", _pem(keys[0])),
            KID,
        )
    )
    assert isinstance(signed, SignedJwtAuth)
    assert signed.kid == KID


# --- mutual TLS --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[str, rsa.RSAPrivateKey] | None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip is not None:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, server_key, client_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)
    )
    issuer = ("Test CA", ca_key)
    files = {
        "ca": _certificate("Test CA", ca_key, None, ca=True),
        "server_cert": _certificate("127.0.0.1", server_key, issuer, ip="127.0.0.1"),
        "client_cert": _certificate("X26 interop client", client_key, issuer),
    }
    paths: dict[str, Path] = {}
    for name, cert in files.items():
        paths[name] = folder / f"{name}.pem"
        paths[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for name, key in (("server_key", server_key), ("client_key", client_key)):
        paths[name] = folder / f"{name}.pem"
        paths[name].write_text(_pem(key), encoding="utf-8")
    return Pki(**paths)


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[tuple[str, list[str]]]:
    """A FHIR route over TLS that requires a client certificate from the test CA."""
    subjects: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            peer = self.connection.getpeercert()  # type: ignore[attr-defined]
            subjects.append(dict(x[0] for x in peer["subject"])["commonName"])
            data = json.dumps(PATIENT).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    for port in _serve(Handler, context):
        yield f"https://127.0.0.1:{port}/fhir", subjects


def _tls_client(base: str, verify: ssl.SSLContext | bool) -> FhirClient:
    return FhirClient(base, verify=verify, retry=RetryPolicy(max_retries=0), timeout=5)


def test_mutual_tls_with_a_custom_ca(pki: Pki, mtls_server: tuple[str, list[str]]) -> None:
    base, subjects = mtls_server
    verify = tls_verify(ca_bundle=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key)
    with _tls_client(base, verify) as client:
        assert client.read("Patient", "p1") == PATIENT
    assert subjects == ["X26 interop client"]


def test_verification_is_on_by_default(pki: Pki, mtls_server: tuple[str, list[str]]) -> None:
    base, subjects = mtls_server
    verify = tls_verify(client_cert=pki.client_cert, client_key=pki.client_key)  # no test CA
    with _tls_client(base, verify) as client, pytest.raises(FhirTransportError) as caught:
        client.read("Patient", "p1")
    assert caught.value.kind == "auth"
    assert subjects == []
    assert tls_verify() is True


def test_without_a_client_certificate_the_server_refuses(
    pki: Pki, mtls_server: tuple[str, list[str]]
) -> None:
    base, subjects = mtls_server
    client = _tls_client(base, tls_verify(ca_bundle=pki.ca))
    with client, pytest.raises(FhirTransportError) as caught:
        client.read("Patient", "p1")
    assert caught.value.kind == "auth"
    assert subjects == []


def test_verification_off_only_when_asked(pki: Pki, mtls_server: tuple[str, list[str]]) -> None:
    base, subjects = mtls_server
    assert subjects == []
    verify = tls_verify(verify_tls=False, client_cert=pki.client_cert, client_key=pki.client_key)
    with _tls_client(base, verify) as client:
        assert client.read("Patient", "p1") == PATIENT
    assert subjects == ["X26 interop client"]
    assert tls_verify(verify_tls=False) is False


def test_unreadable_client_certificate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot load the client certificate"):
        tls_verify(client_cert=tmp_path / "absent.pem", client_key=tmp_path / "absent.key")
