"""Transports that move the toolkit's messages, on one base (``interop.transport.base``).

``Endpoint`` and ``TransportError`` are the base every transport implements: FHIR REST
(``fhir_client``, with the CP-IS API in ``cpis_api`` and Patient Flags in ``flags`` on top),
MESH (``mesh``), MLLP (``mllp``) and folders (``folder``). ``MeshTransport`` and its error are
also importable from here, as they always were; ``TransportError`` here is the base, so
``except TransportError`` catches a failure of any transport (MESH's included).
"""

from __future__ import annotations

from interop.transport.base import Endpoint, TransportError
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
]
