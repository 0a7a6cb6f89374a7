"""The toolkit's configuration: one ``interop.toml`` read into frozen dataclasses.

Sections (``docs/interop.example.toml`` is a commented example that loads):

- ``[local_authority]``: the authority this installation works for (``Config.local_authority()``
  gives it as ``interop.domain.ResponsibleLocalAuthority``).
- ``[mesh]``: the MESH endpoint (``"INT"``, ``"LIVE"`` or a URL), the mailbox, its secrets
  and certificates, TLS verification, the per-request timeout and the retry limits.
- ``[cpis]``: the CP-IS mailbox and workflow ids. They come from NHS England onboarding and are
  not public, so they are required settings: no default pretends to be the real one.
- ``[environment]``: ``name = "production" | "test"`` (default ``"test"``).
- ``[endpoints.NAME]``: where artefacts go: ``kind`` (``fhir``, ``mesh``, ``mllp`` or
  ``folder``), its address, its ``[endpoints.NAME.auth]`` (``bearer`` or NHS England's
  ``signed-jwt``), TLS, the ODS code sent as ``NHSD-End-User-Organisation-ODS``, the artefact
  kinds it takes, timeouts and retry limits.
- ``[directory.ODS]``: the endpoint directory: each organisation by ODS code, its role, the
  endpoints that reach it and, for a local authority, its health and police partners.
- ``[audit]``: where unscheduled CP-IS lookups are logged, and who the operator is.

Sections a command does not need may be left out: ``load_config(path, need=...)`` names the
ones it needs (by default ``local_authority``, ``mesh`` and ``cpis``, as the CP-IS jobs do),
and a section that is not needed is ``None``. A section present in the file is checked whether
needed or not, but the secrets and files of ``[mesh]`` are read only when it is needed, and
those of ``[endpoints]`` only for the endpoints named in ``endpoints=``.

Secrets (the mailbox password, the MESH shared key) are never written in the file: a secret is
``{ env = "NAME" }`` (read from an environment variable) or ``{ file = "path" }`` (read from a
file, relative to the configuration file). Certificates and the CA bundle are given the same
way, but name a PEM file: ``{ file = "path" }`` is the PEM file, ``{ env = "NAME" }`` a variable
holding its path.

Every problem (missing file, TOML syntax, unknown key, wrong type, missing variable, unreadable
file, invalid value) is reported as ``ConfigError`` naming the key path (``mesh.password``);
every problem of a file is collected before raising, and no message ever contains a secret.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import ValidationError

from interop.attendance.settings import (
    AttendanceSettings,
    AttendanceSettingsError,
    read_attendance_settings,
)
from interop.domain.common import ResponsibleLocalAuthority
from interop.errors import ConfigurationError
from interop.identifiers import check_ods_code

__all__ = [
    "AuditSettings",
    "BearerAuthSettings",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "CpisSettings",
    "DirectoryEntry",
    "EndpointAuth",
    "EndpointSettings",
    "EnvironmentSettings",
    "LocalAuthoritySettings",
    "MeshSettings",
    "Secret",
    "SignedJwtSettings",
    "load_config",
]

EnvironmentName = Literal["production", "test"]
EndpointKind = Literal["fhir", "mesh", "mllp", "folder"]
PushMode = Literal["transaction", "resources"]
OrganisationRole = Literal["local-authority", "health", "police", "other"]
ENDPOINT_KINDS: tuple[EndpointKind, ...] = ("fhir", "mesh", "mllp", "folder")
PUSH_MODES: tuple[PushMode, ...] = ("transaction", "resources")
ORGANISATION_ROLES: tuple[OrganisationRole, ...] = ("local-authority", "health", "police", "other")
#: the sections ``load_config`` needs unless told otherwise: what the CP-IS jobs use
CPIS_SECTIONS = ("local_authority", "mesh", "cpis")
NAMED_ENDPOINTS = ("INT", "LIVE")

# MESH mailbox ids are short upper-case alphanumerics (X26ABC1, X26HC005); MESH treats them
# case-insensitively, and the authorisation token must carry the same case as the URL, so the
# configuration normalises them to upper case.
_MAILBOX = re.compile(r"^[A-Za-z0-9]{3,20}$")
# Workflow ids are opaque, but '*' and '!' are MESH's inbox-filter syntax and whitespace breaks
# the mex-workflowid header, so neither is allowed.
_WORKFLOW = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")
# Endpoint names are typed on the command line, where "://" marks a URL instead.
_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_SECRET_HINT = (
    'a secret is never written in the configuration file: write { env = "NAME" } to read it '
    'from an environment variable, or { file = "path" } to read it from a file'
)
_PEM_HINT = (
    'write { file = "path/to/file.pem" } (relative to the configuration file) or '
    '{ env = "NAME" } naming an environment variable that holds the path'
)


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of a configuration file: where (``mesh.password``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ConfigurationError):
    """The configuration cannot be used; ``problems`` lists every problem found."""

    def __init__(self, source: Path, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"invalid configuration {source}:\n{lines}")

    @property
    def paths(self) -> tuple[str, ...]:
        """The key paths of the problems, in the order found."""
        return tuple(problem.path for problem in self.problems)


@dataclass(frozen=True)
class Secret:
    """A secret value and where it came from; its repr and str never show the value."""

    source: str
    value: str = field(repr=False)

    def __str__(self) -> str:
        return f"<secret from {self.source}>"


@dataclass(frozen=True)
class LocalAuthoritySettings:
    """``[local_authority]``: validated like ``ResponsibleLocalAuthority`` when loaded."""

    ods_code: str
    name: str
    emergency_duty_phone: str
    office_hours_phone: str | None = None
    secure_email: str | None = None


@dataclass(frozen=True)
class MeshSettings:
    """``[mesh]``: how to reach this installation's MESH mailbox.

    ``endpoint`` is ``"INT"``, ``"LIVE"`` or an http(s) URL (a local sandbox, a proxy).
    ``timeout`` is per request, in seconds; ``max_retries`` and ``retry_budget`` (seconds,
    the total time spent waiting between attempts) bound the retries of idempotent requests.
    """

    endpoint: str
    mailbox: str
    password: Secret
    shared_key: Secret
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_bundle: Path | None = None
    verify_tls: bool = True
    timeout: float = 120.0
    max_retries: int = 3
    retry_budget: float = 60.0


@dataclass(frozen=True)
class CpisSettings:
    """``[cpis]``: CP-IS's MESH mailbox and the workflow id of each CP-IS message."""

    mailbox: str
    upload_workflow_id: str
    acknowledgement_workflow_id: str
    access_notification_workflow_id: str
    inactive_nhs_number_workflow_id: str
    max_records_per_file: int = 5000


