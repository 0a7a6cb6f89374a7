"""The sections of ``interop.toml`` as pydantic dataclasses: the fields, their defaults and the
checks of one table. ``FILE_KEYS`` lists the keys a section's table accepts, in the order the
"unknown key" message lists them; ``checks`` adds the problems that involve several keys.

What spans sections (the environment's guards, the directory's references to endpoints) is
read through the ``ReadContext`` or checked by ``interop.config.loading``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlparse

from pydantic import BeforeValidator, ConfigDict, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from interop.config.messages import did_you_mean, type_name
from interop.config.values import (
    ENDPOINT_NAME,
    Flag,
    Mailbox,
    ReadContext,
    SecretValue,
    Text,
    WorkflowId,
    flag,
    from_file,
    integer,
    issue,
    issues,
    number,
    pem_file,
    read_table,
    reading,
    relative_path,
    text,
)
from interop.config.values import mailbox as _mailbox
from interop.config.values import workflow_id as _workflow_id
from interop.domain import ARTEFACT_KINDS
from interop.identifiers import check_ods_code

EnvironmentName = Literal["production", "test"]
EndpointKind = Literal["fhir", "mesh", "mllp", "folder"]
PushMode = Literal["transaction", "resources"]
OrganisationRole = Literal["local-authority", "health", "police", "other"]
ENDPOINT_KINDS: tuple[EndpointKind, ...] = ("fhir", "mesh", "mllp", "folder")
PUSH_MODES: tuple[PushMode, ...] = ("transaction", "resources")
#: how a FHIR endpoint is searched for a child's resources (interop.transport.fhir_client)
PatientSearch = Literal["auto", "identifier", "chain", "resolve"]
PATIENT_SEARCHES: tuple[PatientSearch, ...] = ("auto", "identifier", "chain", "resolve")
#: how a push writes what a FHIR endpoint does not hold yet (interop.transport.fhir_records)
WriteMode = Literal["auto", "client-ids", "conditional", "create"]
WRITE_MODES: tuple[WriteMode, ...] = ("auto", "client-ids", "conditional", "create")
ORGANISATION_ROLES: tuple[OrganisationRole, ...] = ("local-authority", "health", "police", "other")
NAMED_ENDPOINTS = ("INT", "LIVE")

#: which keys belong to which kind of endpoint (besides ``kind`` and ``artefacts``)
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "fhir": (
        "url",
        "auth",
        "client_cert",
        "client_key",
        "ca_bundle",
        "verify_tls",
        "ods_code",
        "push_mode",
        "patient_search",
        "write",
        "timeout",
        "max_retries",
        "retry_budget",
    ),
    "mesh": ("mailbox", "workflow_id"),
    "mllp": ("url", "timeout", "max_retries", "retry_budget"),
    "folder": ("path",),
}
#: the keys an endpoint of each kind cannot do without
KIND_REQUIRES: dict[str, tuple[str, ...]] = {
    "fhir": ("url",),
    "mesh": ("mailbox", "workflow_id"),
    "mllp": ("url",),
    "folder": ("path",),
}

# Unknown keys are reported before pydantic sees a table (with suggestions), so "forbid"
# only guards code that builds settings by hand.
_SETTINGS = ConfigDict(extra="forbid")

_Problems = list[tuple[tuple[str, ...], str]]


def _one_of(choices: tuple[str, ...]) -> BeforeValidator:
    def check(value: Any, _: ReadContext) -> str:
        found = text(value)
        if found not in choices:
            raise issue(f"must be one of {', '.join(choices)}")
        return found

    return from_file(check)


def _strings(value: Any, _: ReadContext) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise issue("expected a list of non-empty strings")
    return tuple(v.strip() for v in value)


OptionalText = Annotated[str | None, from_file(text)]
OptionalPem = Annotated[Path | None, from_file(pem_file)]
_Number = Annotated[float, number(0, 3600)]
_Retries = Annotated[int, integer(0, 10)]


def _ods_code(value: Any, _: ReadContext) -> str:
    found = text(value)
    try:
        return check_ods_code(found)
    except ValueError as exc:
        raise issue(str(exc)) from None


@dataclass(frozen=True, config=_SETTINGS)
class EnvironmentSettings:
    """``[environment]``: whether this installation handles real data."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("name",)

    # the strictest by default: a file that forgets [environment] cannot send live data
    # anywhere unsafe; a test installation says so
    name: Annotated[EnvironmentName, from_file(lambda v, _: _environment_name(v))] = "production"


