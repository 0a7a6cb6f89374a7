"""Transports that move the toolkit's messages: MESH (``interop.transport.mesh``)."""

from __future__ import annotations

from interop.transport.mesh import (
    MeshTransport,
    ReceivedMessage,
    SentMessage,
    TransportError,
    TransportErrorKind,
)

__all__ = [
    "MeshTransport",
    "ReceivedMessage",
    "SentMessage",
    "TransportError",
    "TransportErrorKind",
]
