"""The endpoint directory: which configured endpoints an artefact goes to, by ODS code.

``[directory.ODS]`` entries of ``interop.toml`` name organisations (a local authority, a trust,
a police force), the endpoints that reach them and, for a local authority, its health and
police partners. An artefact's recipients follow from what it is:

- a child protection flag goes to the responsible local authority's partners (the health and
  police organisations that must see it);
- a travel alert goes to the receiving local authority (its destination), to every authority
  sent a missing-child alert, and to the children's social care it was referred to;
- a strategy discussion health report and a health treatment plan go to the local authority of
  the child's social worker;
- a health needs checklist (completed by the conference chair) goes to the partners of the
  chair's local authority.

An endpoint only receives the kinds its ``artefacts`` setting lists (all when unset).
Whatever cannot be routed is reported with the reason, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interop.config import Config, DirectoryEntry, EndpointSettings
    from interop.domain import ArtefactBase

__all__ = ["EndpointDirectory", "Recipient", "Route", "Routing"]


@dataclass(frozen=True)
class Recipient:
    """An organisation an artefact is for, by ODS code, and why."""

    ods_code: str
    reason: str
    #: True: the artefact goes to this organisation's partners rather than to it
    via_partners: bool = False


@dataclass(frozen=True)
class Route:
    """Send the artefact to ``endpoint`` because ``ods_code`` (``name``) should have it."""

    endpoint: EndpointSettings
    ods_code: str
    name: str
    reason: str


@dataclass(frozen=True)
class Routing:
    """Where one artefact goes, and what could not be routed (each with its reason)."""

    routes: tuple[Route, ...] = ()
    unroutable: tuple[str, ...] = field(default=())

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The endpoint names, each once, in route order."""
        return tuple(dict.fromkeys(route.endpoint.name for route in self.routes))


def recipients(artefact: ArtefactBase) -> list[Recipient]:
    """The organisations an artefact is for (see the module's rules); empty when it names none."""
    from interop.domain import (
        ChildProtectionFlag,
        HealthNeedsChecklist,
        HealthTreatmentPlan,
        StrategyDiscussionHealthReport,
        TravelAlert,
    )

    found: list[Recipient] = []
    if isinstance(artefact, ChildProtectionFlag):
        la = artefact.responsible_la
        found.append(Recipient(la.ods_code, f"partner of the responsible LA {la.ods_code}", True))
    elif isinstance(artefact, TravelAlert):
        destination = artefact.destination
        if destination is not None and destination.local_authority is not None:
            found.append(Recipient(destination.local_authority.ods_code, "receiving LA"))
        for org in artefact.missing_alert_recipients:
            found.append(Recipient(org.ods_code, "sent a missing-child alert"))
        referral = artefact.social_care_referral
        if referral is not None:
            found.append(Recipient(referral.to.ods_code, "referred to its children's social care"))
    elif isinstance(artefact, StrategyDiscussionHealthReport):
        worker = artefact.social_worker
        if worker is not None and worker.organisation is not None:
            found.append(Recipient(worker.organisation.ods_code, "the social worker's LA"))
    elif isinstance(artefact, HealthTreatmentPlan):
        worker = artefact.cp_plan.key_social_worker
        if worker is not None and worker.organisation is not None:
            found.append(Recipient(worker.organisation.ods_code, "the key social worker's LA"))
    elif isinstance(artefact, HealthNeedsChecklist):
        chair_org = artefact.chair.organisation
        if chair_org is not None:
            code = chair_org.ods_code
            found.append(Recipient(code, f"partner of the chair's LA {code}", True))
    return found


class EndpointDirectory:
    """Organisations by ODS code and the endpoints that reach them."""

    def __init__(
        self,
        entries: Mapping[str, DirectoryEntry],
        endpoints: Mapping[str, EndpointSettings],
    ) -> None:
        self._entries = dict(entries)
        self._endpoints = dict(endpoints)

    @classmethod
    def from_config(cls, config: Config) -> EndpointDirectory:
        """The directory of ``config`` (load it with every endpoint, ``endpoints=None``)."""
        return cls(config.directory, config.endpoints)

    def entry(self, ods_code: str) -> DirectoryEntry | None:
        """The organisation with this ODS code, if the directory has it."""
        return self._entries.get(ods_code.strip().upper())

    def partners(self, ods_code: str) -> list[DirectoryEntry]:
        """A local authority's partners (health, police), as directory entries."""
        entry = self.entry(ods_code)
        if entry is None:
            return []
        return [self._entries[code] for code in entry.partners if code in self._entries]

    def route(self, artefact: ArtefactBase) -> Routing:
        """Where ``artefact`` goes: one route per (organisation, endpoint) that accepts its kind."""
        routes: list[Route] = []
        unroutable: list[str] = []
        wanted = recipients(artefact)
        if not wanted:
            unroutable.append(f"a {artefact.kind} here names no recipient organisation")
        for recipient in wanted:
            entry = self.entry(recipient.ods_code)
            if entry is None:
                unroutable.append(
                    f"{recipient.ods_code} ({recipient.reason}) is not in [directory]"
                )
                continue
            targets = self.partners(entry.ods_code) if recipient.via_partners else [entry]
            if recipient.via_partners and not targets:
                unroutable.append(f"{entry.ods_code} lists no partners in [directory]")
            for target in targets:
                reached = [
                    self._endpoints[name]
                    for name in target.endpoints
                    if name in self._endpoints and self._endpoints[name].accepts(artefact.kind)
                ]
                if not reached:
                    unroutable.append(
                        f"{target.ods_code} ({recipient.reason}) has no endpoint taking "
                        f"{artefact.kind}"
                    )
                routes.extend(
                    Route(endpoint, target.ods_code, target.name, recipient.reason)
                    for endpoint in reached
                )
        unique = list({(r.endpoint.name, r.ods_code): r for r in routes}.values())
        return Routing(tuple(unique), tuple(unroutable))