_HTTPS_ENDPOINT = "production traffic off this machine needs an https:// endpoint"
_HTTPS_URL = "production traffic off this machine needs an https:// URL"

#: what a production guard's message adds when the file names no environment
DEFAULT_PRODUCTION_HINT = (
    'production is the default environment: add [environment] name = "test" for a test environment'
)


def _production_guard(message: str, context: ReadContext) -> str:
    """A production guard's ``message``, with how to declare a test environment when the file
    names none (the user may not know the default is production)."""
    if context.environment_declared:
        return message
    return f"{message} ({context.production_hint or DEFAULT_PRODUCTION_HINT})"


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine: ``localhost``, ``127.0.0.0/8`` or ``::1``.

    Plain http to such a host never crosses a network (a local TLS-terminating proxy, a
    sandbox, a test server), so the production guards let it through, as browsers treat
    loopback as a secure context (W3C Secure Contexts, section 3.1; RFC 6761, section 6.3).
    """
    host = (urlparse(url).hostname or "").rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plain_http_refused(url: str, context: ReadContext) -> bool:
    """Whether the production guard refuses ``url``: http, in production, off this machine."""
    return (
        context.environment == "production"
        and urlparse(url).scheme == "http"
        and not is_loopback_url(url)
    )


def _environment_name(value: Any) -> str:
    found = text(value)
    if found not in ("production", "test"):
        raise issue('must be "production" or "test"')
    return found


@dataclass(frozen=True, config=_SETTINGS)
class LocalAuthoritySettings:
    """``[local_authority]``: validated like ``ResponsibleLocalAuthority`` when loaded."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = (
        "ods_code",
        "name",
        "emergency_duty_phone",
        "office_hours_phone",
        "secure_email",
    )

    ods_code: Text
    name: Text
    emergency_duty_phone: Text
    office_hours_phone: OptionalText = None
    secure_email: OptionalText = None


def _mesh_endpoint(value: Any, context: ReadContext) -> str:
    found = text(value)
    if found.upper() in NAMED_ENDPOINTS:
        found = found.upper()
    else:
        url = urlparse(found)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise issue('must be "INT", "LIVE" or an http(s):// URL')
    if context.environment is None:
        return found
    # Real data only goes to LIVE, and test data never does.
    if found == "LIVE" and context.environment != "production":
        raise issue('LIVE needs [environment] name = "production"')
    if found == "INT" and context.environment == "production":
        raise issue(
            _production_guard("INT is for tests: production data never goes there", context)
        )
    # a URL is a sandbox or a proxy: plain http only to one on this machine
    if _plain_http_refused(found, context):
        raise issue(_production_guard(_HTTPS_ENDPOINT, context))
    return found


@dataclass(frozen=True, config=_SETTINGS)
class MeshSettings:
    """``[mesh]``: how to reach this installation's MESH mailbox.

    ``endpoint`` is ``"INT"``, ``"LIVE"`` or an http(s) URL (a local sandbox, a proxy).
    ``timeout`` is per request, in seconds; ``max_retries`` and ``retry_budget`` (seconds,
    the total time spent waiting between attempts) bound the retries of idempotent requests.
    """

    FILE_KEYS: ClassVar[tuple[str, ...]] = (
        "endpoint",
        "mailbox",
        "password",
        "shared_key",
        "client_cert",
        "client_key",
        "ca_bundle",
        "verify_tls",
        "timeout",
        "max_retries",
        "retry_budget",
    )

    endpoint: Annotated[str, from_file(_mesh_endpoint)]
    mailbox: Mailbox
    password: SecretValue
    shared_key: SecretValue
    client_cert: OptionalPem = None
    client_key: OptionalPem = None
    ca_bundle: OptionalPem = None
    verify_tls: Flag = True
    timeout: Annotated[float, number(0, 3600)] = 120.0
    max_retries: _Retries = 3
    retry_budget: _Number = 60.0

    @classmethod
    def checks(cls, table: Mapping[str, Any], context: ReadContext) -> _Problems:
        """The problems of keys that go together, and of the environment's guards."""
        found: _Problems = []
        if ("client_cert" in table) != ("client_key" in table):
            found.append(((), "client_cert and client_key go together: give both or neither"))
        try:
            endpoint: str | None = _mesh_endpoint(table.get("endpoint"), context)
        except Exception:  # reported by the field itself
            endpoint = None
        if endpoint in NAMED_ENDPOINTS and "client_cert" not in table:
            found.append(
                (("client_cert",), f"required for {endpoint}: MESH authenticates with mutual TLS")
            )
        if table.get("verify_tls") is False and (
            endpoint in NAMED_ENDPOINTS or context.environment == "production"
        ):
            message = "may only be false for a test endpoint given by URL"
            if endpoint not in NAMED_ENDPOINTS:
                message = _production_guard(message, context)
            found.append((("verify_tls",), message))
        return found


