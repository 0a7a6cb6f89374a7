"""CP-IS HL7 v3 XML (namespace ``urn:hl7-org:v3``): write, read and validate the four
local-authority messages.

- ``write_upload`` / ``read_upload``: REPC_MT000002GB01 LA upload, streamed both ways;
- ``write_acknowledgement`` / ``read_acknowledgement``: REPC_MT000003GB01;
- ``write_access_notification`` / ``read_access_notification``: REPC_MT000004GB01;
- ``write_inactive_notification`` / ``read_inactive_notification``: REPC_MT000005GB01;
- ``message_type``: which of the four a document is, from its root element;
- ``validate_cpis_xml``: XSD validation (profiles/cpis/, compiled once) that reports every
  problem, hostile input included, as an ``Issue`` and never raises.

The message structures and where each name comes from are documented in the XSDs themselves
(``profiles/cpis/*.xsd``). Readers raise ``CpisInputError`` whose ``issues`` are located by an
XPath-like path (``/LocalAuthorityUpload/component[3]/CPPInformation/id``) and, where libxml2
can tell, a line number; writers raise ``ValueError`` only for values the message cannot carry.
The implementation lives in ``hl7`` (names, TS values, safe parsing, XSDs), ``upload`` and
``messages``.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from functools import cache

from lxml import etree

from interop.cpis.hl7 import (
    DEFAULT_LIMITS,
    CpisInputError,
    CpisLimits,
    SafeParser,
    compile_message_schema,
    root_kind,
)
from interop.cpis.messages import (
    read_access_notification,
    read_acknowledgement,
    read_inactive_notification,
    write_access_notification,
    write_acknowledgement,
    write_inactive_notification,
)
from interop.cpis.upload import read_upload, validate_upload, write_upload
from interop.issues import Issue

__all__ = [
    "CpisInputError",
    "CpisLimits",
    "OwnUploadChecks",
    "check_own_upload",
    "message_type",
    "read_access_notification",
    "read_acknowledgement",
    "read_inactive_notification",
    "read_upload",
    "validate_cpis_xml",
    "write_access_notification",
    "write_acknowledgement",
    "write_inactive_notification",
    "write_upload",
]


_READERS: dict[str, Callable[..., object]] = {
    "acknowledgement": read_acknowledgement,
    "access-notification": read_access_notification,
    "inactive-nhs-number": read_inactive_notification,
}


def message_type(data: bytes, *, limits: CpisLimits = DEFAULT_LIMITS) -> str:
    """``upload``, ``acknowledgement``, ``access-notification`` or ``inactive-nhs-number``.

    Only the document's start is read. ``CpisInputError`` if it is no CP-IS message (or hostile).
    """
    events = SafeParser(data, limits).events()
    try:
        _, root = next(events)  # the root's start: iterparse raises on a document without one
    finally:
        events.close()
    return root_kind(root)


def validate_cpis_xml(data: bytes, *, limits: CpisLimits = DEFAULT_LIMITS) -> list[Issue]:
    """Every problem of a CP-IS message against its XSD; an empty list when it is valid.

    Hostile input (a DTD, entities, another encoding, truncation, more than
    ``limits.max_bytes`` bytes, deep nesting) gives an issue saying so. Uploads are validated
    as a stream, record by record, so a 150,000-record file needs little memory beyond its
    bytes. Beyond the XSD, dates must exist (no 30 February) and record ids be unique.
    """
    try:
        kind = message_type(data, limits=limits)
        if kind == "upload":
            return validate_upload(data, limits)
        _READERS[kind](data, limits=limits)  # the XSD, then values the XSD cannot check
    except CpisInputError as exc:
        return exc.issues
    return []


def check_own_upload(data: bytes) -> list[str]:
    """XSD errors of an upload file this toolkit just wrote (empty when valid).

    For trusted input only: the whole document is validated at once, which is faster than
    ``validate_cpis_xml``'s guarded, record-by-record reading of untrusted files. The sync job
    checks every file before sending it, so a fault in the writer never reaches CP-IS (with
    ``OwnUploadChecks``, two files at a time).
    """
    return _one_at_a_time()(data)


@cache
def _one_at_a_time() -> OwnUploadChecks:
    return OwnUploadChecks(1)


class OwnUploadChecks:
    """``check_own_upload`` for several threads at once: the sync job checks two files at a
    time, as checking a file takes longer than building the next.

    Each call borrows one of ``threads`` compiled schemas, because a compiled schema keeps its
    last validation's error log and two threads must not share one. The schemas are compiled
    here, in the thread that creates the checks, before any worker starts: compiling them in
    two worker threads at once once failed in CI (``XMLSchemaParseError``).
    """

    def __init__(self, threads: int = 2) -> None:
        if threads < 1:
            raise ValueError("at least one thread checks the files")
        self.threads = threads
        self._free: queue.SimpleQueue[etree.XMLSchema] = queue.SimpleQueue()
        for _ in range(threads):
            self._free.put(compile_message_schema("upload"))

    def __call__(self, data: bytes) -> list[str]:
        """XSD errors of an upload file this toolkit just wrote (empty when valid)."""
        document = etree.fromstring(data)
        schema = self._free.get()
        try:
            if schema.validate(document):
                return []
            return [f"line {e.line}: {e.message}" for e in schema.error_log]
        finally:
            self._free.put(schema)
