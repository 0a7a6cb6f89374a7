"""Reading ``interop.toml``: the TOML document, each section through its model, the checks
that span sections, and every problem collected into one ``ConfigError``."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from interop.config.attendance import (
    AttendanceSettings,
    AttendanceSettingsError,
    read_attendance_settings,
)
from interop.config.messages import ConfigError, ConfigProblem, did_you_mean, reason, type_name
from interop.config.models import (
    AuditSettings,
    CpisSettings,
    DirectoryEntry,
    EndpointSettings,
    EnvironmentSettings,
    LocalAuthoritySettings,
    MeshSettings,
    StandInSettings,
    endpoint_name_problem,
)
from interop.config.national import OdsSettings, PatientFlagsSettings, PdsSettings
from interop.config.values import ReadContext, read_table, unknown_keys
from interop.domain.common import ResponsibleLocalAuthority
from interop.identifiers import check_ods_code

#: the sections ``load_config`` needs unless told otherwise: what the CP-IS jobs use
CPIS_SECTIONS = ("local_authority", "mesh", "cpis")
SECTIONS = (
    "local_authority",
    "mesh",
    "cpis",
    "environment",
    "endpoints",
    "directory",
    "audit",
    "attendance",
    "pds",
    "ods",
    "patient_flags",
    "state",  # a key, not a section: where the jobs keep their state
)
STAND_IN_SECTIONS = ("mesh", "cpis", "environment", "stand_in")

_Table = Mapping[str, Any]
_National = PdsSettings | OdsSettings | PatientFlagsSettings
_S = TypeVar("_S")


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
    #: ``[pds]`` and ``[ods]`` (``interop.config.national``)
    pds: PdsSettings | None = None
    ods: OdsSettings | None = None
    patient_flags: PatientFlagsSettings | None = None
    #: ``state = "…"``: the jobs' state, a SQLite path (relative to the file) or a
    #: ``postgresql://`` URL; None when the file does not say
    state: str | None = None
    #: whether the file names its environment (else it is production by default)
    environment_declared: bool = True

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
        listing = f"; configured: {', '.join(known)}" if known else "; none is configured"
        message = f"no such endpoint{did_you_mean(name, known)}{listing}"
        raise ConfigError(self.source, [ConfigProblem(f"endpoints.{name}", message)])

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
class StandInConfig:
    """The CP-IS stand-in's configuration: its own MESH mailbox, the workflows, its PDS."""

    source: Path
    mesh: MeshSettings
    cpis: CpisSettings
    environment: EnvironmentSettings
    stand_in: StandInSettings


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
    unknown = sorted(set(need) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown sections in need: {', '.join(unknown)}")
    path = Path(path)
    reader = _Reader(path, _read_document(path))
    config = reader.config(frozenset(need), endpoints)
    if reader.problems or config is None:
        raise ConfigError(path, reader.problems)
    return config


#: what a production guard adds for a base URL given with no configuration in use
NO_CONFIG_PRODUCTION_HINT = (
    "no configuration names the environment, so it is production: use an https:// URL, or "
    'declare a test environment in a configuration ([environment] name = "test") and give it '
    "with --config FILE"
)


def base_url_endpoint(url: str, config: Config | None) -> EndpointSettings:
    """A FHIR endpoint given by its base URL (on the command line: no auth), checked as a
    configured one is, under ``config``'s environment (production when there is none);
    ``ConfigError`` (located at ``url``) when it cannot be used."""
    context = ReadContext(
        config.source.resolve().parent if config is not None else Path.cwd(),
        environment=config.environment.name if config is not None else "production",
        environment_declared=config.environment_declared if config is not None else False,
        production_hint=None if config is not None else NO_CONFIG_PRODUCTION_HINT,
    )
    table = {"kind": "fhir", "url": url}
    try:
        return read_table(EndpointSettings, table, context, extra={"name": url.rstrip("/")})
    except ValidationError as exc:
        source = config.source if config is not None else Path("--endpoint")
        problems = [ConfigProblem("", found.message) for found in problems_of(exc, "endpoint")]
        raise ConfigError(source, problems) from None


def load_stand_in_config(path: Path) -> StandInConfig:
    """Read the CP-IS stand-in's configuration: ``[mesh]`` is the CP-IS mailbox, ``[cpis]``
    the workflows, ``[stand_in]`` its register and PDS; ``ConfigError`` lists every problem."""
    path = Path(path)
    reader = _Reader(path, _read_document(path))
    config = reader.stand_in_config()
    if reader.problems or config is None:
        raise ConfigError(path, reader.problems)
    return config


def _read_document(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problem = ConfigProblem("", f"cannot read the file: {reason(exc)}")
        raise ConfigError(path, [problem]) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(path, [ConfigProblem("", "the file is not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)"; it never quotes the value.
        raise ConfigError(path, [ConfigProblem("", f"invalid TOML: {exc}")]) from None


def problems_of(exc: ValidationError, prefix: str) -> list[ConfigProblem]:
    """The problems a section's ``ValidationError`` holds, located under ``prefix``."""
    found = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join([prefix, *(str(part) for part in error["loc"])])
        ctx = error.get("ctx") or {}
        message = str(ctx["message"]) if error["type"] == "config" else error["msg"]
        found.append(ConfigProblem(where, message))
    return found


class _Reader:
    """One pass over a document: each section read through its model, problems collected."""

    def __init__(self, source: Path, document: _Table) -> None:
        self.source = source
        self.document = document
        self.base = source.resolve().parent
        self.problems: list[ConfigProblem] = []
        self.environment: EnvironmentSettings | None = None

    def context(self, *, resolve: bool = True) -> ReadContext:
        name = self.environment.name if self.environment is not None else None
        table = self.document.get("environment")
        declared = isinstance(table, dict) and "name" in table
        return ReadContext(
            self.base, resolve=resolve, environment=name, environment_declared=declared
        )

    def read(
        self,
        cls: type[_S],
        table: _Table,
        where: str,
        *,
        resolve: bool = True,
        **options: Any,
    ) -> _S | None:
        """``table`` read into ``cls``; None (and its problems recorded) when it cannot be."""
        try:
            return read_table(cls, table, self.context(resolve=resolve), **options)
        except ValidationError as exc:
            self.problems += problems_of(exc, where)
            return None

    def section(self, name: str, *, required: bool) -> _Table | None:
        value = self.document.get(name)
        if value is None:
            if required:
                self.problems.append(ConfigProblem(name, f"missing section [{name}]"))
                return None
            return {}
        if not isinstance(value, dict):
            message = f"expected a [{name}] table, found {type_name(value)}"
            self.problems.append(ConfigProblem(name, message))
            return None
        return value

    def known_sections(self, allowed: tuple[str, ...]) -> None:
        for (key,), message in unknown_keys(self.document, allowed, what="section"):
            self.problems.append(ConfigProblem(key, message))

    def read_environment(self) -> bool:
        """Read ``[environment]`` first: the other sections are checked against it."""
        table = self.section("environment", required=False)
        if table is not None:
            # an unknown key is reported, but the name still guards the other sections
            for (key,), message in unknown_keys(table, EnvironmentSettings.FILE_KEYS):
                self.problems.append(ConfigProblem(f"environment.{key}", message))
            known = {k: v for k, v in table.items() if k in EnvironmentSettings.FILE_KEYS}
            self.environment = self.read(EnvironmentSettings, known, "environment")
        return self.environment is not None

    # -- the two documents --------------------------------------------------------------------

    def config(self, need: frozenset[str], wanted: Collection[str] | None) -> Config | None:
        self.known_sections(SECTIONS)
        environment_read = self.read_environment()

        def present_or_needed(name: str) -> bool:
            return name in need or name in self.document

        la = mesh = cpis = audit = attendance = None
        if present_or_needed("local_authority"):
            la = self.local_authority(self.section("local_authority", required=True))
        # A section present but not needed is checked, without reading its secrets and
        # files, and left out: `push` does not need the MESH password in its environment.
        if present_or_needed("mesh"):
            table = self.section("mesh", required=True)
            if table is not None:
                mesh = self.read(MeshSettings, table, "mesh", resolve="mesh" in need)
            mesh = mesh if "mesh" in need else None
        if present_or_needed("cpis"):
            table = self.section("cpis", required=True)
            cpis = self.read(CpisSettings, table, "cpis") if table is not None else None
        names, endpoints = self.endpoints(
            self.section("endpoints", required="endpoints" in need), wanted
        )
        directory = self.directory(self.section("directory", required="directory" in need), names)
        if present_or_needed("audit"):
            table = self.section("audit", required=True)
            if table is not None:
                log = {"log": "interop-audit.jsonl"}
                audit = self.read(AuditSettings, table, "audit", defaults=log)
        if present_or_needed("attendance"):
            attendance = self.attendance(self.section("attendance", required=True))
        pds, ods, flags = self.national(need, names, endpoints)
        state = self.state_location()
        if self.problems or not environment_read or self.environment is None:
            return None
        return Config(
            self.source,
            la,
            mesh,
            cpis,
            self.environment,
            endpoints=endpoints,
            endpoint_names=frozenset(names),
            directory=directory,
            audit=audit,
            attendance=attendance,
            pds=pds,
            ods=ods,
            patient_flags=flags,
            state=state,
            environment_declared=self.context().environment_declared,
        )

    def national(
        self, need: frozenset[str], names: list[str], endpoints: Mapping[str, EndpointSettings]
    ) -> tuple[PdsSettings | None, OdsSettings | None, PatientFlagsSettings | None]:
        """``[pds]``, ``[ods]`` and ``[patient_flags]``, each naming a FHIR endpoint."""
        found: dict[str, PdsSettings | OdsSettings | PatientFlagsSettings] = {}
        sections: tuple[tuple[str, type[_National], dict[str, str]], ...] = (
            ("pds", PdsSettings, {}),
            ("ods", OdsSettings, {"cache": "ods-cache.json"}),
            ("patient_flags", PatientFlagsSettings, {}),
        )
        for name, cls, defaults in sections:
            if name not in need and name not in self.document:
                continue
            table = self.section(name, required=True)
            settings = self.read(cls, table, name, defaults=defaults) if table else None
            if settings is None:
                continue
            endpoint = settings.endpoint
            known = endpoints.get(endpoint)
            if endpoint not in names:
                message = f"no such endpoint{did_you_mean(endpoint, names)} in [endpoints]"
                self.problems.append(ConfigProblem(f"{name}.endpoint", message))
            elif known is not None and known.kind != "fhir":
                message = f"endpoint {endpoint} is a {known.kind} endpoint, not fhir"
                self.problems.append(ConfigProblem(f"{name}.endpoint", message))
            found[name] = settings
        pds, ods, flags = found.get("pds"), found.get("ods"), found.get("patient_flags")
        assert pds is None or isinstance(pds, PdsSettings)
        assert ods is None or isinstance(ods, OdsSettings)
        assert flags is None or isinstance(flags, PatientFlagsSettings)
        return pds, ods, flags

    def state_location(self) -> str | None:
        """The top-level ``state`` key: a path made relative to the file, or a URL as given."""
        value = self.document.get("state")
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            message = "expected a path or a postgresql:// URL (a non-empty string)"
            self.problems.append(ConfigProblem("state", message))
            return None
        if value.startswith(("postgresql://", "postgres://")):
            return value
        return str(self.base / Path(value).expanduser())

    def stand_in_config(self) -> StandInConfig | None:
        self.known_sections(STAND_IN_SECTIONS)
        self.read_environment()
        mesh = cpis = stand_in = None
        table = self.section("mesh", required=True)
        if table is not None:
            mesh = self.read(MeshSettings, table, "mesh")
        table = self.section("cpis", required=True)
        if table is not None:
            cpis = self.read(CpisSettings, table, "cpis")
        table = self.section("stand_in", required=True)
        if table is not None:
            stand_in = self.stand_in(table)
        if mesh is None or cpis is None or self.environment is None or stand_in is None:
            return None
        return StandInConfig(self.source, mesh, cpis, self.environment, stand_in)

    # -- sections with more than one table's checks -------------------------------------------

    def local_authority(self, table: _Table | None) -> LocalAuthoritySettings | None:
        if table is None:
            return None
        settings = self.read(LocalAuthoritySettings, table, "local_authority")
        if settings is None:
            return None
        try:
            model = ResponsibleLocalAuthority.model_validate(dataclasses.asdict(settings))
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                loc = ".".join(str(part) for part in error["loc"])
                where = f"local_authority.{loc}" if loc else "local_authority"
                self.problems.append(ConfigProblem(where, error["msg"]))
            return None
        return LocalAuthoritySettings(
            ods_code=str(model.ods_code),
            name=str(model.name),
            emergency_duty_phone=str(model.emergency_duty_phone),
            office_hours_phone=model.office_hours_phone,
            secure_email=str(model.secure_email) if model.secure_email is not None else None,
        )

    def endpoints(
        self, table: _Table | None, wanted: Collection[str] | None
    ) -> tuple[list[str], dict[str, EndpointSettings]]:
        """Every endpoint's name, and the settings of those ``wanted`` (None: all)."""
        names: list[str] = []
        found: dict[str, EndpointSettings] = {}
        for name, value in (table or {}).items():
            where = f"endpoints.{name}"
            problem = endpoint_name_problem(name)
            if problem is not None:
                self.problems.append(ConfigProblem(where, problem))
                continue
            if not isinstance(value, dict):
                message = f"expected a table, found {type_name(value)}"
                self.problems.append(ConfigProblem(where, message))
                continue
            names.append(name)
            # An endpoint the command does not use is checked, but its secrets are not read.
            asked = wanted is None or name in wanted
            settings = self.read(
                EndpointSettings, value, where, resolve=asked, extra={"name": name}
            )
            if settings is not None and asked:
                found[name] = settings
        return names, found

    def directory(
        self, table: _Table | None, endpoint_names: list[str]
    ) -> dict[str, DirectoryEntry]:
        entries: dict[str, DirectoryEntry] = {}
        raw = table or {}
        for code, value in raw.items():
            where = f"directory.{code}"
            try:
                ods = check_ods_code(code)
            except ValueError as exc:
                self.problems.append(ConfigProblem(where, str(exc)))
                continue
            if ods != code:
                message = f"write the ODS code in upper case: [directory.{ods}]"
                self.problems.append(ConfigProblem(where, message))
                continue
            if not isinstance(value, dict):
                message = f"expected a table, found {type_name(value)}"
                self.problems.append(ConfigProblem(where, message))
                continue
            references = _references(value, ods, raw, endpoint_names)
            entry = self.read(
                DirectoryEntry, value, where, extra={"ods_code": ods}, found=references
            )
            if entry is not None:
                entries[ods] = entry
        return entries

    def attendance(self, table: _Table | None) -> AttendanceSettings | None:
        if table is None:
            return None
        try:
            return read_attendance_settings(table, self.base)
        except AttendanceSettingsError as exc:
            self.problems += [ConfigProblem(path, message) for path, message in exc.problems]
            return None

    def stand_in(self, table: _Table) -> StandInSettings | None:
        settings = self.read(
            StandInSettings, table, "stand_in", defaults={"register": "cpis-register.sqlite"}
        )
        known_file = table.get("pds_known_file")
        if known_file is None:
            return settings
        if not isinstance(known_file, str) or not known_file.strip():
            message = (
                "must not be empty"
                if isinstance(known_file, str)
                else (f"expected a string, found {type_name(known_file)}")
            )
            self.problems.append(ConfigProblem("stand_in.pds_known_file", message))
            return None
        try:
            lines = (self.base / known_file.strip()).read_text(encoding="utf-8").split()
        except OSError as exc:
            message = f"cannot read the file: {reason(exc)}"
            self.problems.append(ConfigProblem("stand_in.pds_known_file", message))
            return None
        if settings is None:
            return None
        return dataclasses.replace(settings, pds_known=settings.pds_known | frozenset(lines))


def _references(
    value: _Table, ods: str, directory: _Table, endpoint_names: list[str]
) -> list[tuple[tuple[str, ...], str]]:
    """The problems of what a directory entry names: its endpoints and its partners."""
    found: list[tuple[tuple[str, ...], str]] = []
    endpoints = value.get("endpoints")
    if isinstance(endpoints, list):
        for endpoint in endpoints:
            if isinstance(endpoint, str) and endpoint.strip() not in endpoint_names:
                found.append((("endpoints",), f"no endpoint {endpoint!r} in [endpoints]"))
    partners = value.get("partners")
    if isinstance(partners, list) and all(isinstance(p, str) and p for p in partners):
        for partner in (p.strip().upper() for p in partners):
            if partner not in directory:
                found.append((("partners",), f"partner {partner} is not in [directory]"))
            elif partner == ods:
                found.append((("partners",), "an organisation is not its own partner"))
        if partners and value.get("role", "other") != "local-authority":
            found.append((("partners",), "only a local authority lists partners"))
    return found