@dataclass(frozen=True, config=_SETTINGS)
class CpisSettings:
    """``[cpis]``: CP-IS's MESH mailbox and the workflow id of each CP-IS message."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = (
        "mailbox",
        "upload_workflow_id",
        "acknowledgement_workflow_id",
        "access_notification_workflow_id",
        "inactive_nhs_number_workflow_id",
        "max_records_per_file",
    )

    mailbox: Mailbox
    upload_workflow_id: WorkflowId
    acknowledgement_workflow_id: WorkflowId
    access_notification_workflow_id: WorkflowId
    inactive_nhs_number_workflow_id: WorkflowId
    max_records_per_file: Annotated[int, integer(1, 5000)] = 5000


def _http_url(value: Any, context: ReadContext) -> str:
    found = text(value)
    if urlparse(found).scheme not in ("http", "https"):
        raise issue("must be an http(s):// URL")
    # a token request carries the signed client assertion and returns the access token:
    # over plain http only to a token server on this machine
    if _plain_http_refused(found, context):
        raise issue(_production_guard(_HTTPS_URL, context))
    return found


@dataclass(frozen=True, config=_SETTINGS)
class BearerAuthSettings:
    """``auth = { type = "bearer", token = { env = ... } }``: a fixed bearer token."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("type", "token")

    type: Literal["bearer"] = field(default="bearer", kw_only=True, repr=False)
    token: SecretValue


@dataclass(frozen=True, config=_SETTINGS)
class SignedJwtSettings:
    """NHS England application-restricted access: a signed JWT exchanged for a token.

    ``api_key`` is the application's key (``iss`` and ``sub``), ``private_key`` the PEM text of
    its RSA key registered under ``kid``; ``assertion_lifetime`` is at most 300 seconds.
    """

    FILE_KEYS: ClassVar[tuple[str, ...]] = (
        "type",
        "token_url",
        "api_key",
        "private_key",
        "kid",
        "assertion_lifetime",
    )

    type: Literal["signed-jwt"] = field(default="signed-jwt", kw_only=True, repr=False)
    token_url: Annotated[str, from_file(_http_url)]
    api_key: SecretValue
    private_key: SecretValue
    kid: Text
    assertion_lifetime: Annotated[float, number(0, 300)] = 300.0

    @field_validator("private_key")
    @classmethod
    def _pem(cls, value: Any, info: ValidationInfo) -> Any:
        context = reading(info)
        if context is not None and context.resolve and "PRIVATE KEY" not in value.value:
            raise issue("expected a PEM private key")
        return value


@dataclass(frozen=True, config=_SETTINGS)
class Cis2AuthSettings:
    """NHS England user-restricted access (NHS CIS2): the user's access token and role.

    ``token`` is the CIS2 access token the user's session obtained (the toolkit does not run the
    CIS2 sign-in itself); ``role_id`` is the user's role profile id, sent as
    ``NHSD-Session-URID``. When it is not configured the caller gives it (``--role-id``): it is
    never guessed.
    """

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("type", "token", "role_id")

    type: Literal["cis2"] = field(default="cis2", kw_only=True, repr=False)
    token: SecretValue
    role_id: OptionalText = None


EndpointAuth = BearerAuthSettings | SignedJwtSettings | Cis2AuthSettings
_AUTH_TYPES: dict[
    str, type[BearerAuthSettings] | type[SignedJwtSettings] | type[Cis2AuthSettings]
] = {
    "bearer": BearerAuthSettings,
    "signed-jwt": SignedJwtSettings,
    "cis2": Cis2AuthSettings,
}


