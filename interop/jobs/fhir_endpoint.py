"""Opening the FHIR client of an endpoint for a job, with one message when it cannot be."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interop.errors import ConfigurationError

if TYPE_CHECKING:
    from interop.config import EndpointSettings
    from interop.transport.fhir_client import FhirClient


def open_client(settings: EndpointSettings) -> FhirClient:
    """The FHIR client of ``settings``; ``ConfigurationError`` when its TLS or auth settings
    cannot be used."""
    from interop.transport.fhir_client import FhirClient

    try:
        return FhirClient.from_settings(settings)
    except ValueError as exc:
        raise ConfigurationError(f"endpoint {settings.name}: {exc}") from None
