"""``interop pull``: read artefacts back from a FHIR endpoint, and collect CP-IS's replies.

``interop pull --endpoint NAME (--patient NHS | --since DATE|last) [--out DIR]`` reads a
patient's artefacts, or every artefact changed since a date (``last``: since the watermark the
previous ``--since`` pull of that endpoint stored in ``--state``). ``interop pull cpis`` collects
CP-IS's replies from the LA's MESH mailbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import (
    DEFAULT_STATE,
    fail,
    load_config_or_exit,
    resolve_state,
    state_options,
)
from interop.cli.main import InteropGroup

if TYPE_CHECKING:
    from interop.jobs.state import StateOptions


@click.group(cls=InteropGroup, invoke_without_command=True)
@click.option("--endpoint", help="A configured FHIR endpoint's name, or a base URL (no auth).")
@click.option("--patient", "nhs_number", help="The child's NHS number: pull their artefacts.")
@click.option(
    "--since",
    help="An ISO date or instant, or 'last': pull what changed after it.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write each artefact here as artefact JSON (KIND/LOCAL-ID.json).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="interop.toml, where named endpoints are (default: ./interop.toml).",
)
@state_options(
    "Where the --since watermark is kept: a SQLite file or a postgresql:// URL"
    f" [default: interop.toml's state, else {DEFAULT_STATE}]."
)
@click.pass_context
def pull(
    ctx: click.Context,
    endpoint: str | None,
    nhs_number: str | None,
    since: str | None,
    out: Path | None,
    config_path: Path | None,
    state: str | None,
    new_state: bool,
    wait: float,
) -> None:
    """Read artefacts back from a FHIR endpoint (--endpoint), or collect what national
    services sent back (subcommand cpis).

    With --patient, every artefact of the child; with --since, every artefact with a resource
    changed after the date, and the endpoint's watermark is moved to the latest change seen
    (--since last starts from it). Resources are grouped back into artefacts and mapped; a group
    that does not map is reported with its issues.

    A --since pull holds the state's lease for that endpoint: another one exits 75 at once
    (or waits, --wait); a missing or empty state is refused unless --new-state.

    Exit 0 done, 1 some results are not artefacts (or the NHS number is invalid), 2 usage,
    configuration, state or I/O error, 3 remote endpoint failure, 75 the state is in use by
    another pull (try again later), 130/143 interrupted.
    """
    if ctx.invoked_subcommand is not None:
        if endpoint or nhs_number or since or out or config_path or state or new_state or wait:
            fail(f"options of pull --endpoint do not apply to pull {ctx.invoked_subcommand}", 2)
        return
    if endpoint is None:
        fail("give --endpoint NAME (or a base URL) with --patient or --since, or: pull cpis", 2)
    if (nhs_number is None) == (since is None):
        fail("give exactly one of --patient NHS or --since DATE", 2)
    from interop.jobs.state import StateOptions

    holding = StateOptions(new=new_state, wait=wait)
    _pull_fhir(str(endpoint), nhs_number, since, out, config_path, (state, holding))


def _pull_fhir(
    endpoint: str,
    nhs_number: str | None,
    since: str | None,
    out: Path | None,
    config_path: Path | None,
    state: tuple[str | None, StateOptions],
) -> None:
    from interop.cli.push_cmd import remote_failure, resolve_endpoint
    from interop.identifiers import InvalidNhsNumber, check_nhs_number
    from interop.jobs import pull_artefacts
    from interop.transport.fhir_client import FhirClientError

    if nhs_number is not None:
        try:
            nhs_number = check_nhs_number(nhs_number)
        except InvalidNhsNumber as exc:
            fail(f"--patient: {exc}", 1)
    resolved = resolve_endpoint(endpoint, config_path)
    location = resolve_state(state[0], resolved.config)
    try:
        result = pull_artefacts(
            resolved.settings,
            nhs_number=nhs_number,
            since=since,
            state=location,
            out=out,
            state_options=state[1],
        )
    except FhirClientError as exc:
        raise remote_failure(exc) from None
    problems = result.problems
    click.echo(
        f"{result.endpoint}: {result.what}: {result.resources} resource(s), "
        f"{len(result.artefacts)} artefact(s)"
        + (f", {len(problems)} group(s) not mapped" if problems else "")
    )
    for artefact in result.artefacts:
        click.echo(f"  {artefact.kind} {artefact.local_id}: {artefact.summary()}")
    for problem in problems:
        click.echo(f"  not an artefact: {problem}", err=True)
    if out is not None:
        click.echo(f"wrote {len(result.written)} artefact(s) to {out}")
    if result.watermark_moved:
        click.echo(f"watermark of {result.endpoint}: {result.watermark}")
    elif since is not None and problems:
        click.echo(
            f"watermark of {result.endpoint} left at {result.watermark}: "
            "the next pull reads the unmapped groups again",
            err=True,
        )
    raise SystemExit(result.exit_code)


@pull.command("cpis")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@state_options(
    "The ledger the replies are recorded in: a SQLite file or a postgresql:// URL"
    f" [default: interop.toml's state, else {DEFAULT_STATE}]."
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write JSON lines and a summary here.",
)
def pull_cpis(
    config_path: Path, state: str | None, new_state: bool, wait: float, out: Path | None
) -> None:
    """Download, record and acknowledge CP-IS acknowledgements, access notifications and
    inactive-NHS-number notifications.

    Each reply is recorded in the state file before it is acknowledged on MESH, so an
    interrupted pull is re-run safely. With --out, the replies are written as JSON lines
    (acknowledgements.jsonl, access-notifications.jsonl, inactive-nhs-numbers.jsonl) and a
    readable summary.txt (private: 0600 in a 0700 folder). One pull at a time holds the state:
    another one exits 75 at once (or waits, --wait); a missing or empty state is refused
    unless --new-state.

    Exit 0 done, 1 some replies could not be read (left in the mailbox), 2 configuration,
    state or I/O error, 3 endpoint failure, 75 the state is in use by another pull (try
    again later), 130/143 interrupted.
    """
    from interop.jobs import pull_cpis_replies
    from interop.jobs.state import StateOptions

    config = load_config_or_exit(config_path)
    result = pull_cpis_replies(
        config,
        state=resolve_state(state, config),
        out=out,
        state_options=StateOptions(new=new_state, wait=wait),
    )
    for line in result.summary_lines():
        click.echo(line)
    for message_id, why in result.report.unreadable:
        click.echo(f"message {message_id} left in the mailbox: {why}", err=True)
    raise SystemExit(result.exit_code)


__all__ = ["pull"]
