"""The real-time attendance service: flagged children seen in unscheduled care.

- ``service``: the rules (``AttendanceService``, ``Router``);
- ``sources``: where a child's flags and treatment plans are read from;
- ``store``: the outbox and de-duplication store;
- ``dispatch``: the dispatcher that sends what the outbox holds;
- ``messages``: the notifications and alerts it builds;
- ``settings``: the ``[attendance]`` configuration section;
- ``wiring``: the service built from a configuration.
"""

__all__ = [
    "dispatch",
    "service",
    "settings",
    "sources",
    "store",
    "wiring",
]
