"""HL7 v2 ADT from hospitals: attendances read from ER7, and the acknowledgements sent back.

- ``interop.hl7v2.er7``: ER7 text (decoding by MSH-18, segments, escapes, locations such as
  ``PID-3[1].1``, timestamps) and ``validate_er7``, the full validation ``interop validate``
  runs (the fast-path checks, then hl7apy's parse and structure validation);
- ``interop.hl7v2.adt``: ``read_adt``, the listener's fast path, reading A01, A03, A04 and A08
  (v2.3 to v2.5.1) into an ``AttendanceEvent`` (who: NHS number, MRN, birth date; when; where:
  the sender's ODS site code, care setting, planned or unplanned), and the handler interface
  (``AttendanceHandler``, ``HandlerResult``) the attendance rules implement;
- ``interop.hl7v2.ack``: AA / AE / AR acknowledgements with ERR segments located as HL7 asks
  (ERR-2 from v2.5, ERR-1 before).

The MLLP listener that puts them on the wire is ``interop.transport.mllp``.
"""

from __future__ import annotations

from interop.hl7v2.ack import Ack, AckCode, build_ack, read_ack
from interop.hl7v2.adt import (
    Admission,
    AdtReading,
    AttendanceEvent,
    AttendanceHandler,
    EncounterSetting,
    HandlerOutcome,
    HandlerResult,
    log_only_handler,
    read_adt,
)
from interop.hl7v2.er7 import Location
from interop.hl7v2.full_validation import validate_er7

__all__ = [
    "Ack",
    "AckCode",
    "Admission",
    "AdtReading",
    "AttendanceEvent",
    "AttendanceHandler",
    "EncounterSetting",
    "HandlerOutcome",
    "HandlerResult",
    "Location",
    "ack",
    "adt",
    "build_ack",
    "er7",
    "full_validation",
    "log_only_handler",
    "read_ack",
    "read_adt",
    "validate_er7",
]
