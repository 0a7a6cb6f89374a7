"""The FGM pathway of a travel alert, on the Patient Flags API.

When a travel alert names the FGM safeguarding pathway and ``[patient_flags] raise_fgm`` allows
it, the FGM flag is raised on the Patient Flags API for the child (once: an active flag is left
as it is). Without that permission nothing national is written: the result says so, and the
pathway stays a local action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from interop.errors import UsageError

if TYPE_CHECKING:
    from interop.config import Config
    from interop.domain import TravelAlert

__all__ = ["FgmFlagResult", "raise_fgm_flag"]


@dataclass(frozen=True)
class FgmFlagResult:
    """What the FGM pathway did on the Patient Flags API."""

    outcome: Literal["raised", "already-raised", "not-allowed", "no-fgm-pathway"]
    flag: dict[str, Any] | None = None


def raise_fgm_flag(
    alert: TravelAlert, config: Config, *, author_ods: str, today: date | None = None
) -> FgmFlagResult:
    """Raise the FGM flag for ``alert``'s child where the configuration allows it.

    ``UsageError`` when the alert needs it, it is allowed, but no ``[patient_flags]`` endpoint
    is configured; ``FhirClientError`` (a RemoteError) when the API fails.
    """
    from interop.codes import SafeguardingPathway
    from interop.jobs.fhir_endpoint import open_client
    from interop.transport.patient_flags import PatientFlagsApi

    if SafeguardingPathway.FGM not in alert.safeguarding_pathways:
        return FgmFlagResult("no-fgm-pathway")
    settings = config.patient_flags
    if settings is None or not settings.raise_fgm:
        return FgmFlagResult("not-allowed")
    if not settings.endpoint:
        raise UsageError("[patient_flags] needs an endpoint to raise the FGM flag")
    with open_client(config.endpoint(settings.endpoint)) as client:
        api = PatientFlagsApi(client)
        number = alert.child.nhs_number
        before = [f for f in api.flags(number, "fgm") if f.get("status") == "active"]
        flag = api.raise_flag(number, "fgm", author_ods=author_ods, start=today or alert.raised_on)
    return FgmFlagResult("already-raised" if before else "raised", flag)