@dataclass(frozen=True)
class EnvironmentSettings:
    """``[environment]``: whether this installation handles real data."""

    name: EnvironmentName = "test"


@dataclass(frozen=True)
class BearerAuthSettings:
    """``auth = { type = "bearer", token = { env = ... } }``: a fixed bearer token."""

    token: Secret


@dataclass(frozen=True)
class SignedJwtSettings:
    """NHS England application-restricted access: a signed JWT exchanged for a token.

    ``api_key`` is the application's key (``iss`` and ``sub``), ``private_key`` the PEM text of
    its RSA key registered under ``kid``; ``assertion_lifetime`` is at most 300 seconds.
    """

    token_url: str
    api_key: Secret
    private_key: Secret
    kid: str
    assertion_lifetime: float = 300.0


EndpointAuth = BearerAuthSettings | SignedJwtSettings


@dataclass(frozen=True)
class EndpointSettings:
    """``[endpoints.NAME]``: one place artefacts are sent to or read from.

    ``url`` is the FHIR base URL (``fhir``) or ``mllp://host:port`` (``mllp``); ``path`` the
    folder (``folder``); ``mailbox`` and ``workflow_id`` the recipient mailbox and workflow
    (``mesh``, sent with the ``[mesh]`` mailbox's credentials). ``ods_code`` is sent as
    ``NHSD-End-User-Organisation-ODS``. ``artefacts`` lists the kinds this endpoint takes
    (empty: every kind). ``timeout`` is per request; ``max_retries`` and ``retry_budget`` bound
    the retries of idempotent requests.
    """

    name: str
    kind: EndpointKind
    url: str | None = None
    path: Path | None = None
    mailbox: str | None = None
    workflow_id: str | None = None
    auth: EndpointAuth | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_bundle: Path | None = None
    verify_tls: bool = True
    ods_code: str | None = None
    artefacts: frozenset[str] = frozenset()
    push_mode: PushMode = "transaction"
    timeout: float = 30.0
    max_retries: int = 3
    retry_budget: float = 60.0

    def accepts(self, kind: str) -> bool:
        """Whether this endpoint takes artefacts of ``kind``."""
        return not self.artefacts or kind in self.artefacts


@dataclass(frozen=True)
class DirectoryEntry:
    """``[directory.ODS]``: an organisation, how to reach it, and (for a local authority) the
    health and police partners it shares with, by ODS code."""

    ods_code: str
    name: str
    role: OrganisationRole = "other"
    endpoints: tuple[str, ...] = ()
    partners: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditSettings:
    """``[audit]``: the JSON-lines log of unscheduled CP-IS lookups, and who runs them."""

    log: Path
    user: str | None = None


def _missing(source: Path, section: str) -> ConfigError:
    return ConfigError(source, [ConfigProblem(section, f"missing section [{section}]")])


