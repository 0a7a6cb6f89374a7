"""Transports that move the toolkit's messages, on one base (``interop.transport.base``).

``Endpoint`` and ``TransportError`` are the base every transport implements: FHIR REST
(``fhir_client``, with the CP-IS API in ``cpis_api`` and Patient Flags in ``flags`` on top),
MESH (``mesh``), MLLP (``mllp``) and folders (``folder``). ``MeshTransport`` and its error are
also importable from here, as they always were; ``TransportError`` here is the base, so
``except TransportError`` catches a failure of any transport (MESH's included).

The MESH names are imported on first use: importing ``interop.transport.fhir_client`` (which
imports this package first) then costs no mesh-client, requests or configuration import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from interop.transport.base import Endpoint, TransportError

if TYPE_CHECKING:
    from interop.transport.mesh import (
        MeshTransport,
        MeshTransportError,
        ReceivedMessage,
        SentMessage,
        TransportErrorKind,
    )

__all__ = [
    "Endpoint",
    "MeshTransport",
    "MeshTransportError",
    "ReceivedMessage",
    "SentMessage",
    "TransportError",
    "TransportErrorKind",
    "bundles",
    "cpis_api",
    "directory",
    "fhir_client",
    "fhir_errors",
    "mesh",
    "mllp",
    "ods",
    "patient_flags",
    "pds",
]

_FROM_MESH = frozenset(
    {"MeshTransport", "MeshTransportError", "ReceivedMessage", "SentMessage", "TransportErrorKind"}
)


def __getattr__(name: str) -> Any:
    if name in _FROM_MESH:
        return getattr(importlib.import_module("interop.transport.mesh"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
