"""ODS checks: the endpoint directory's organisations, and those an artefact names.

The toolkit pattern-checks ODS codes when it reads them; these checks ask ODS itself (the
Organisation Data Terminology API, through ``interop.transport.ods`` and its offline cache):
does the code exist, is the organisation still open, is its role the one the directory says
(a local authority, a health organisation) and is its name the one configured?

``check_directory(config)`` is the directory check (``interop config check`` is not in this
tree yet: it calls this function when it comes; ``UsageError`` without ``[ods]``);
``check_organisations(codes, lookup)`` is the check of the organisations an artefact names
(``artefact_ods_codes`` finds them); ``check_named(config, codes)`` is the same check when
``[ods]`` is configured and none otherwise, as ``push``, ``validate --config`` and ``pds trace``
run it: ODS itself failing is a warning there, never a refusal to share.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from interop.errors import UsageError

if TYPE_CHECKING:
    from interop.config import Config
    from interop.issues import Issue
    from interop.transport.ods import OdsLookup

__all__ = [
    "OdsFinding",
    "artefact_issues",
    "artefact_ods_codes",
    "check_directory",
    "check_named",
    "check_organisations",
    "ods_lookup",
]

#: the directory's roles and the ODS roles that fit them
_FITTING_ROLES = {
    "local-authority": {"local-authority"},
    "health": {"trust", "gp-practice"},
}


@dataclass(frozen=True)
class OdsFinding:
    """One problem with an ODS code: ``error`` (unknown, closed) or ``warning``."""

    ods_code: str
    severity: Literal["error", "warning"]
    message: str

    def describe(self) -> str:
        """``error RXX: closed on ODS since 2020-03-31``."""
        return f"{self.severity} {self.ods_code}: {self.message}"


@contextmanager
def ods_lookup(config: Config) -> Iterator[OdsLookup]:
    """The lookup ``[ods]`` configures (its endpoint's client open for the block)."""
    from interop.jobs.fhir_endpoint import open_client
    from interop.transport.ods import OdsLookup

    settings = config.ods
    if settings is None:
        raise UsageError("ODS checks need an [ods] section naming the ODS Terminology endpoint")
    max_age = timedelta(days=settings.max_age_days)
    with open_client(config.endpoint(settings.endpoint)) as client:
        yield OdsLookup(client, cache=settings.cache, max_age=max_age)


def check_organisations(
    codes: Iterable[str], lookup: OdsLookup, *, roles: Mapping[str, str] | None = None
) -> list[OdsFinding]:
    """Each code asked of ODS: unknown or closed is an error; a role that does not fit
    ``roles`` (code → ``local-authority`` / ``health``) or a stale answer is a warning."""
    findings: list[OdsFinding] = []
    for code in dict.fromkeys(c.strip().upper() for c in codes):
        try:
            found = lookup.organisation(code)
        except ValueError as exc:
            findings.append(OdsFinding(code, "error", str(exc)))
            continue
        if found is None:
            findings.append(OdsFinding(code, "error", "ODS does not know this code"))
            continue
        if not found.active or found.closed:
            since = f" since {found.closed}" if found.closed else ""
            findings.append(OdsFinding(code, "error", f"closed on ODS{since}"))
        wanted = (roles or {}).get(code)
        if wanted in _FITTING_ROLES and found.role not in _FITTING_ROLES[wanted]:
            message = f"configured as {wanted}, but ODS gives the role {found.role}"
            findings.append(OdsFinding(code, "warning", message))
        if found.stale:
            message = "ODS could not be reached: checked against the cache"
            findings.append(OdsFinding(code, "warning", message))
    return findings


def check_directory(config: Config, lookup: OdsLookup | None = None) -> list[OdsFinding]:
    """The ``[directory.ODS]`` organisations and the LA's own code asked of ODS."""
    roles: dict[str, str] = {code: entry.role for code, entry in config.directory.items()}
    if config.authority_settings is not None:
        roles.setdefault(config.authority_settings.ods_code, "local-authority")
    if lookup is not None:
        return check_organisations(roles, lookup, roles=roles)
    with ods_lookup(config) as opened:
        return check_organisations(roles, opened, roles=roles)


def check_named(
    config: Config | None, codes: Iterable[str], *, roles: Mapping[str, str] | None = None
) -> list[OdsFinding]:
    """``codes`` asked of ODS when ``config`` has ``[ods]`` (none asked, no finding, without).

    ODS failing (unreachable, an error answer, nothing cached) is one warning per code: the
    check could not be made, which must not stop safeguarding information being shared.
    """
    from interop.transport.fhir_errors import FhirClientError

    wanted = list(dict.fromkeys(c.strip().upper() for c in codes if c and c.strip()))
    if config is None or config.ods is None or not wanted:
        return []
    try:
        with ods_lookup(config) as lookup:
            return check_organisations(wanted, lookup, roles=roles)
    except FhirClientError as exc:
        why = f"not checked: ODS could not be asked ({exc})"
        return [OdsFinding(code, "warning", why) for code in wanted]


#: the rule id the ODS check's issues carry (``interop validate``, ``interop push``)
ODS_RULE = "ODS-1"


def artefact_issues(config: Config | None, artefact: Any, *, refuse: bool) -> list[Issue]:
    """The organisations ``artefact`` names asked of ODS when ``config`` has ``[ods]``, as
    validation issues at ``ods_code``. An unknown or closed organisation is an error when
    ``refuse`` (``interop push``: not sent) and a warning otherwise (``interop validate``:
    the file is as valid as before, ODS being a fact about the world, not the file)."""
    from interop.issues import Issue, IssueCode, Severity

    issues = []
    for finding in check_named(config, artefact_ods_codes(artefact)):
        severe = refuse and finding.severity == "error"
        issues.append(
            Issue(
                Severity.ERROR if severe else Severity.WARNING,
                IssueCode.VALUE,
                "ods_code",
                f"ODS code {finding.ods_code}: {finding.message}",
                rule_id=ODS_RULE,
                rule_source="Organisation Data Terminology API (docs/national-services.md)",
            )
        )
    return issues


def artefact_ods_codes(artefact: Any) -> list[str]:
    """Every ODS code an artefact names (any ``ods_code`` field, however deep)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        fields = getattr(type(value), "model_fields", None)
        if isinstance(fields, dict):
            for name in fields:
                item = getattr(value, name, None)
                if name == "ods_code" and isinstance(item, str):
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(artefact)
    return list(dict.fromkeys(found))