@dataclass(frozen=True)
class Config:
    """The whole configuration, as loaded from ``source``.

    ``authority``, ``mesh`` and ``cpis`` raise ``ConfigError`` when their section was neither
    needed nor given; ``endpoints`` holds the endpoints read (by name), ``endpoint_names``
    every endpoint the file names.
    """

    source: Path
    authority_settings: LocalAuthoritySettings | None
    mesh_settings: MeshSettings | None
    cpis_settings: CpisSettings | None
    environment: EnvironmentSettings
    endpoints: Mapping[str, EndpointSettings] = field(default_factory=dict)
    endpoint_names: frozenset[str] = frozenset()
    directory: Mapping[str, DirectoryEntry] = field(default_factory=dict)
    audit: AuditSettings | None = None
    attendance: AttendanceSettings | None = None

    @property
    def authority(self) -> LocalAuthoritySettings:
        """``[local_authority]``."""
        if self.authority_settings is None:
            raise _missing(self.source, "local_authority")
        return self.authority_settings

    @property
    def mesh(self) -> MeshSettings:
        """``[mesh]``."""
        if self.mesh_settings is None:
            raise _missing(self.source, "mesh")
        return self.mesh_settings

    @property
    def cpis(self) -> CpisSettings:
        """``[cpis]``."""
        if self.cpis_settings is None:
            raise _missing(self.source, "cpis")
        return self.cpis_settings

    def endpoint(self, name: str) -> EndpointSettings:
        """The endpoint called ``name``; ``ConfigError`` (with a suggestion) when there is none."""
        found = self.endpoints.get(name)
        if found is not None:
            return found
        known = sorted(self.endpoint_names or self.endpoints)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = f"; configured: {', '.join(known)}" if known else "; none is configured"
        problem = ConfigProblem(f"endpoints.{name}", f"no such endpoint{hint}{listing}")
        raise ConfigError(self.source, [problem])

    def local_authority(self) -> ResponsibleLocalAuthority:
        """The configured authority as the domain model (already validated at load time)."""
        a = self.authority
        return ResponsibleLocalAuthority(
            ods_code=a.ods_code,
            name=a.name,
            emergency_duty_phone=a.emergency_duty_phone,
            office_hours_phone=a.office_hours_phone,
            secure_email=a.secure_email,
        )


@dataclass(frozen=True)
class StandInSettings:
    """``[stand_in]``: the CP-IS stand-in's register and what its make-believe PDS knows."""

    register: Path
    pds_known: frozenset[str] = frozenset()
    accept_test_block: bool = False
    pds_unknown: frozenset[str] = frozenset()
    sensitive: frozenset[str] = frozenset()
    superseded: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StandInConfig:
    """The CP-IS stand-in's configuration: its own MESH mailbox, the workflows, its PDS."""

    source: Path
    mesh: MeshSettings
    cpis: CpisSettings
    environment: EnvironmentSettings
    stand_in: StandInSettings