def _auth(value: Any, context: ReadContext) -> EndpointAuth:
    if isinstance(value, BearerAuthSettings | SignedJwtSettings | Cis2AuthSettings):
        return value
    if not isinstance(value, dict):
        raise issue(f"expected a table, found {type_name(value)}")
    if "type" not in value:
        raise issues([(("type",), "missing required setting")], value)
    try:
        kind = text(value["type"])
    except PydanticCustomError as exc:  # located at the key, in its own words
        raise issues([(("type",), str((exc.context or {})["message"]))], value) from None
    if kind not in _AUTH_TYPES:
        raise issues([(("type",), 'must be "bearer", "signed-jwt" or "cis2"')], value)
    settings: EndpointAuth = read_table(_AUTH_TYPES[kind], value, context)
    return settings


def _artefact_kinds(value: Any, _: ReadContext) -> frozenset[str]:
    kinds = _strings(value, _)
    wrong = [k for k in kinds if k not in ARTEFACT_KINDS]
    if wrong:
        found: _Problems = [
            ((), f"unknown artefact kind {k!r}{did_you_mean(k, ARTEFACT_KINDS)}") for k in wrong
        ]
        raise issues(found, value)
    return frozenset(kinds)


@dataclass(frozen=True, config=_SETTINGS)
class EndpointSettings:
    """``[endpoints.NAME]``: one place artefacts are sent to or read from.

    ``url`` is the FHIR base URL (``fhir``) or ``mllp://host:port`` (``mllp``); ``path`` the
    folder (``folder``); ``mailbox`` and ``workflow_id`` the recipient mailbox and workflow
    (``mesh``, sent with the ``[mesh]`` mailbox's credentials). ``ods_code`` is sent as
    ``NHSD-End-User-Organisation-ODS``. ``patient_search`` is how a child's resources are
    searched: ``identifier`` (``patient:identifier=``, the CP-IS API's pattern), ``chain``
    (``patient.identifier=``), ``resolve`` (the Patient by identifier, then ``patient=``) or
    ``auto`` (the default: as the server's CapabilityStatement offers). ``write`` is how a
    push writes what the server does not hold: ``client-ids`` (PUT at deterministic ids),
    ``conditional`` (``PUT Type?identifier=``), ``create`` (POST with ``If-None-Exist``) or
    ``auto`` (the default: as the server's CapabilityStatement offers).
    ``artefacts`` lists the kinds this endpoint takes
    (empty: every kind). ``timeout`` is per request; ``max_retries`` and ``retry_budget`` bound
    the retries of idempotent requests.
    """

    FILE_KEYS: ClassVar[tuple[str, ...]] = (
        "kind",
        "url",
        "path",
        "mailbox",
        "workflow_id",
        "auth",
        "client_cert",
        "client_key",
        "ca_bundle",
        "verify_tls",
        "ods_code",
        "artefacts",
        "push_mode",
        "patient_search",
        "write",
        "timeout",
        "max_retries",
        "retry_budget",
    )

    name: str
    kind: Annotated[EndpointKind, _one_of(ENDPOINT_KINDS)]
    url: str | None = None
    path: Annotated[Path | None, from_file(relative_path)] = None
    mailbox: Annotated[str | None, from_file(_mailbox)] = None
    workflow_id: Annotated[str | None, from_file(_workflow_id)] = None
    auth: Annotated[EndpointAuth | None, from_file(_auth)] = None
    client_cert: OptionalPem = None
    client_key: OptionalPem = None
    ca_bundle: OptionalPem = None
    verify_tls: Flag = True
    ods_code: Annotated[str | None, from_file(_ods_code)] = None
    artefacts: Annotated[frozenset[str], from_file(_artefact_kinds)] = frozenset()
    push_mode: Annotated[PushMode, _one_of(PUSH_MODES)] = "transaction"
    patient_search: Annotated[PatientSearch, _one_of(PATIENT_SEARCHES)] = "auto"
    write: Annotated[WriteMode, _one_of(WRITE_MODES)] = "auto"
    timeout: Annotated[float, number(0, 3600)] = 30.0
    max_retries: _Retries = 3
    retry_budget: _Number = 60.0

    def accepts(self, kind: str) -> bool:
        """Whether this endpoint takes artefacts of ``kind``."""
        return not self.artefacts or kind in self.artefacts

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: Any, info: ValidationInfo) -> Any:
        context = reading(info)
        kind = info.data.get("kind")
        if context is None or kind not in ("fhir", "mllp"):
            return value
        found = text(value)
        url = urlparse(found)
        schemes = ("http", "https") if kind == "fhir" else ("mllp",)
        if url.scheme not in schemes or not url.hostname:
            raise issue(f"must be a {' or '.join(s + '://' for s in schemes)} URL")
        if kind == "mllp" and url.port is None:
            raise issue("an MLLP URL names its port: mllp://host:port")
        if url.query or url.fragment or url.username or url.password:
            # never credentials in a URL: they would end up in logs
            raise issue("a base URL has no query, fragment or user information")
        if kind == "fhir" and _plain_http_refused(found, context):
            raise issue(_production_guard(_HTTPS_ENDPOINT, context))
        return found.rstrip("/")

    @classmethod
    def checks(cls, table: Mapping[str, Any], context: ReadContext) -> _Problems:
        """The keys of another kind of endpoint, the keys this kind needs, the guards."""
        kind = table.get("kind")
        if kind not in ENDPOINT_KINDS:
            return []
        found: _Problems = [
            ((key,), f"not a setting of a {kind} endpoint")
            for key in table
            if key in cls.FILE_KEYS and key not in ("kind", "artefacts", *KIND_KEYS[kind])
        ]
        found += [((k,), "missing required setting") for k in KIND_REQUIRES[kind] if k not in table]
        if ("client_cert" in table) != ("client_key" in table):
            found.append(((), "client_cert and client_key go together: give both or neither"))
        if table.get("verify_tls") is False and context.environment == "production":
            message = _production_guard("may only be false in a test environment", context)
            found.append((("verify_tls",), message))
        elif table.get("verify_tls") is False and _is_nhs_host(table.get("url")):
            found.append((("verify_tls",), "may not be false towards an nhs.uk host"))
        return found


