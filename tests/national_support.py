"""The national stand-ins (PDS, ODS) on 127.0.0.1 for the tests of the clients and jobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interop.sandbox.national import (
    ODS_PATH,
    PDS_PATH,
    NationalServices,
    running_national_services,
    stand_in_organisations,
    stand_in_patients,
)


class National:
    """A running stand-in: its data, its host and the service bases."""

    def __init__(self, services: NationalServices, host: str) -> None:
        self.services = services
        self.host = host
        self.pds = host + PDS_PATH
        self.ods = host + ODS_PATH


@pytest.fixture(scope="module")
def national() -> Iterator[National]:
    services = NationalServices(stand_in_patients(), stand_in_organisations())
    with running_national_services(services) as host:
        yield National(services, host)
