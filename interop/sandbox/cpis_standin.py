"""The CP-IS stand-in: answers LA uploads over MESH as Spine would, for tests and rehearsal.

It reads uploads from its own MESH mailbox, checks them with ``spine.process_upload`` against
its make-believe PDS, keeps the national register in SQLite and sends each acknowledgement back
to the uploading mailbox. It can also send an access notification or an inactive-NHS-number
notification on request. Answering is idempotent: an acknowledgement's MESH local id is
``ack-<upload message id>``, so an upload seen again after a crash is not answered twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from interop.config import CpisSettings, StandInSettings
from interop.cpis import codec
from interop.cpis.model import AccessNotification, Accessor, InactiveNhsNumberNotification
from interop.errors import ConfigurationError
from interop.identifiers import TEST_BLOCK, InvalidNhsNumber, check_nhs_number
from interop.sandbox.cpis_spine import (
    PdsDirectory,
    Register,
    access_notification,
    inactive_notification,
    process_upload,
)
from interop.sandbox.national import (
    NationalServices,
    PdsRecord,
    stand_in_organisations,
    stand_in_patients,
)
from interop.transport.mesh import MeshTransport


class TestBlockPds(PdsDirectory):
    """A PDS that knows every valid number of the test block, but those listed as unknown."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, settings: StandInSettings) -> None:
        super().__init__(
            known=set(settings.pds_known),
            sensitive=set(settings.sensitive),
            superseded=set(settings.superseded),
        )
        self.unknown = set(settings.pds_unknown)

    def has(self, nhs_number: str) -> bool:
        if nhs_number in self.unknown:
            return False
        if super().has(nhs_number):
            return True
        try:
            number = check_nhs_number(nhs_number)
        except InvalidNhsNumber:
            return False
        return TEST_BLOCK[0] <= int(number) <= TEST_BLOCK[1]


def pds_for(settings: StandInSettings) -> PdsDirectory:
    """The PDS the settings describe."""
    if settings.accept_test_block:
        return TestBlockPds(settings)
    return PdsDirectory(
        known=set(settings.pds_known) - set(settings.pds_unknown),
        sensitive=set(settings.sensitive),
        superseded=set(settings.superseded),
    )


class RegisterPds(PdsDirectory):
    """The MESH side's PDS read from the national stand-ins' test-patient register, so CP-IS
    answers CPR01/CPR02/CPR05 for exactly the numbers the PDS FHIR stand-in calls unknown,
    sensitive or superseded (the register is read live: patients added later count too)."""

    def __init__(self, services: NationalServices) -> None:
        super().__init__(known=set())
        self.services = services

    def _record(self, nhs_number: str) -> PdsRecord | None:
        return self.services.patients.get(nhs_number)

    def has(self, nhs_number: str) -> bool:
        return self._record(nhs_number) is not None

    def is_sensitive(self, nhs_number: str) -> bool:
        record = self._record(nhs_number)
        return record is not None and record.sensitive

    def is_superseded(self, nhs_number: str) -> bool:
        record = self._record(nhs_number)
        return record is not None and record.superseded_by is not None


def national_register(settings: StandInSettings) -> NationalServices:
    """One test-patient register for the CP-IS stand-in and the national stand-ins: the fixed
    test patients (``stand_in_patients``) plus ``[stand_in]``'s ``pds_known`` and ``sensitive``
    numbers as synthetic people, and the stand-in organisations.

    ``ConfigurationError`` when ``[stand_in]`` describes PDS in ways one register cannot hold:
    ``superseded`` numbers (PDS FHIR must name the replacement: use the fixed superseded test
    patient) and ``accept_test_block`` (PDS FHIR cannot answer every number of the block).
    """
    if settings.superseded or settings.accept_test_block:
        raise ConfigurationError(
            "[stand_in] superseded and accept_test_block cannot be served by the national "
            "stand-ins: leave them out (the shared register has its own superseded patient)"
        )
    patients = stand_in_patients()
    fixed = {p.nhs_number for p in patients}
    extra = (set(settings.pds_known) | set(settings.sensitive)) - fixed - set(settings.pds_unknown)
    patients += [
        PdsRecord(
            number,
            "Test",
            "Child",
            date(2015, 1, 1),
            sensitive=number in settings.sensitive,
        )
        for number in sorted(extra)
    ]
    patients = [p for p in patients if p.nhs_number not in settings.pds_unknown]
    return NationalServices(patients, stand_in_organisations())


@dataclass(frozen=True)
class Answered:
    """One upload answered: its message, the acknowledgement's file code and record count."""

    upload_message_id: str
    file_code: str
    records: int
    already_answered: bool = False


class StandIn:
    """CP-IS's side of the MESH conversation."""

    def __init__(
        self,
        transport: MeshTransport,
        register: Register,
        pds: PdsDirectory,
        workflows: CpisSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.transport = transport
        self.register = register
        self.pds = pds
        self.workflows = workflows
        self.clock = clock

    def answer_uploads(self) -> list[Answered]:
        """Answer every upload waiting in the stand-in's mailbox."""
        answered = []
        for message_id in self.transport.inbox(self.workflows.upload_workflow_id):
            message = self.transport.download(message_id)
            local_id = f"ack-{message_id}"
            if message.sender is None:
                # nobody to answer: leave it for a person to look at
                continue
            if self.transport.find_by_local_id(local_id) is not None:
                answered.append(Answered(message_id, "", 0, already_answered=True))
            else:
                ack = process_upload(
                    message.data,
                    self.register,
                    self.pds,
                    message_id=f"ACK-{uuid.uuid4()}",
                    now=self.clock(),
                )
                self.transport.send(
                    message.sender,
                    self.workflows.acknowledgement_workflow_id,
                    codec.write_acknowledgement(ack),
                    local_id=local_id,
                    subject="CP-IS acknowledgement",
                )
                answered.append(Answered(message_id, ack.file_code.value, len(ack.records)))
            self.transport.acknowledge(message_id)
        return answered

    def notify_access(
        self, nhs_number: str, accessor: Accessor, *, to_mailbox: str, care_setting: str | None
    ) -> AccessNotification:
        """Tell the LA that a health setting viewed the flag of ``nhs_number``.

        ``LookupError`` when the register holds no current plan for the number.
        """
        notification, _ = access_notification(
            self.register,
            nhs_number,
            accessor,
            message_id=f"ASN-{uuid.uuid4()}",
            now=self.clock(),
            care_setting=care_setting,
        )
        self.transport.send(
            to_mailbox,
            self.workflows.access_notification_workflow_id,
            codec.write_access_notification(notification),
            local_id=notification.message_id,
            subject="CP-IS access to service notification",
        )
        return notification

    def notify_inactive(
        self, nhs_numbers: tuple[str, ...], *, to_mailbox: str
    ) -> InactiveNhsNumberNotification:
        """Tell the LA that PDS holds these NHS numbers as inactive."""
        notification = inactive_notification(
            nhs_numbers, message_id=f"INN-{uuid.uuid4()}", now=self.clock()
        )
        self.transport.send(
            to_mailbox,
            self.workflows.inactive_nhs_number_workflow_id,
            codec.write_inactive_notification(notification),
            local_id=notification.message_id,
            subject="CP-IS inactive NHS number notification",
        )
        return notification
