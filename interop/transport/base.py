"""What every transport endpoint shares: ``Endpoint`` and ``TransportError``.

An endpoint is one place the toolkit sends artefacts to or reads them from: a FHIR REST server
(``fhir_client.FhirClient``), a MESH mailbox (``mesh.MeshTransport``), an MLLP listener
(``mllp.MllpClient``) or a folder (``folder.FolderEndpoint``). Each holds something to release
(connections, a socket), has a ``name`` its messages use, and is a context manager that closes
it on the way out.

``TransportError`` is the one root of transport failures, a ``RemoteError`` (exit code 3):
``except TransportError`` catches a failure of any endpoint. ``outcome_unknown`` is true when a
request that is not safe to repeat may have been applied: check before sending it again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from interop.errors import RemoteError

__all__ = ["Endpoint", "TransportError"]


class TransportError(RemoteError):
    """A transport endpoint failed: unreachable, refused, timed out or answered nonsense.

    ``status`` is the protocol's status when there was one (HTTP); ``outcome_unknown`` is true
    when a send may or may not have been applied. Subclasses say more (``kind``...).
    """

    status: int | None = None
    outcome_unknown: bool = False


class Endpoint(ABC):
    """One transport endpoint; use it as a context manager, or call ``close``.

    ``name`` identifies it in messages and logs (the configured endpoint name, a mailbox, an
    address); it never holds a secret.
    """

    name: str

    @abstractmethod
    def close(self) -> None:
        """Release what the endpoint holds (connections, sockets); safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
