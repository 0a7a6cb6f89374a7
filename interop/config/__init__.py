"""The toolkit's configuration: one ``interop.toml`` read into pydantic dataclasses.

Sections (``docs/interop.example.toml`` is a commented example that loads):

- ``[local_authority]``: the authority this installation works for (``Config.local_authority()``
  gives it as ``interop.domain.ResponsibleLocalAuthority``).
- ``[mesh]``: the MESH endpoint (``"INT"``, ``"LIVE"`` or a URL), the mailbox, its secrets
  and certificates, TLS verification, the per-request timeout and the retry limits.
- ``[cpis]``: the CP-IS mailbox and workflow ids. They come from NHS England onboarding and are
  not public, so they are required settings: no default pretends to be the real one.
- ``[environment]``: ``name = "production" | "test"`` (default ``"production"``). In
  production, FHIR, token and MESH URLs are https, except plain http to loopback (this
  machine); ``base_url_endpoint`` checks a base URL given on the command line the same way.
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

The package: ``models`` (each section as a pydantic dataclass, with its keys and checks),
``values`` (the value types: strings, numbers, mailboxes, secrets, PEM files, paths),
``attendance`` (the ``[attendance]`` section), ``loading`` (the file read section by section)
and ``messages`` (``ConfigError`` and its located, did-you-mean messages).
"""

from interop.config.attendance import AttendanceSettings, AttendanceSettingsError
from interop.config.loading import (
    CPIS_SECTIONS,
    SECTIONS,
    Config,
    StandInConfig,
    base_url_endpoint,
    load_config,
    load_stand_in_config,
)
from interop.config.messages import ConfigError, ConfigProblem
from interop.config.models import (
    ENDPOINT_KINDS,
    KIND_KEYS,
    NAMED_ENDPOINTS,
    ORGANISATION_ROLES,
    PUSH_MODES,
    WRITE_MODES,
    AuditSettings,
    BearerAuthSettings,
    Cis2AuthSettings,
    CpisSettings,
    DirectoryEntry,
    EndpointAuth,
    EndpointKind,
    EndpointSettings,
    EnvironmentName,
    EnvironmentSettings,
    LocalAuthoritySettings,
    MeshSettings,
    OrganisationRole,
    PushMode,
    SignedJwtSettings,
    StandInSettings,
    WriteMode,
)
from interop.config.national import OdsSettings, PatientFlagsSettings, PdsSettings
from interop.config.values import Secret

# the names the documentation checks read (tests/test_docs.py)
_SECTIONS = SECTIONS
_KIND_KEYS = KIND_KEYS

__all__ = [
    "CPIS_SECTIONS",
    "ENDPOINT_KINDS",
    "NAMED_ENDPOINTS",
    "ORGANISATION_ROLES",
    "PUSH_MODES",
    "WRITE_MODES",
    "AttendanceSettings",
    "AttendanceSettingsError",
    "AuditSettings",
    "BearerAuthSettings",
    "Cis2AuthSettings",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "CpisSettings",
    "DirectoryEntry",
    "EndpointAuth",
    "EndpointKind",
    "EndpointSettings",
    "EnvironmentName",
    "EnvironmentSettings",
    "LocalAuthoritySettings",
    "MeshSettings",
    "OdsSettings",
    "OrganisationRole",
    "PatientFlagsSettings",
    "PdsSettings",
    "PushMode",
    "Secret",
    "SignedJwtSettings",
    "StandInConfig",
    "StandInSettings",
    "WriteMode",
    "attendance",
    "base_url_endpoint",
    "load_config",
    "load_stand_in_config",
    "loading",
]