def _is_nhs_host(url: Any) -> bool:
    """Whether a URL's host is nhs.uk or under it (NHS England's APIs, the Spine)."""
    host = (urlparse(url).hostname or "") if isinstance(url, str) else ""
    return host == "nhs.uk" or host.endswith(".nhs.uk")


@dataclass(frozen=True, config=_SETTINGS)
class DirectoryEntry:
    """``[directory.ODS]``: an organisation, how to reach it, and (for a local authority) the
    health and police partners it shares with, by ODS code."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("name", "role", "endpoints", "partners")

    ods_code: str
    name: Text
    role: Annotated[OrganisationRole, _one_of(ORGANISATION_ROLES)] = "other"
    endpoints: Annotated[tuple[str, ...], from_file(_strings)] = ()
    partners: Annotated[
        tuple[str, ...], from_file(lambda v, c: tuple(p.upper() for p in _strings(v, c)))
    ] = ()


@dataclass(frozen=True, config=_SETTINGS)
class AuditSettings:
    """``[audit]``: the JSON-lines log of unscheduled CP-IS lookups, and who runs them."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("log", "user")

    log: Annotated[Path, from_file(relative_path)]
    user: OptionalText = None


def _nhs_numbers(value: Any, _: ReadContext) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise issue("expected a list of NHS numbers as strings")
    return frozenset(v.replace(" ", "") for v in value)


_NhsNumbers = Annotated[frozenset[str], from_file(_nhs_numbers)]


@dataclass(frozen=True, config=_SETTINGS)
class StandInSettings:
    """``[stand_in]``: the CP-IS stand-in's register and what its make-believe PDS knows."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = (
        "register",
        "accept_test_block",
        "pds_known_file",
        "pds_known",
        "pds_unknown",
        "sensitive",
        "superseded",
    )

    register: Annotated[Path, from_file(relative_path)]
    pds_known: _NhsNumbers = frozenset()
    accept_test_block: Annotated[bool, flag("true or false")] = False
    pds_unknown: _NhsNumbers = frozenset()
    sensitive: _NhsNumbers = frozenset()
    superseded: _NhsNumbers = frozenset()


def endpoint_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an endpoint, or None."""
    if ENDPOINT_NAME.fullmatch(name):
        return None
    return "an endpoint name is up to 64 letters, digits, '_', '.' or '-'"
