"""``[pds]`` and ``[ods]``: the national services the toolkit asks before sharing.

``[pds]`` names the ``[endpoints.NAME]`` (``kind = "fhir"``) that is the PDS FHIR API and says
how strict a trace is: ``mismatch`` of name or date of birth ``"hold"`` (default: the record
is held back with its reason) or ``"warn"``; a ``superseded`` number is ``"replace"``d by its
current one (default) or ``"hold"``s the record back; ``before_upload`` (default true) makes
``interop sync cpis`` trace every new or changed record before it is uploaded.

``[patient_flags]`` names the endpoint of the Patient Flags API and whether the FGM pathway of
a travel alert raises the FGM flag there (``raise_fgm``, default false: a national flag is
raised only where the organisation has agreed to).

``[ods]`` names the endpoint of the Organisation Data Terminology API and its offline
``cache`` (a JSON file, relative to the configuration file) with the age after which a cached
answer is asked again (``max_age_days``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic.dataclasses import dataclass

from interop.config.models import _SETTINGS, _one_of
from interop.config.values import Text, flag, from_file, integer, relative_path

__all__ = [
    "MISMATCH_POLICIES",
    "SUPERSEDED_POLICIES",
    "OdsSettings",
    "PatientFlagsSettings",
    "PdsSettings",
]

MISMATCH_POLICIES = ("hold", "warn")
SUPERSEDED_POLICIES = ("replace", "hold")


@dataclass(frozen=True, config=_SETTINGS)
class PdsSettings:
    """``[pds]``: where PDS is and how a trace judges what it finds."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("endpoint", "mismatch", "superseded", "before_upload")

    endpoint: Text
    mismatch: Annotated[Literal["hold", "warn"], _one_of(MISMATCH_POLICIES)] = "hold"
    superseded: Annotated[Literal["replace", "hold"], _one_of(SUPERSEDED_POLICIES)] = "replace"
    before_upload: Annotated[bool, flag("true or false")] = True


def _cache(value: Any, context: Any) -> Path:
    return relative_path(value, context)


@dataclass(frozen=True, config=_SETTINGS)
class OdsSettings:
    """``[ods]``: the ODS Terminology API endpoint and its offline cache."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("endpoint", "cache", "max_age_days")

    endpoint: Text
    cache: Annotated[Path, from_file(_cache)]
    max_age_days: Annotated[int, integer(0, 3650)] = 7


@dataclass(frozen=True, config=_SETTINGS)
class PatientFlagsSettings:
    """``[patient_flags]``: the Patient Flags API endpoint and what the toolkit may raise."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = ("endpoint", "raise_fgm")

    endpoint: Text
    raise_fgm: Annotated[bool, flag("true or false")] = False
