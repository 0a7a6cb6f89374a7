"""``interop demo``: the main job on the shipped default data.

For now the job is to check every shipped conformance fixture against its expected outcome
and summarise what the artefacts hold (personal data masked). Later stages grow it into the
end-to-end journey: CP-IS sync over MESH, FHIR push and pull, ADT attendances.
"""

from __future__ import annotations

import time
from collections import Counter

import click

from interop import __version__
from interop.domain import ARTEFACT_KINDS


@click.command()
def demo() -> None:
    """Check and summarise the shipped conformance fixtures.

    Exit 0 when every fixture behaves as the manifest says, 1 otherwise.
    """
    from interop.validators.conformance import FixtureOutcome, check_fixtures

    started = time.perf_counter()
    click.echo(f"safeguarding-interop {__version__}: checking the shipped conformance fixtures")
    outcomes = check_fixtures()
    elapsed = time.perf_counter() - started

    def column(outcome: FixtureOutcome) -> str:
        return outcome.fixture.expect if outcome.fixture.format == "artefact-json" else "fhir"

    counts: Counter[tuple[str, str]] = Counter((o.fixture.kind, column(o)) for o in outcomes)
    good: Counter[str] = Counter(o.fixture.kind for o in outcomes if o.as_expected)
    click.echo("")
    click.echo(
        f"  {'artefact kind':<36}{'valid':>6}{'invalid':>9}{'FHIR, CP-IS':>12}{'as expected':>13}"
    )
    for kind in ARTEFACT_KINDS:
        row = [counts[(kind, c)] for c in ("valid", "invalid", "fhir")]
        click.echo(
            f"  {kind:<36}{row[0]:>6}{row[1]:>9}{row[2]:>12}{f'{good[kind]}/{sum(row)}':>13}"
        )

    width = max(len(o.fixture.path.rsplit("/", 1)[-1]) for o in outcomes) + 2
    click.echo("\nValid artefacts (personal data masked):")
    for o in outcomes:
        if o.fixture.format == "artefact-json" and o.fixture.expect == "valid" and o.artefact:
            name = o.fixture.path.rsplit("/", 1)[-1]
            click.echo(f"  {o.fixture.kind:<36}{name:<{width}}{o.artefact.summary()}")

    click.echo("\nInvalid artefacts, and the first problem each shows:")
    for o in outcomes:
        if o.fixture.expect == "invalid" and o.issues:
            name = o.fixture.path.rsplit("/", 1)[-1]
            click.echo(f"  {o.fixture.kind:<36}{name:<{width}}{o.issues[0].describe()}")

    wrong = [o for o in outcomes if not o.as_expected]
    for o in wrong:
        click.echo(f"\nNOT AS EXPECTED: {o.fixture.path}: {o.difference()}", err=True)
    click.echo(
        f"\n{len(outcomes) - len(wrong)} of {len(outcomes)} fixtures behave as the manifest "
        f"says ({elapsed:.2f} s)."
    )
    raise SystemExit(1 if wrong else 0)
