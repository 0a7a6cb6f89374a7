"""Patient Flags (the FGM-IS pattern): a thin client on a ``FhirClient``.

``PatientFlags(client)`` reads a patient's Flags, creates a Flag once whatever the retries
(``If-None-Exist`` on its identifier), and ends one (``inactive`` or ``entered-in-error`` with a
removal reason), as a ``PUT`` conditional on the version it read so a concurrent change is
never overwritten. Retries, authentication and errors are the ``FhirClient``'s.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any, Literal

from interop.identifiers import check_nhs_number
from interop.transport.fhir_client import FhirClient
from interop.transport.fhir_errors import FhirError, FhirTransportError

__all__ = ["FLAG_REMOVAL_REASON_URL", "PatientFlags"]

JSON = dict[str, Any]

#: the England extension that says why a flag was ended (FGM-IS, Patient Flags)
FLAG_REMOVAL_REASON_URL = (
    "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-FlagRemovalReason"
)


class PatientFlags:
    """Flag operations over one FHIR endpoint; the ``client`` stays the caller's to close."""

    def __init__(self, client: FhirClient) -> None:
        self.client = client

    def of_patient(self, nhs_number: str, *, code: str | None = None) -> list[JSON]:
        """The patient's Flags (``GET Flag?patient:identifier=...[&code=...]``)."""
        number = check_nhs_number(nhs_number)
        params = {"code": code} if code else {}
        return list(self.client.search_by_patient("Flag", number, **params))

    def create(self, flag: JSON) -> JSON:
        """``POST Flag``, conditional on its first identifier (``If-None-Exist``): creating
        the same flag twice leaves one. A flag without an identifier is sent once."""
        if flag.get("resourceType") != "Flag":
            raise ValueError("PatientFlags.create takes a Flag")
        condition = None
        for identifier in flag.get("identifier") or []:
            if isinstance(identifier, dict) and identifier.get("value"):
                system = identifier.get("system")
                token = f"{system}|{identifier['value']}" if system else str(identifier["value"])
                condition = f"identifier={token}"
                break
        return self.client.create(flag, if_none_exist=condition)

    def end(
        self,
        flag_id: str,
        *,
        status: Literal["inactive", "entered-in-error"],
        reason: str,
        today: date | None = None,
    ) -> JSON:
        """End an active Flag: set ``status`` and the removal reason (and ``period.end`` for
        ``inactive``), as a ``PUT`` conditional on the version read. Ending a flag already
        ended the same way returns it unchanged; a flag that is not active is refused."""
        if status not in ("inactive", "entered-in-error"):
            raise ValueError("a flag is ended as 'inactive' or 'entered-in-error'")
        if not reason.strip():
            raise ValueError("ending a flag needs a reason")
        for _ in range(2):
            current = self.client.read("Flag", flag_id)
            if current.get("status") == status:
                return current
            if current.get("status") != "active":
                raise ValueError(
                    f"Flag/{flag_id} is {current.get('status')!r}: only an active flag is ended"
                )
            ended = _ended(current, status, reason.strip(), today or datetime.now(UTC).date())
            version = (current.get("meta") or {}).get("versionId")
            try:
                return self.client.update(ended, if_match=f'W/"{version}"' if version else None)
            except FhirError as exc:
                if exc.status != 412:  # changed since read: read again and decide again
                    raise
        raise FhirTransportError("protocol", f"{self.client.name}: Flag/{flag_id} keeps changing")


def _ended(current: JSON, status: str, reason: str, today: date) -> JSON:
    """``current`` with ``status``, one removal reason and, for ``inactive``, an end date."""
    ended = copy.deepcopy(current)
    ended["status"] = status
    extensions = [
        e
        for e in ended.get("extension") or []
        if not (isinstance(e, dict) and e.get("url") == FLAG_REMOVAL_REASON_URL)
    ]
    extensions.append({"url": FLAG_REMOVAL_REASON_URL, "valueCodeableConcept": {"text": reason}})
    ended["extension"] = extensions
    if status == "inactive":
        period = dict(ended.get("period") or {})
        period["end"] = today.isoformat()
        ended["period"] = period
    return ended
