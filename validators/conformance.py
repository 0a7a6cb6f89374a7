"""Check the shipped fixtures against the manifest's expected outcomes."""

from __future__ import annotations

from dataclasses import dataclass

from interop.artefact_json import parse_artefact
from interop.domain import ArtefactBase
from interop.fixtures import ExpectedIssue, Fixture, load_manifest
from interop.issues import Issue, IssueCode, error


@dataclass(frozen=True)
class FixtureOutcome:
    """What validating one fixture gave, against what the manifest expects."""

    fixture: Fixture
    artefact: ArtefactBase | None
    issues: tuple[Issue, ...]

    @property
    def found(self) -> set[ExpectedIssue]:
        """The issues found, in the manifest's terms."""
        return {
            ExpectedIssue(i.location, rule=i.rule_id)
            if i.rule_id
            else ExpectedIssue(i.location, code=i.code.value)
            for i in self.issues
            if i.is_error
        }

    @property
    def as_expected(self) -> bool:
        """Valid fixtures give no error; invalid ones exactly the listed issues."""
        if self.fixture.expect == "valid":
            return self.artefact is not None and not self.found
        return bool(self.found) and self.found == set(self.fixture.issues)

    def difference(self) -> str:
        """What differs from the manifest, for a failure message."""
        expected = set(self.fixture.issues)
        missing = sorted(map(str, expected - self.found))
        unexpected = sorted(map(str, self.found - expected))
        return f"missing {missing}; unexpected {unexpected}"


def check_fixture(fixture: Fixture) -> FixtureOutcome:
    """Validate one fixture: artefact JSON directly, a FHIR twin by reading it back."""
    if fixture.format == "artefact-json":
        loaded = parse_artefact(fixture.read_bytes(), source=fixture.path)
        return FixtureOutcome(fixture, loaded.artefact, tuple(loaded.issues))
    return _check_twin(fixture)


def _check_twin(fixture: Fixture) -> FixtureOutcome:
    from interop.mappings.convert import ConversionError, read_artefact

    try:
        _, artefact = read_artefact(fixture.read_bytes())
    except ConversionError as exc:
        return FixtureOutcome(fixture, None, tuple(exc.issues))
    if fixture.twin_of is not None:
        original = parse_artefact(fixture_by_path(fixture.twin_of).read_bytes()).artefact
        if artefact != original:
            mismatch = error(
                IssueCode.VALUE, "", f"does not read back as its twin {fixture.twin_of}"
            )
            return FixtureOutcome(fixture, artefact, (mismatch,))
    return FixtureOutcome(fixture, artefact, ())


def fixture_by_path(path: str) -> Fixture:
    """The manifest entry of a fixture path."""
    return next(f for f in load_manifest() if f.path == path)


def check_fixtures() -> list[FixtureOutcome]:
    """Validate every fixture of the manifest."""
    return [check_fixture(f) for f in load_manifest()]
