"""Pull CP-IS's replies from MESH: acknowledgements, access notifications, inactive NHS numbers.

Each reply is downloaded, applied to the ledger and kept there in one transaction, and only
then acknowledged on MESH: a crash before the acknowledgement means the reply is seen again on
the next run, recognised by its message id, and acknowledged without being applied twice.
What was received is written out as JSON lines, rebuilt from the ledger each time, so the files
never hold a reply twice either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from interop.cpis import codec
from interop.sync.ledger import Ledger

#: reply kind → output file
OUTPUT_FILES = {
    "acknowledgement": "acknowledgements.jsonl",
    "access-notification": "access-notifications.jsonl",
    "inactive-nhs-number": "inactive-nhs-numbers.jsonl",
}


class Receiver(Protocol):
    """What the pull needs of a MESH transport."""

    def inbox(self, workflow_id: str | None = None) -> list[str]: ...

    def download(self, message_id: str) -> Any: ...

    def acknowledge(self, message_id: str) -> None: ...


@dataclass
class PullReport:
    """What one pull received."""

    acknowledgements: int = 0
    access_notifications: int = 0
    inactive_notifications: int = 0
    already_received: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (message id, why)
    unknown_uploads: list[str] = field(default_factory=list)  # acknowledged file ids not ours


def _as_json(value: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(asdict(value), default=str))
    return data


def _apply(ledger: Ledger, message_id: str, data: bytes, report: PullReport) -> None:
    kind = codec.message_type(data)
    if kind == "acknowledgement":
        ack = codec.read_acknowledgement(data)
        outcomes = [(r.record_id, r.code.value, r.detail) for r in ack.records]
        known = ledger.record_acknowledgement(
            message_id, ack.file_id, ack.file_code.value, outcomes, _as_json(ack)
        )
        report.acknowledgements += 1
        if not known:
            report.unknown_uploads.append(ack.file_id)
    elif kind == "access-notification":
        notification = codec.read_access_notification(data)
        ledger.record_notification(message_id, kind, _as_json(notification))
        report.access_notifications += 1
    elif kind == "inactive-nhs-number":
        inactive = codec.read_inactive_notification(data)
        ledger.record_notification(message_id, kind, _as_json(inactive))
        report.inactive_notifications += 1
    else:
        raise codec.CpisInputError([])  # an upload sent to the LA: not a reply


def pull(
    ledger: Ledger,
    transport: Receiver,
    *,
    workflow_ids: tuple[str, ...],
    out_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> PullReport:
    """Receive, apply and acknowledge every CP-IS reply waiting in the LA's mailbox."""
    report = PullReport()
    for workflow_id in workflow_ids:
        for message_id in transport.inbox(workflow_id):
            if ledger.inbox_entry(message_id) is not None:
                # applied by an earlier run that stopped before acknowledging it
                report.already_received += 1
            else:
                message = transport.download(message_id)
                try:
                    _apply(ledger, message_id, message.data, report)
                except codec.CpisInputError as exc:
                    why = "; ".join(i.describe() for i in exc.issues[:3]) or "not a CP-IS reply"
                    report.unreadable.append((message_id, why))
                    continue  # left in the mailbox, unacknowledged, for a person to look at
            transport.acknowledge(message_id)
            ledger.mark_acknowledged(message_id)
            if progress:
                progress(1)
    if out_dir is not None:
        write_outputs(ledger, out_dir)
    return report


def write_outputs(ledger: Ledger, out_dir: Path) -> list[Path]:
    """The received replies as JSON lines, one file per kind, replaced whole."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, name in OUTPUT_FILES.items():
        path = out_dir / name
        temporary = path.with_suffix(".jsonl.part")
        with temporary.open("w", encoding="utf-8") as handle:
            for reply in ledger.replies(kind):
                handle.write(json.dumps(reply, ensure_ascii=False, sort_keys=True) + "\n")
        temporary.replace(path)
        written.append(path)
    return written