def _read_document(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problem = ConfigProblem("", f"cannot read the file: {_reason(exc)}")
        raise ConfigError(path, [problem]) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(path, [ConfigProblem("", "the file is not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)"; it never quotes the value.
        raise ConfigError(path, [ConfigProblem("", f"invalid TOML: {exc}")]) from None


def load_stand_in_config(path: Path) -> StandInConfig:
    """Read the CP-IS stand-in's configuration: ``[mesh]`` is the CP-IS mailbox, ``[cpis]``
    the workflows, ``[stand_in]`` its register and PDS; ``ConfigError`` lists every problem."""
    path = Path(path)
    document = _read_document(path)
    reader = _Reader(path.resolve().parent)
    config = reader.stand_in_config(path, document)
    if reader.problems or config is None:
        raise ConfigError(path, reader.problems)
    return config


def load_config(
    path: Path,
    *,
    need: Collection[str] = CPIS_SECTIONS,
    endpoints: Collection[str] | None = None,
) -> Config:
    """Read and check ``path`` (an ``interop.toml``); ``ConfigError`` lists every problem.

    ``need`` names the sections that must be present (``"local_authority"``, ``"mesh"``,
    ``"cpis"``, ``"endpoints"``, ``"directory"``, ``"audit"``). ``endpoints`` names the endpoints
    whose secrets and files are read (None: all); the others are checked but left out.
    """
    path = Path(path)
    document = _read_document(path)
    reader = _Reader(path.resolve().parent)
    config = reader.config(path, document, frozenset(need), endpoints)
    if reader.problems or config is None:
        raise ConfigError(path, reader.problems)
    return config


# ---------------------------------------------------------------------------------------------
# Reading: a _Reader walks the document, records problems and returns None for a bad value, so
# one pass reports everything. Each helper takes the key path it reads, for the messages.

_Table = Mapping[str, Any]

_SECTIONS = (
    "local_authority",
    "mesh",
    "cpis",
    "environment",
    "endpoints",
    "directory",
    "audit",
    "attendance",
)
_LA_KEYS = ("ods_code", "name", "emergency_duty_phone", "office_hours_phone", "secure_email")
_MESH_KEYS = (
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
_CPIS_WORKFLOWS = (
    "upload_workflow_id",
    "acknowledgement_workflow_id",
    "access_notification_workflow_id",
    "inactive_nhs_number_workflow_id",
)
_CPIS_KEYS = ("mailbox", *_CPIS_WORKFLOWS, "max_records_per_file")
_ENVIRONMENT_KEYS = ("name",)
_ENDPOINT_KEYS = (
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
    "timeout",
    "max_retries",
    "retry_budget",
)
#: which keys belong to which kind of endpoint (the rest of _ENDPOINT_KEYS are fhir's)
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "fhir": (
        "url",
        "auth",
        "client_cert",
        "client_key",
        "ca_bundle",
        "verify_tls",
        "ods_code",
        "push_mode",
        "timeout",
        "max_retries",
        "retry_budget",
    ),
    "mesh": ("mailbox", "workflow_id"),
    "mllp": ("url", "timeout", "max_retries", "retry_budget"),
    "folder": ("path",),
}
_BEARER_KEYS = ("type", "token")
_JWT_KEYS = ("type", "token_url", "api_key", "private_key", "kid", "assertion_lifetime")
_DIRECTORY_KEYS = ("name", "role", "endpoints", "partners")
_AUDIT_KEYS = ("log", "user")


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _type_name(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}
    names |= {dict: "a table", list: "an array"}
    return names.get(type(value), type(value).__name__)


class _Reader:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.problems: list[ConfigProblem] = []
        # False while reading an endpoint the caller did not ask for: its secrets and files
        # are checked for shape but not read.
        self.resolve = True

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    # -- structure ----------------------------------------------------------------------------

    def config(
        self,
        source: Path,
        document: _Table,
        need: frozenset[str],
        wanted: Collection[str] | None,
    ) -> Config | None:
        self.known_keys("", document, _SECTIONS)
        unknown = sorted(need - set(_SECTIONS))
        if unknown:
            raise ValueError(f"unknown sections in need: {', '.join(unknown)}")

        def present_or_needed(name: str) -> bool:
            return name in need or name in document

        environment = self.environment(self.section(document, "environment", required=False))
        la = mesh = cpis = None
        # A section present but not needed is checked, without reading its secrets and
        # files, and left out: `push` does not need the MESH password in its environment.
        if present_or_needed("local_authority"):
            la = self.local_authority(self.section(document, "local_authority", required=True))
        if present_or_needed("mesh"):
            self.resolve = "mesh" in need
            mesh = self.mesh(self.section(document, "mesh", required=True), environment)
            self.resolve = True
            mesh = mesh if "mesh" in need else None
        if present_or_needed("cpis"):
            cpis = self.cpis(self.section(document, "cpis", required=True))
        names, endpoints = self.endpoints(
            self.section(document, "endpoints", required="endpoints" in need),
            environment,
            wanted,
        )
        directory = self.directory(
            self.section(document, "directory", required="directory" in need), names
        )
        audit = None
        if present_or_needed("audit"):
            audit = self.audit(self.section(document, "audit", required=True))
        attendance = None
        if present_or_needed("attendance"):
            table = self.section(document, "attendance", required=True)
            if table is not None:
                try:
                    attendance = read_attendance_settings(table, self.base)
                except AttendanceSettingsError as exc:
                    for path, message in exc.problems:
                        self.problem(path, message)
        if self.problems or environment is None:
            return None
        return Config(
            source,
            la,
            mesh,
            cpis,
            environment,
            endpoints=endpoints,
            endpoint_names=frozenset(names),
            directory=directory,
            audit=audit,
            attendance=attendance,
        )

    def stand_in_config(self, source: Path, document: _Table) -> StandInConfig | None:
        self.known_keys("", document, ("mesh", "cpis", "environment", "stand_in"))
        environment = self.environment(self.section(document, "environment", required=False))
        mesh = self.mesh(self.section(document, "mesh", required=True), environment)
        cpis = self.cpis(self.section(document, "cpis", required=True))
        stand_in = self.stand_in(self.section(document, "stand_in", required=True))
        if mesh is None or cpis is None or environment is None or stand_in is None:
            return None
        return StandInConfig(source, mesh, cpis, environment, stand_in)

    def stand_in(self, table: _Table | None) -> StandInSettings | None:
        if table is None:
            return None
        p, start = "stand_in", len(self.problems)
        lists = ("pds_known", "pds_unknown", "sensitive", "superseded")
        self.known_keys(p, table, ("register", "accept_test_block", "pds_known_file", *lists))
        register = self.text(table, p, "register", required=False) or "cpis-register.sqlite"
        accept = self.typed(
            table, p, "accept_test_block", bool, required=False, expected="true or false"
        )
        numbers: dict[str, frozenset[str]] = {}
        for key in lists:
            value = table.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.problem(f"{p}.{key}", "expected a list of NHS numbers as strings")
                value = []
            numbers[key] = frozenset(v.replace(" ", "") for v in value)
        known_file = self.text(table, p, "pds_known_file", required=False)
        if known_file is not None:
            try:
                lines = (self.base / known_file).read_text(encoding="utf-8").split()
                numbers["pds_known"] |= frozenset(lines)
            except OSError as exc:
                self.problem(f"{p}.pds_known_file", f"cannot read the file: {_reason(exc)}")
        if len(self.problems) > start:
            return None
        return StandInSettings(
            register=self.base / register,
            pds_known=numbers["pds_known"],
            accept_test_block=bool(accept),
            pds_unknown=numbers["pds_unknown"],
            sensitive=numbers["sensitive"],
            superseded=numbers["superseded"],
        )

    def section(self, document: _Table, name: str, *, required: bool) -> _Table | None:
        value = document.get(name)
        if value is None:
            if required:
                self.problem(name, f"missing section [{name}]")
                return None
            return {}
        if not isinstance(value, dict):
            self.problem(name, f"expected a [{name}] table, found {_type_name(value)}")
            return None
        return value

    def known_keys(self, prefix: str, table: _Table, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key in allowed:
                continue
            where = f"{prefix}.{key}" if prefix else key
            what = "key" if prefix else "section"
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.problem(where, f"unknown {what}{hint}; allowed: {', '.join(allowed)}")

    # -- typed values -------------------------------------------------------------------------

    def typed(
        self,
        table: _Table,
        prefix: str,
        key: str,
        kind: type | tuple[type, ...],
        *,
        required: bool,
        expected: str,
    ) -> Any:
        """The value at ``prefix.key`` if it has the type ``kind``; else None (and a problem)."""
        where = f"{prefix}.{key}"
        if key not in table:
            if required:
                self.problem(where, "missing required setting")
            return None
        value = table[key]
        # bool is an int in Python, but `timeout = true` is a mistake, not one second.
        if isinstance(value, bool) and kind is not bool:
            self.problem(where, f"expected {expected}, found a boolean")
            return None
        if not isinstance(value, kind):
            self.problem(where, f"expected {expected}, found {_type_name(value)}")
            return None
        return value

    def text(self, table: _Table, prefix: str, key: str, *, required: bool = True) -> str | None:
        value: str | None = self.typed(
            table, prefix, key, str, required=required, expected="a string"
        )
        if value is not None and not value.strip():
            self.problem(f"{prefix}.{key}", "must not be empty")
            return None
        return value.strip() if value is not None else None

    def number(
        self, table: _Table, prefix: str, key: str, default: float, low: float, high: float
    ) -> float | None:
        value: float | None = self.typed(
            table, prefix, key, (int, float), required=False, expected="a number"
        )
        if key not in table:
            return default
        if value is None:
            return None
        if not low < float(value) <= high:
            self.problem(f"{prefix}.{key}", f"must be more than {low:g} and at most {high:g}")
            return None
        return float(value)

    def integer(
        self, table: _Table, prefix: str, key: str, default: int, low: int, high: int
    ) -> int | None:
        value: int | None = self.typed(
            table, prefix, key, int, required=False, expected="an integer"
        )
        if key not in table:
            return default
        if value is None:
            return None
        if not low <= value <= high:
            self.problem(f"{prefix}.{key}", f"must be between {low} and {high}")
            return None
        return value

    def mailbox(self, table: _Table, prefix: str) -> str | None:
        value = self.text(table, prefix, "mailbox")
        if value is not None and not _MAILBOX.fullmatch(value):
            self.problem(f"{prefix}.mailbox", "a MESH mailbox id is 3 to 20 letters or digits")
            return None
        return value.upper() if value is not None else None

    # -- secrets and files --------------------------------------------------------------------

    def reference(self, table: _Table, prefix: str, key: str, hint: str) -> tuple[str, str] | None:
        """The ("env" | "file", name) of a { env = ... } / { file = ... } setting."""
        where = f"{prefix}.{key}"
        value = table[key]
        if not isinstance(value, dict):
            # Never echo the value: a plain string here is most likely the secret itself.
            self.problem(where, f"expected a table, found {_type_name(value)}; {hint}")
            return None
        kinds = [k for k in ("env", "file") if k in value]
        extra = sorted(set(value) - {"env", "file"})
        if extra or len(kinds) != 1:
            self.problem(where, f"expected exactly one of 'env' or 'file'; {hint}")
            return None
        name = value[kinds[0]]
        if not isinstance(name, str) or not name.strip():
            self.problem(f"{where}.{kinds[0]}", "expected a non-empty string")
            return None
        return kinds[0], name.strip()

    def secret(self, table: _Table, prefix: str, key: str) -> Secret | None:
        where = f"{prefix}.{key}"
        if key not in table:
            self.problem(where, f"missing required setting; {_SECRET_HINT}")
            return None
        ref = self.reference(table, prefix, key, _SECRET_HINT)
        if ref is None:
            return None
        kind, name = ref
        if not self.resolve:
            return Secret(f"{kind}:{name}", "")
        if kind == "env":
            value = os.environ.get(name)
            if value is None:
                self.problem(where, f"environment variable {name} is not set")
                return None
            source = f"env:{name}"
        else:
            file = self.base / name
            try:
                value = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                why = _reason(exc) if isinstance(exc, OSError) else "not UTF-8 text"
                self.problem(where, f"cannot read secret file {file}: {why}")
                return None
            # Files usually end with a newline that is not part of the secret.
            value = value.removesuffix("\n").removesuffix("\r")
            source = f"file:{file}"
        if not value.strip():
            self.problem(where, f"the secret from {source} is empty")
            return None
        return Secret(source, value)

    def pem_file(self, table: _Table, prefix: str, key: str) -> Path | None:
        where = f"{prefix}.{key}"
        if key not in table:
            return None
        ref = self.reference(table, prefix, key, _PEM_HINT)
        if ref is None:
            return None
        kind, name = ref
        if not self.resolve:
            return Path(name)
        if kind == "env":
            named = os.environ.get(name)
            if named is None or not named.strip():
                self.problem(where, f"environment variable {name} is not set")
                return None
            name = named.strip()
        file = self.base / name
        try:
            with file.open("rb"):
                pass
        except OSError as exc:
            self.problem(where, f"cannot read file {file}: {_reason(exc)}")
            return None
        return file

    # -- sections -----------------------------------------------------------------------------

    def local_authority(self, table: _Table | None) -> LocalAuthoritySettings | None:
        if table is None:
            return None
        p, start = "local_authority", len(self.problems)
        self.known_keys(p, table, _LA_KEYS)
        required = ("ods_code", "name", "emergency_duty_phone")
        values = {k: self.text(table, p, k, required=k in required) for k in _LA_KEYS}
        if len(self.problems) > start:
            return None
        try:
            model = ResponsibleLocalAuthority.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                loc = ".".join(str(part) for part in error["loc"])
                self.problem(f"{p}.{loc}" if loc else p, error["msg"])
            return None
        return LocalAuthoritySettings(
            ods_code=str(model.ods_code),
            name=str(model.name),
            emergency_duty_phone=str(model.emergency_duty_phone),
            office_hours_phone=model.office_hours_phone,
            secure_email=str(model.secure_email) if model.secure_email is not None else None,
        )

    def environment(self, table: _Table | None) -> EnvironmentSettings | None:
        if table is None:
            return None
        self.known_keys("environment", table, _ENVIRONMENT_KEYS)
        name = self.text(table, "environment", "name", required=False)
        if "name" not in table:
            return EnvironmentSettings()
        if name not in ("production", "test"):
            if name is not None:
                self.problem("environment.name", 'must be "production" or "test"')
            return None
        return EnvironmentSettings(name)  # type: ignore[arg-type]

    def endpoint(self, table: _Table, environment: EnvironmentSettings | None) -> str | None:
        value = self.text(table, "mesh", "endpoint")
        if value is None:
            return None
        if value.upper() in NAMED_ENDPOINTS:
            value = value.upper()
        else:
            url = urlparse(value)
            if url.scheme not in ("http", "https") or not url.hostname:
                self.problem("mesh.endpoint", 'must be "INT", "LIVE" or an http(s):// URL')
                return None
        if environment is None:
            return value
        # Real data only goes to LIVE, and test data never does.
        if value == "LIVE" and environment.name != "production":
            self.problem("mesh.endpoint", 'LIVE needs [environment] name = "production"')
            return None
        if value == "INT" and environment.name == "production":
            self.problem("mesh.endpoint", "INT is for tests: production data never goes there")
            return None
        if value.startswith("http://") and environment.name == "production":
            self.problem("mesh.endpoint", "production traffic needs an https:// endpoint")
            return None
        return value

    def mesh(
        self, table: _Table | None, environment: EnvironmentSettings | None
    ) -> MeshSettings | None:
        if table is None:
            return None
        p, start = "mesh", len(self.problems)
        self.known_keys(p, table, _MESH_KEYS)
        endpoint = self.endpoint(table, environment)
        mailbox = self.mailbox(table, p)
        password = self.secret(table, p, "password")
        shared_key = self.secret(table, p, "shared_key")
        cert = self.pem_file(table, p, "client_cert")
        key = self.pem_file(table, p, "client_key")
        ca_bundle = self.pem_file(table, p, "ca_bundle")
        verify: bool | None = self.typed(
            table, p, "verify_tls", bool, required=False, expected="a boolean"
        )
        timeout = self.number(table, p, "timeout", 120.0, 0, 3600)
        retries = self.integer(table, p, "max_retries", 3, 0, 10)
        budget = self.number(table, p, "retry_budget", 60.0, 0, 3600)
        if ("client_cert" in table) != ("client_key" in table):
            self.problem(p, "client_cert and client_key go together: give both or neither")
        if endpoint in NAMED_ENDPOINTS and "client_cert" not in table:
            self.problem(
                f"{p}.client_cert", f"required for {endpoint}: MESH authenticates with mutual TLS"
            )
        if verify is False and (
            endpoint in NAMED_ENDPOINTS or (environment and environment.name == "production")
        ):
            self.problem(f"{p}.verify_tls", "may only be false for a test endpoint given by URL")
        if len(self.problems) > start:
            return None
        # No new problem means every value was read.
        assert endpoint is not None
        assert mailbox is not None
        assert password is not None
        assert shared_key is not None
        assert timeout is not None
        assert retries is not None
        assert budget is not None
        return MeshSettings(
            endpoint=endpoint,
            mailbox=mailbox,
            password=password,
            shared_key=shared_key,
            client_cert=cert,
            client_key=key,
            ca_bundle=ca_bundle,
            verify_tls=verify if verify is not None else True,
            timeout=timeout,
            max_retries=retries,
            retry_budget=budget,
        )

    def cpis(self, table: _Table | None) -> CpisSettings | None:
        if table is None:
            return None
        p, start = "cpis", len(self.problems)
        self.known_keys(p, table, _CPIS_KEYS)
        mailbox = self.mailbox(table, p)
        workflows: dict[str, str | None] = {}
        for key in _CPIS_WORKFLOWS:
            value = self.text(table, p, key)
            if value is not None and not _WORKFLOW.fullmatch(value):
                self.problem(
                    f"{p}.{key}",
                    "a workflow id is up to 100 letters, digits, '_', '.', ':' or '-'",
                )
                value = None
            workflows[key] = value
        max_records = self.integer(table, p, "max_records_per_file", 5000, 1, 5000)
        if len(self.problems) > start:
            return None
        assert mailbox is not None  # no new problem means every value was read
        assert max_records is not None
        return CpisSettings(
            mailbox=mailbox,
            upload_workflow_id=_given(workflows["upload_workflow_id"]),
            acknowledgement_workflow_id=_given(workflows["acknowledgement_workflow_id"]),
            access_notification_workflow_id=_given(workflows["access_notification_workflow_id"]),
            inactive_nhs_number_workflow_id=_given(workflows["inactive_nhs_number_workflow_id"]),
            max_records_per_file=max_records,
        )

    # -- endpoints, directory, audit ----------------------------------------------------------

    def endpoints(
        self,
        table: _Table | None,
        environment: EnvironmentSettings | None,
        wanted: Collection[str] | None,
    ) -> tuple[list[str], dict[str, EndpointSettings]]:
        """Every endpoint's name, and the settings of those ``wanted`` (None: all)."""
        names: list[str] = []
        found: dict[str, EndpointSettings] = {}
        for name, value in (table or {}).items():
            where = f"endpoints.{name}"
            if not _ENDPOINT_NAME.fullmatch(name):
                self.problem(where, "an endpoint name is up to 64 letters, digits, '_', '.' or '-'")
                continue
            if not isinstance(value, dict):
                self.problem(where, f"expected a table, found {_type_name(value)}")
                continue
            names.append(name)
            self.resolve = wanted is None or name in wanted
            try:
                settings = self.endpoint_settings(name, value, environment)
            finally:
                self.resolve = True
            if settings is not None and (wanted is None or name in wanted):
                found[name] = settings
        return names, found

    def endpoint_settings(
        self, name: str, table: _Table, environment: EnvironmentSettings | None
    ) -> EndpointSettings | None:
        p, start = f"endpoints.{name}", len(self.problems)
        self.known_keys(p, table, _ENDPOINT_KEYS)
        kind = self.text(table, p, "kind")
        if kind is not None and kind not in ENDPOINT_KINDS:
            self.problem(f"{p}.kind", f"must be one of {', '.join(ENDPOINT_KINDS)}")
            return None
        if kind is None:
            return None
        for key in table:
            if key in _ENDPOINT_KEYS and key not in ("kind", "artefacts", *_KIND_KEYS[kind]):
                self.problem(f"{p}.{key}", f"not a setting of a {kind} endpoint")
        production = environment is not None and environment.name == "production"
        url = self.endpoint_url(table, p, kind, production)
        folder = self.text(table, p, "path") if kind == "folder" else None
        mailbox = self.mailbox(table, p) if kind == "mesh" else None
        workflow = self.text(table, p, "workflow_id") if kind == "mesh" else None
        if workflow is not None and not _WORKFLOW.fullmatch(workflow):
            self.problem(
                f"{p}.workflow_id",
                "a workflow id is up to 100 letters, digits, '_', '.', ':' or '-'",
            )
        auth = self.auth(table, p) if "auth" in table else None
        cert = self.pem_file(table, p, "client_cert")
        client_key = self.pem_file(table, p, "client_key")
        ca_bundle = self.pem_file(table, p, "ca_bundle")
        if ("client_cert" in table) != ("client_key" in table):
            self.problem(p, "client_cert and client_key go together: give both or neither")
        verify: bool | None = self.typed(
            table, p, "verify_tls", bool, required=False, expected="a boolean"
        )
        if verify is False and production:
            self.problem(f"{p}.verify_tls", "may only be false in a test environment")
        ods = self.text(table, p, "ods_code", required=False)
        if ods is not None:
            try:
                ods = check_ods_code(ods)
            except ValueError as exc:
                self.problem(f"{p}.ods_code", str(exc))
        artefacts = self.string_list(table, p, "artefacts")
        from interop.domain import ARTEFACT_KINDS

        for kind_name in artefacts or ():
            if kind_name not in ARTEFACT_KINDS:
                close = difflib.get_close_matches(kind_name, ARTEFACT_KINDS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problem(f"{p}.artefacts", f"unknown artefact kind {kind_name!r}{hint}")
        mode = self.text(table, p, "push_mode", required=False) or "transaction"
        if mode not in PUSH_MODES:
            self.problem(f"{p}.push_mode", f"must be one of {', '.join(PUSH_MODES)}")
        timeout = self.number(table, p, "timeout", 30.0, 0, 3600)
        retries = self.integer(table, p, "max_retries", 3, 0, 10)
        budget = self.number(table, p, "retry_budget", 60.0, 0, 3600)
        if len(self.problems) > start:
            return None
        assert timeout is not None  # no new problem means every value was read
        assert retries is not None
        assert budget is not None
        return EndpointSettings(
            name=name,
            kind=kind,
            url=url,
            path=self.base / folder if folder is not None else None,
            mailbox=mailbox,
            workflow_id=workflow,
            auth=auth,
            client_cert=cert,
            client_key=client_key,
            ca_bundle=ca_bundle,
            verify_tls=verify if verify is not None else True,
            ods_code=ods,
            artefacts=frozenset(artefacts or ()),
            push_mode=mode,  # type: ignore[arg-type]  # checked against PUSH_MODES above
            timeout=timeout,
            max_retries=retries,
            retry_budget=budget,
        )

    def endpoint_url(self, table: _Table, p: str, kind: str, production: bool) -> str | None:
        if kind not in ("fhir", "mllp"):
            return None
        value = self.text(table, p, "url")
        if value is None:
            return None
        url = urlparse(value)
        schemes = ("http", "https") if kind == "fhir" else ("mllp",)
        if url.scheme not in schemes or not url.hostname:
            self.problem(f"{p}.url", f"must be a {' or '.join(s + '://' for s in schemes)} URL")
            return None
        if kind == "mllp" and url.port is None:
            self.problem(f"{p}.url", "an MLLP URL names its port: mllp://host:port")
            return None
        if url.query or url.fragment or url.username or url.password:
            # never credentials in a URL: they would end up in logs
            self.problem(f"{p}.url", "a base URL has no query, fragment or user information")
            return None
        if kind == "fhir" and production and url.scheme != "https":
            self.problem(f"{p}.url", "production traffic needs an https:// endpoint")
            return None
        return value.rstrip("/")

    def auth(self, table: _Table, p: str) -> EndpointAuth | None:
        where = f"{p}.auth"
        value = table["auth"]
        if not isinstance(value, dict):
            self.problem(where, f"expected a table, found {_type_name(value)}")
            return None
        kind = self.text(value, where, "type")
        if kind == "bearer":
            self.known_keys(where, value, _BEARER_KEYS)
            token = self.secret(value, where, "token")
            return BearerAuthSettings(token) if token is not None else None
        if kind == "signed-jwt":
            self.known_keys(where, value, _JWT_KEYS)
            token_url = self.text(value, where, "token_url")
            if token_url is not None and urlparse(token_url).scheme not in ("http", "https"):
                self.problem(f"{where}.token_url", "must be an http(s):// URL")
            api_key = self.secret(value, where, "api_key")
            private_key = self.secret(value, where, "private_key")
            kid = self.text(value, where, "kid")
            lifetime = self.number(value, where, "assertion_lifetime", 300.0, 0, 300)
            if private_key is not None and self.resolve and "PRIVATE KEY" not in private_key.value:
                self.problem(f"{where}.private_key", "expected a PEM private key")
                return None
            if (
                token_url is None
                or api_key is None
                or private_key is None
                or kid is None
                or lifetime is None
            ):
                return None
            return SignedJwtSettings(token_url, api_key, private_key, kid, lifetime)
        if kind is not None:
            self.problem(f"{where}.type", 'must be "bearer" or "signed-jwt"')
        return None

    def string_list(self, table: _Table, p: str, key: str) -> list[str] | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(f"{p}.{key}", "expected a list of non-empty strings")
            return None
        return [v.strip() for v in value]

    def directory(
        self, table: _Table | None, endpoint_names: list[str]
    ) -> dict[str, DirectoryEntry]:
        entries: dict[str, DirectoryEntry] = {}
        raw = table or {}
        for code, value in raw.items():
            p = f"directory.{code}"
            try:
                ods = check_ods_code(code)
            except ValueError as exc:
                self.problem(p, str(exc))
                continue
            if ods != code:
                self.problem(p, f"write the ODS code in upper case: [directory.{ods}]")
                continue
            if not isinstance(value, dict):
                self.problem(p, f"expected a table, found {_type_name(value)}")
                continue
            start = len(self.problems)
            self.known_keys(p, value, _DIRECTORY_KEYS)
            name = self.text(value, p, "name")
            role = self.text(value, p, "role", required=False) or "other"
            if role not in ORGANISATION_ROLES:
                self.problem(f"{p}.role", f"must be one of {', '.join(ORGANISATION_ROLES)}")
            endpoints = self.string_list(value, p, "endpoints") or []
            for endpoint in endpoints:
                if endpoint not in endpoint_names:
                    self.problem(f"{p}.endpoints", f"no endpoint {endpoint!r} in [endpoints]")
            partners = [code.upper() for code in self.string_list(value, p, "partners") or []]
            for partner in partners:
                if partner not in raw:
                    self.problem(f"{p}.partners", f"partner {partner} is not in [directory]")
                elif partner == ods:
                    self.problem(f"{p}.partners", "an organisation is not its own partner")
            if partners and role != "local-authority":
                self.problem(f"{p}.partners", "only a local authority lists partners")
            if len(self.problems) > start:
                continue
            assert name is not None
            entries[ods] = DirectoryEntry(
                ods_code=ods,
                name=name,
                role=role,  # type: ignore[arg-type]  # checked against ORGANISATION_ROLES
                endpoints=tuple(endpoints),
                partners=tuple(partners),
            )
        return entries

    def audit(self, table: _Table | None) -> AuditSettings | None:
        if table is None:
            return None
        self.known_keys("audit", table, _AUDIT_KEYS)
        log = self.text(table, "audit", "log", required=False) or "interop-audit.jsonl"
        user = self.text(table, "audit", "user", required=False)
        return AuditSettings(self.base / log, user)


def _given(value: str | None) -> str:
    assert value is not None  # the caller returned early on None
    return value
