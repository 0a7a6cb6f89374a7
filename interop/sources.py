"""The guidance the toolkit's rules and codes come from, cited two ways.

Maintainers cite a passage by the corpus file and line (``002_7a8cd4b31029ee68.txt L1119``, or
``002 L1119`` in prose): exact, and checked against the text by
tests/validators/test_citations.py. Users never have those files, so everything they see (CLI
output, OperationOutcomes, reports, CodeSystems, JSON Schemas, docs) cites the document as a
reader knows it: title, edition, publisher, and the chapter, section or paragraph
(``for_people``). ``DOCUMENTS`` lists the documents (docs/sources.md is generated from it);
``SECTIONS`` and ``PARAGRAPHS`` place a line in its document: a line belongs to the last
section starting at or before it."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """A guidance document of the corpus, as a reader finds it."""

    number: str  # the corpus file's prefix: 000 ... 004
    file: str  # the corpus file (maintainers only)
    title: str
    edition: str
    publisher: str
    note: str = ""

    @property
    def name(self) -> str:
        """Title and edition, as a citation starts."""
        return f"{self.title} ({self.edition}, {self.publisher})"


DOCUMENTS: dict[str, Document] = {
    d.number: d
    for d in (
        Document(
            "000",
            "000_f1e2ca509ebfd4fe.txt",
            "Safeguarding children with complex medical needs who travel outside of the local "
            "authority or abroad",
            "multi-agency guidance",
            "Leeds Safeguarding Children Partnership",
            "Undated. Includes the partnership's briefing on alleged stem-cell 'treatment' for "
            "autism.",
        ),
        Document(
            "001",
            "001_0e453bf333ba50fc.txt",
            "Procedure for safeguarding children with long-term chronic health needs who "
            "require 'additional child safeguards'",
            "multi-agency procedure",
            "Leicester, Leicestershire & Rutland Safeguarding Children Partnerships",
            "Undated; its references go up to 2025. Appendix 2 is the Strategy Discussion "
            "Health Report, Appendix 3 the health needs checklist for child protection "
            "conferences and core groups.",
        ),
        Document(
            "002",
            "002_7a8cd4b31029ee68.txt",
            "Working Together to Safeguard Children 2026",
            "March 2026 edition",
            "HM Government",
            "Replaces the 2023 edition (paragraph 2).",
        ),
        Document(
            "003",
            "003_a5c554465bdd92c7.txt",
            "Supporting Children in Need who have moved out of the local authority area",
            "Good Practice Briefing",
            "Hammersmith & Fulham, Kensington and Chelsea and Westminster LSCB",
            "Written after the 2015 'Sofia' serious case review.",
        ),
        Document(
            "004",
            "004_ceaca56681b35788.txt",
            "Working Together to Safeguard Children 2013",
            "March 2013 edition",
            "HM Government",
            "Read in the Lincolnshire Children and Young People's Strategic Partnership meeting "
            "pack of 17 April 2013, which reproduces it in full.",
        ),
    )
}

#: Where a passage sits: (first line, the section as a reader finds it, text on that line).
#: The text is checked against the corpus, so a section never drifts from its heading.
SECTIONS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "000": (
        (2, "'What is this guidance?'", "What is this guidance?"),
        (15, "'Who is this guidance aimed at?'", "Who is this guidance aimed at?"),
        (22, "'Definitions'", "Definitions"),
        (24, "'Responsibilities'", "Responsibilities"),
        (28, "'Risk assessments'", "Risk assessments"),
        (35, "'Workflow process'", "workflow process"),
        (38, "'Workflow process', step b (the risk assessment)", "b) A risk assessment"),
        (48, "'Workflow process', after the risk assessment", "Throughout this process"),
        (60, "the briefing on alleged 'treatment' for autism", "alleged “treatment”"),
    ),
    "001": (
        (7, "'Introduction'", "Introduction"),
        (15, "'Which children does this procedure apply to?'", "Which children"),
        (48, "'Complicating factors'", "Complicating factors"),
        (56, "'Key aims of the procedure'", "Key Aims"),
        (96, "section 1 (triggers for additional child safeguards)", "1. Triggers"),
        (109, "section 2 (monitoring a complex medical condition)", "2. Monitoring"),
        (121, "section 3 (health information)", "3. Health information"),
        (137, "section 4 (parents' and carers' needs)", "4. Responding"),
        (160, "section 5 (information from schools)", "5. Information sharing"),
        (167, "section 6 (early referral for a child protection medical)", "6. Early referral"),
        (183, "section 7 (the health treatment plan)", "7. Production"),
        (211, "section 8 (joint working)", "8. Joint working"),
        (221, "section 9 (hospital admissions and safe discharge)", "9. Hospital"),
        (274, "section 10 (supervision)", "10. Supervision"),
        (284, "section 11 (trigger points to escalate concerns)", "11. Trigger points"),
        (315, "'Appendices'", "Appendices"),
        (329, "Appendix 1 (multi-agency pathway)", "Appendix 1"),
        (370, "Appendix 2 (Strategy Discussion Health Report)", "Strategy Discussions"),
        (409, "Appendix 3 (health needs checklist)", "CHAIRS OF CONFERENCE"),
    ),
    "002": (
        (236, "chapter 1", "Chapter 1: A shared responsibility"),
        (803, "chapter 3", "Chapter 3: Providing help, support and protection"),
        (1115, "chapter 3, 'Timeliness'", "Timeliness"),
        (1667, "chapter 3, 'Strategy discussion'", "Strategy discussion"),
        (1675, "chapter 3, 'Strategy discussion', attendees", "Attendees"),
        (1692, "chapter 3, 'Strategy discussion', tasks", "Tasks"),
        (1735, "chapter 3, 'Initiating section 47 enquiries'", "Initiating section 47"),
        (1781, "chapter 3, 'Outcome of section 47 enquiries'", "Outcome of section 47"),
        (1834, "chapter 3, 'Initial child protection conferences'", "Initial child protection"),
        (1880, "chapter 3, 'The child protection plan'", "The child protection plan"),
        (1923, "chapter 3, 'Child protection review conference'", "review conference"),
        (1951, "chapter 3, 'Discontinuing the child protection plan'", "Discontinuing"),
        (2005, "chapter 4", "Chapter 4: Organisational responsibilities"),
        (2537, "chapter 5", "Chapter 5: Learning from serious"),
        (2854, "chapter 6", "Chapter 6: Child death reviews"),
    ),
    "003": (
        (9, "'The Issue'", "The Issue"),
        (15, "'Practice implications'", "Practice implications"),
        (29, "'LSCB Good Practice'", "LSCB Good Practice"),
    ),
    "004": (
        (1597, "chapter 1", "Chapter 1: Assessing need and providing help"),
        (1802, "chapter 1, 'Timeliness'", "Timeliness"),
        (1816, "chapter 1, 'Local protocols for assessment'", "Local protocols"),
        (1845, "chapter 1, 'Response to a referral'", "Response to a referral"),
        (1872, "chapter 1, 'Immediate protection'", "Immediate Protection"),
        (1925, "chapter 1, 'Strategy discussion'", "Strategy discussion"),
        (1970, "chapter 1, 'Initiating section 47 enquiries'", "Initiating section 47"),
        (1988, "chapter 1, 'Outcome of section 47 enquiries'", "Outcome of section 47"),
        (2009, "chapter 1, 'Initial child protection conferences'", "Initial child protection"),
        (2021, "chapter 1, 'The child protection plan'", "The child protection plan"),
        (2035, "chapter 1, 'Child protection review conference'", "review conference"),
        (2047, "chapter 1, 'Discontinuing the child protection plan'", "Discontinuing"),
        (2062, "chapter 2", "Chapter 2: Organisational responsibilities"),
    ),
}

#: Numbered paragraphs cited by line: (document, line) -> paragraph number.
PARAGRAPHS: dict[tuple[str, int], int] = {
    ("002", 388): 33,
    ("002", 1119): 167,
    ("002", 1134): 169,
    ("004", 1805): 55,
    ("004", 1807): 57,
}

#: A toolkit rule with no guidance text behind it says so instead of citing internal notes.
CONVENTION = "safeguarding-interop convention (the toolkit's data model)"

_LINES = r"L\d+(?:-\d+)?(?:,\s*L\d+(?:-\d+)?)*"
#: ``002_7a8cd4b31029ee68.txt L1119, L1134`` or, in prose, ``002 L1119``
CITATION = re.compile(rf"\b(0\d\d)(?:_[0-9a-f]{{16}}\.txt)?\s+({_LINES})")


def cited_lines(lines: str) -> list[int]:
    """The first line of each passage of ``L1911, L1936-1940``."""
    return [int(first) for first in re.findall(r"L(\d+)", lines)]


def where(number: str, line: int) -> str:
    """The section (and paragraph) of document ``number`` that holds ``line``."""
    sections = SECTIONS.get(number, ())
    index = bisect_right([start for start, _, _ in sections], line) - 1
    place = sections[index][1] if index >= 0 else "the opening section"
    paragraph = PARAGRAPHS.get((number, line))
    return f"{place}, paragraph {paragraph}" if paragraph else place


def cite(number: str, lines: str) -> str:
    """A citation for people: ``Working Together ... (March 2026...), chapter 3, ...``."""
    document = DOCUMENTS[number]
    places = list(dict.fromkeys(where(number, line) for line in cited_lines(lines)))
    return f"{document.name}, {'; '.join(places)}"


def for_people(text: str) -> str:
    """``text`` with every file-and-line citation replaced by the document's own name."""
    return CITATION.sub(lambda m: cite(m.group(1), m.group(2)), text)
