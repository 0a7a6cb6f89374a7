"""The Organisation Data Terminology API (FHIR R4): ODS codes looked up, with an offline cache.

``OdsLookup(client, cache=path).organisation("RR8")`` reads ``GET [base]/Organization/{code}``
and gives an ``OdsOrganisation``: active or closed, its name, its role (local authority, NHS
trust, GP practice, other). Each answer is kept in a JSON cache file; a cached answer younger
than ``max_age`` is used without asking, and when the API cannot be reached an older one is
used (``stale``), so a check runs offline. ``client`` None: the cache only.

The role codes (``ODS_ROLES``) and the extension that carries them are **to be confirmed at
onboarding** against the API's published examples; they are data here, not logic.
Bases (configuration): ``https://int.api.service.nhs.uk/organisation-data-terminology-api/fhir``,
``https://api.service.nhs.uk/organisation-data-terminology-api/fhir``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from interop.identifiers import check_ods_code
from interop.transport.fhir_client import FhirClient
from interop.transport.fhir_errors import FhirError, FhirTransportError

__all__ = ["ODS_ROLES", "OdsLookup", "OdsOrganisation", "OdsRole", "organisation_from_fhir"]

JSON = dict[str, Any]
OdsRole = Literal["local-authority", "trust", "gp-practice", "other"]

#: ODS role codes → the roles the toolkit tells apart (to be confirmed at onboarding)
ODS_ROLES: dict[str, OdsRole] = {
    "RO141": "local-authority",
    "RO197": "trust",
    "RO76": "gp-practice",
}
ROLE_EXTENSION = (
    "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-OrganisationRole"
)
PERIOD_EXTENSION = "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-TypedPeriod"


@dataclass(frozen=True)
class OdsOrganisation:
    """An organisation as ODS holds it (not personal data)."""

    ods_code: str
    name: str
    active: bool
    role: OdsRole = "other"
    role_codes: tuple[str, ...] = ()
    closed: str | None = None
    #: when the API gave this answer (ISO 8601, UTC)
    fetched: str = ""
    #: taken from the cache after the API could not be reached
    stale: bool = False


def _role_codes(resource: JSON) -> tuple[str, ...]:
    codes = []
    for extension in resource.get("extension") or []:
        if not isinstance(extension, dict) or extension.get("url") != ROLE_EXTENSION:
            continue
        for part in extension.get("extension") or []:
            concept = part.get("valueCodeableConcept") if isinstance(part, dict) else None
            for coding in (concept or {}).get("coding") or []:
                if isinstance(coding, dict) and coding.get("code"):
                    codes.append(str(coding["code"]))
    return tuple(codes)


def _closed(resource: JSON) -> str | None:
    for extension in resource.get("extension") or []:
        if not isinstance(extension, dict) or extension.get("url") != PERIOD_EXTENSION:
            continue
        for part in extension.get("extension") or []:
            end = ((part or {}).get("valuePeriod") or {}).get("end")
            if end:
                return str(end)
    return None


def organisation_from_fhir(resource: JSON, code: str, fetched: str = "") -> OdsOrganisation:
    """The ``OdsOrganisation`` of an ODS Terminology API Organization."""
    codes = _role_codes(resource)
    role: OdsRole = next((ODS_ROLES[c] for c in codes if c in ODS_ROLES), "other")
    return OdsOrganisation(
        ods_code=code,
        name=str(resource.get("name") or ""),
        active=resource.get("active") is not False,
        role=role,
        role_codes=codes,
        closed=_closed(resource),
        fetched=fetched,
    )


class OdsLookup:
    """ODS codes looked up on the API behind ``client`` (the caller's to close), cached."""

    def __init__(
        self,
        client: FhirClient | None,
        *,
        cache: Path | None = None,
        max_age: timedelta = timedelta(days=7),
    ) -> None:
        self.client = client
        self.cache_path = cache
        self.max_age = max_age
        self._cache: dict[str, JSON] = self._read_cache()

    def _read_cache(self) -> dict[str, JSON]:
        if self.cache_path is None or not self.cache_path.exists():
            return {}
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a damaged cache is rebuilt, never trusted
        return data if isinstance(data, dict) else {}

    def _write_cache(self) -> None:
        if self.cache_path is None:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.cache_path.parent, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(self._cache, out, indent=1, sort_keys=True)
        os.replace(name, self.cache_path)

    def _cached(self, code: str) -> OdsOrganisation | None:
        entry = self._cache.get(code)
        if not isinstance(entry, dict):
            return None
        try:
            entry = {**entry, "role_codes": tuple(entry.get("role_codes") or ())}
            return OdsOrganisation(**entry)
        except TypeError:
            return None

    def organisation(self, ods_code: str) -> OdsOrganisation | None:
        """The organisation with ``ods_code``, or None when ODS does not know it.

        ``ValueError`` for a code that cannot be one; ``FhirClientError`` when the API fails
        and nothing is cached.
        """
        code = check_ods_code(ods_code.strip().upper())
        cached = self._cached(code)
        now = datetime.now(UTC)
        if cached is not None and cached.fetched:
            age = now - datetime.fromisoformat(cached.fetched)
            if age <= self.max_age or self.client is None:
                return cached
        if self.client is None:
            return None
        try:
            resource = self.client.read("Organization", code)
        except FhirError as exc:
            if exc.status == 404:
                return None
            if cached is not None and exc.status >= 500:
                return replace(cached, stale=True)
            raise
        except FhirTransportError:
            if cached is not None:
                return replace(cached, stale=True)
            raise
        found = organisation_from_fhir(resource, code, now.isoformat(timespec="seconds"))
        self._cache[code] = {**asdict(found), "stale": False}
        self._write_cache()
        return found
