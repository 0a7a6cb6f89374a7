"""A large FHIR XML Bundle read entry by entry, in memory bounded by the largest entry.

``iterparse`` builds the tree as it reads; each ``entry`` of the Bundle, once read whole, is
moved into a Bundle of its own (with a copy of the Bundle's ``type``, so per-entry rules that
depend on it hold), converted to FHIR JSON by the same reader as a whole document
(``interop.fhir.xml_reader``, R4 order and types) and handed out; the moved element is then
dropped, so the tree never holds more than one entry. The Bundle's other elements stay, and
are read at the end (``shell``).

The parser is the one of every FHIR XML input (no DTD, no entities, no network, libxml2's
depth and text-size limits: ``huge_tree`` off); a document that declares a DTD is refused
before parsing. The JSON depth limit applies to each entry as to a whole document.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from interop.fhir.xml_reader import FHIR_NS, elements_of, xml_to_json
from interop.issues import DTD_DECLARATION, Issue, IssueCode, error

JSON = dict[str, Any]
_ENTRY = f"{{{FHIR_NS}}}entry"
_TYPE = f"{{{FHIR_NS}}}type"
_BUNDLE = f"{{{FHIR_NS}}}Bundle"


class XmlStreamError(Exception):
    """The document cannot be read further; ``issue`` says why and where."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


@dataclass
class XmlBundleStream:
    """The entries of a FHIR XML Bundle, one at a time (``entries()``), then the rest of it.

    Each entry comes as a one-entry Bundle in FHIR JSON (None when its XML could not be read)
    with the reader's issues, located at ``Bundle.entry[0]``. After the entries, ``shell()``
    gives the Bundle without them, and ``issues`` what its own elements' XML got wrong
    (``type`` written after ``entry`` among them).
    """

    data: bytes
    max_depth: int = 100
    issues: list[Issue] = field(default_factory=list)
    _root: etree._Element | None = None

    def entries(self) -> Iterator[tuple[JSON | None, list[Issue]]]:
        """Each entry as a one-entry Bundle, and the issues of reading it."""
        if DTD_DECLARATION.search(self.data):
            raise XmlStreamError(
                error(IssueCode.INVALID, "", "a document type declaration (DTD) is not allowed")
            )
        ranks = {name: info.order for name, info in elements_of(("Bundle", "Bundle")).items()}
        entry_rank = ranks["entry"]
        depth = 0
        entry_seen = False
        events = etree.iterparse(
            io.BytesIO(self.data),
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            for event, element in events:
                if event == "start":
                    depth += 1
                    if depth == 1:
                        self._root = element
                        if element.tag != _BUNDLE:
                            raise XmlStreamError(
                                error(
                                    IssueCode.STRUCTURE,
                                    "",
                                    "a large FHIR input is a Bundle in the FHIR namespace "
                                    f"{FHIR_NS}: the root is '{etree.QName(element).localname}'",
                                )
                            )
                    continue
                depth -= 1
                if depth != 1:
                    continue
                if element.tag == _ENTRY:
                    entry_seen = True
                    yield self._alone(element)
                    continue
                name = etree.QName(element).localname if isinstance(element.tag, str) else ""
                if entry_seen and ranks.get(name, entry_rank) < entry_rank:
                    line = element.sourceline if isinstance(element.sourceline, int) else None
                    self.issues.append(
                        error(
                            IssueCode.STRUCTURE,
                            f"Bundle.{name}",
                            f"'{name}' is out of order: R4 XML writes it before 'entry'",
                            line=line,
                        )
                    )
        except etree.XMLSyntaxError as exc:
            line, column = exc.position
            raise XmlStreamError(
                error(
                    IssueCode.INVALID,
                    "",
                    f"not well-formed XML: {exc.msg}",
                    line=line,
                    column=column,
                )
            ) from None

    def full_urls(self) -> dict[str, str]:
        """Each entry's resource type by its fullUrl: a first, light pass (no conversion), so
        references between entries can be resolved while entries are validated one by one.
        Bad XML is left to ``entries()`` to report."""
        found: dict[str, str] = {}
        if DTD_DECLARATION.search(self.data):
            return found
        events = etree.iterparse(
            io.BytesIO(self.data),
            events=("end",),
            tag=_ENTRY,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
        )
        try:
            for _, entry in events:
                full_url = entry.find(f"{{{FHIR_NS}}}fullUrl")
                inner = entry.find(f"{{{FHIR_NS}}}resource")
                if full_url is not None and inner is not None and len(inner):
                    value = full_url.get("value")
                    if value is not None and isinstance(inner[0].tag, str):
                        found[value] = etree.QName(inner[0]).localname
                parent = entry.getparent()
                if parent is not None:
                    parent.remove(entry)  # the tree never holds more than one entry
        except etree.XMLSyntaxError:
            pass
        return found

    def _alone(self, entry: etree._Element) -> tuple[JSON | None, list[Issue]]:
        """The entry in a Bundle of its own (moved there: the big tree forgets it)."""
        alone = etree.Element(_BUNDLE, nsmap={None: FHIR_NS})
        assert self._root is not None
        kind = self._root.find(_TYPE)
        if kind is not None:
            alone.append(copy.deepcopy(kind))
        alone.append(entry)  # moves it: the Bundle's tree no longer holds it
        resource, issues = xml_to_json(alone, self.max_depth)
        return (None if issues else resource), issues

    def shell(self) -> JSON | None:
        """The Bundle without its entries, as FHIR JSON (None if its XML could not be read;
        ``issues`` then say why)."""
        if self._root is None:
            return None
        resource, issues = xml_to_json(self._root, self.max_depth)
        self.issues += issues
        return None if issues else resource
