"""The R4 narrative rules on ``Narrative.div`` (https://hl7.org/fhir/R4/narrative.html).

txt-1: the div holds only the basic HTML formatting elements and attributes of HTML 4.0
chapters 7-11 (less 9.4) and 15, ``<a>`` (name or href), images and style attributes: so no
script, no event handlers (``on*``), no forms, objects, frames or links to stylesheets, and
nothing fetched from outside (an ``img`` is a local ``#ref`` or a ``data:`` URL), and no
``javascript:`` URL anywhere. txt-2: the div has some non-whitespace content.

The div is parsed with the same hardened settings as FHIR XML (no DTD, no entities, no
network). Each problem is located at the element inside the div
(``Patient.text.div/p[2]/script``) with its line within the div.
"""

from __future__ import annotations

from lxml import etree

from interop.issues import DTD_DECLARATION, Issue, IssueCode, Severity, error

XHTML_NS = "http://www.w3.org/1999/xhtml"
_XML_NS = "http://www.w3.org/XML/1998/namespace"

#: the elements and attributes txt-1 allows: the lists of its published R4 XPath
#: (StructureDefinition-Narrative, hl7.fhir.r4.examples 4.0.1, CC0), plus ``xml:lang``
ALLOWED_ELEMENTS = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "b",
        "big",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "col",
        "colgroup",
        "dd",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "tt",
        "ul",
        "var",
    ]
)
ALLOWED_ATTRIBUTES = frozenset(
    [
        "abbr",
        "accesskey",
        "align",
        "alt",
        "axis",
        "bgcolor",
        "border",
        "cellhalign",
        "cellpadding",
        "cellspacing",
        "cellvalign",
        "char",
        "charoff",
        "charset",
        "cite",
        "class",
        "colspan",
        "compact",
        "coords",
        "dir",
        "frame",
        "headers",
        "height",
        "href",
        "hreflang",
        "hspace",
        "id",
        "lang",
        "longdesc",
        "name",
        "nowrap",
        "rel",
        "rev",
        "rowspan",
        "rules",
        "scope",
        "shape",
        "span",
        "src",
        "start",
        "style",
        "summary",
        "tabindex",
        "title",
        "type",
        "valign",
        "value",
        "vspace",
        "width",
    ]
)
#: the whole input is bounded too; this bounds one div (the largest R4 ones are ~2 MB)
_MAX_DIV_BYTES = 16 * 1024 * 1024


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _external(url: str) -> bool:
    """Whether a URL points at another site (the spec's own narratives use relative ones)."""
    return "://" in url.split("#", 1)[0] or url.startswith("//")


def _external_in_style(style: str) -> bool:
    return any(_external(part.strip("'\"")) for part in style.split("url(")[1:])


def _where(root: etree._Element, element: etree._Element, path: str) -> str:
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None and node is not root:
        parent = node.getparent()
        name = etree.QName(node).localname
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == node.tag]
            name += f"[{same.index(node) + 1}]" if len(same) > 1 else ""
        steps.append(name)
        node = parent
    return path + "".join(f"/{s}" for s in reversed(steps))


def check_div(div: str, path: str) -> list[Issue]:
    """Every txt-1/txt-2 problem of a narrative's XHTML, located inside the div."""
    if len(div) > _MAX_DIV_BYTES:
        return [error(IssueCode.TOO_COSTLY, path, "the narrative is larger than 16 MB")]
    if DTD_DECLARATION.search(div.encode("utf-8", "replace")):
        return [error(IssueCode.INVALID, path, "a document type declaration is not allowed")]
    try:
        root = etree.fromstring(div.encode("utf-8", "surrogatepass"), _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        return [error(IssueCode.INVALID, path, f"the narrative is not well-formed XHTML: {exc}")]
    name = etree.QName(root)
    if name.namespace != XHTML_NS or name.localname != "div":
        return [
            error(
                IssueCode.STRUCTURE,
                path,
                f"the narrative is a div in the XHTML namespace {XHTML_NS} (txt-1)",
                rule_id="txt-1",
            )
        ]
    issues: list[Issue] = []
    text_found = False
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if (element.text or "").strip() or ((element.tail or "").strip() and element is not root):
            text_found = True
        qname = etree.QName(element)
        line = element.sourceline if isinstance(element.sourceline, int) else None
        if element is not root and (
            qname.namespace != XHTML_NS or qname.localname not in ALLOWED_ELEMENTS
        ):
            issues.append(
                error(
                    IssueCode.VALUE,
                    _where(root, element, path),
                    f"the element <{qname.localname}> is not allowed in a narrative (txt-1)",
                    rule_id="txt-1",
                    line=line,
                )
            )
            continue
        if qname.localname == "img":
            text_found = True
        for raw_name, value in element.attrib.items():
            attribute = etree.QName(raw_name)
            allowed = (attribute.namespace == _XML_NS and attribute.localname == "lang") or (
                attribute.namespace is None and attribute.localname in ALLOWED_ATTRIBUTES
            )
            lowered = "".join(str(value).split()).lower()
            if not allowed:
                problem = f"the attribute '{attribute.localname}' is not allowed (txt-1)"
            elif lowered.startswith(("javascript:", "vbscript:")) or "expression(" in lowered:
                problem = f"the attribute '{attribute.localname}' holds script (txt-1)"
            elif (
                qname.localname == "img" and attribute.localname == "src" and _external(lowered)
            ) or (attribute.localname == "style" and _external_in_style(lowered)):
                # txt-1 allows it (HL7's own Media example fetches an image), but a reader's
                # viewer would contact another site when the narrative is shown: a warning
                issues.append(
                    Issue(
                        Severity.WARNING,
                        IssueCode.VALUE,
                        _where(root, element, path),
                        "the narrative fetches from another site when shown; embed (data:) or "
                        "contain (#id) it",
                        rule_id="txt-1",
                        line=line,
                    )
                )
                continue
            else:
                continue
            issues.append(
                error(
                    IssueCode.VALUE,
                    _where(root, element, path),
                    problem,
                    rule_id="txt-1",
                    line=line,
                )
            )
    if not text_found and not any(i.is_error for i in issues):
        issues.append(
            error(
                IssueCode.VALUE,
                path,
                "the narrative has no text (txt-2: some non-whitespace content)",
                rule_id="txt-2",
            )
        )
    return issues
