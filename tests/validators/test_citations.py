"""Citations: every file-and-line citation in the code points at the guidance text it means,
and what users see names documents, never the corpus files.

The guidance corpus is at ../shared/guidance relative to the repository. Without it the
checks against the text are skipped with a message, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from interop.codes import ALL_CODE_SYSTEMS
from interop.domain.rules import RULES as CONSISTENCY
from interop.sources import CITATION, DOCUMENTS, PARAGRAPHS, SECTIONS, for_people
from interop.validators.business_rules import EDITIONS
from interop.validators.business_rules import RULES as BUSINESS

ROOT = Path(__file__).resolve().parents[2]
GUIDANCE = ROOT.parent / "shared" / "guidance"
CODE = ("interop", "validators", "mappings", "cli")
#: a corpus file or an internal note a user never has
UNSHIPPED = re.compile(
    r"0\d\d_[0-9a-f]{16}\.txt|\b0\d\d L\d|DOMAIN\.md|CPIS\.md|cpis-and-nhs|-notes\.md"
)


def _corpus() -> dict[str, list[str]]:
    if not GUIDANCE.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the guidance corpus is missing at {GUIDANCE} (CI=true)")
        pytest.skip(f"the guidance corpus is not at {GUIDANCE}: citations not checked")
    return {
        number: (GUIDANCE / doc.file).read_text(encoding="utf-8").split("\n")
        for number, doc in DOCUMENTS.items()
    }


def _normal(text: str) -> str:
    return re.sub(r"[*_]", "", text.replace("\u2019", "'")).lower()


def _passages(citation: str) -> list[tuple[str, int, int]]:
    """(document, first line, last line) of every passage cited in ``citation``."""
    found = []
    for match in CITATION.finditer(citation):
        for first, last in re.findall(r"L(\d+)(?:-(\d+))?", match.group(2)):
            found.append((match.group(1), int(first), int(last or first)))
    return found


def test_every_citation_in_the_code_points_at_text() -> None:
    corpus = _corpus()
    cited = 0
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            for number, first, last in _passages(path.read_text(encoding="utf-8")):
                lines = corpus[number]
                where = f"{path.relative_to(ROOT)}: {number} L{first}"
                assert first <= last <= len(lines), f"{where} is past the end of the file"
                assert lines[first - 1].strip(), f"{where} is a blank line"
                cited += 1
    assert cited > 80


@pytest.mark.parametrize(
    "rule", [*CONSISTENCY.values(), *BUSINESS.values()], ids=lambda r: str(r.id)
)
def test_a_rule_s_lines_hold_its_key_words(rule: object) -> None:
    corpus = _corpus()
    citations = [rule.lines]  # type: ignore[attr-defined]
    if hasattr(rule, "lines_for"):
        citations = [rule.lines_for(e) for e in EDITIONS]
    for citation in citations:
        passages = _passages(citation)
        if not passages:
            continue  # a national standard or the toolkit's convention, named as such
        text = _normal(" ".join(" ".join(corpus[n][a - 1 : b]) for n, a, b in passages))
        for word in rule.words:  # type: ignore[attr-defined]
            assert _normal(word) in text, f"{rule.id}: {word!r} not in {citation}"  # type: ignore[attr-defined]
    assert rule.words or not _passages(rule.lines)  # type: ignore[attr-defined]


def test_sections_and_paragraphs_start_where_they_say() -> None:
    corpus = _corpus()
    for number, sections in SECTIONS.items():
        for line, _, marker in sections:
            assert _normal(marker) in _normal(corpus[number][line - 1]), (number, line, marker)
    for (number, line), paragraph in PARAGRAPHS.items():
        assert corpus[number][line - 1].startswith(f"{paragraph}. "), (number, line)


def test_the_wrong_lines_of_issue_16_are_corrected() -> None:
    corpus = _corpus()
    assert "medical assessments" in corpus["002"][1722 - 1]
    assert "health visiting" in corpus["002"][1724 - 1]
    assert "replaces *Working together to safeguard children (2023)*" in corpus["002"][202 - 1]


def test_users_read_document_names() -> None:
    for rule in [*CONSISTENCY.values(), *BUSINESS.values()]:
        for edition in EDITIONS:
            source = rule.source_for(edition) if hasattr(rule, "source_for") else rule.source
            assert not UNSHIPPED.search(source), (rule.id, source)
    for system in ALL_CODE_SYSTEMS:
        assert not UNSHIPPED.search(system.source), system.slug
        for member in system:
            assert not UNSHIPPED.search(member.definition), (system.slug, member.value)
    assert for_people("(002 L1722)") == (
        "(Working Together to Safeguard Children 2026 (March 2026 edition, HM Government), "
        "chapter 3, 'Strategy discussion', tasks)"
    )
    assert BUSINESS["T07"].source_for("2026").endswith("chapter 3, 'The child protection plan'")


def test_sources_page_matches_the_documents() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "generate_rules_docs", ROOT / "scripts" / "generate_rules_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert current == module.render_sources(), (
        "run: .venv/bin/python scripts/generate_rules_docs.py"
    )
    for document in DOCUMENTS.values():
        assert f"## {document.title}" in current


def _assert_names_no_unshipped_file(text: str, where: str) -> None:
    found = UNSHIPPED.search(text)
    assert found is None, f"{where} names {found.group(0)!r}, which users do not have"


def test_what_users_see_names_no_file_they_do_not_have(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from interop.cli.main import cli
    from interop.domain import ARTEFACT_KINDS

    runner = CliRunner()
    result = runner.invoke(cli, ["conformance", "run", "--report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    _assert_names_no_unshipped_file(result.output, "interop conformance run")
    for report in ("report.html", "junit.xml"):
        page = (tmp_path / report).read_text(encoding="utf-8")
        _assert_names_no_unshipped_file(page, report)
        assert "rules.md" not in page  # no link to a page the report's reader lacks
    assert 'id="rule-c01"' in (tmp_path / "report.html").read_text(encoding="utf-8")
    valid = ROOT / "fixtures" / "artefacts"
    for output_format in ("text", "json"):
        args = ["validate", "--as-of", "2027-06-01", "--format", output_format, str(valid)]
        result = runner.invoke(cli, args)
        assert "rule" in result.output
        _assert_names_no_unshipped_file(result.output, f"interop validate --format {output_format}")
    for kind in ARTEFACT_KINDS:
        result = runner.invoke(cli, ["schema", kind])
        _assert_names_no_unshipped_file(result.output, f"interop schema {kind}")
    for resource in (ROOT / "profiles").glob("*.json"):
        _assert_names_no_unshipped_file(resource.read_text(encoding="utf-8"), resource.name)
