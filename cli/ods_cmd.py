"""``interop ods ...``: ODS codes asked of the Organisation Data Terminology API."""

from __future__ import annotations

from pathlib import Path

import click

from interop.cli.common import fail
from interop.cli.main import InteropGroup

_CONFIG_HELP = "interop.toml with [ods] and its endpoint (default: ./interop.toml)."


@click.group(cls=InteropGroup)
def ods() -> None:
    """ODS: look organisations up, check the directory and the organisations artefacts name."""


@ods.command("lookup")
@click.argument("codes", nargs=-1, required=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=_CONFIG_HELP)
def lookup(codes: tuple[str, ...], config_path: Path | None) -> None:
    """Look ODS codes up: name, role, open or closed (cached in [ods] cache for offline use).

    Exit 0 all found and open, 1 one unknown or closed, 2 usage or configuration, 3 ODS failure.
    """
    from interop.cli.push_cmd import load_endpoints_config
    from interop.jobs.ods_check import ods_lookup

    config = load_endpoints_config(config_path, need=("ods",), endpoints=None)
    bad = False
    with ods_lookup(config) as found:
        for code in codes:
            try:
                organisation = found.organisation(code)
            except ValueError as exc:
                fail(f"{code}: {exc}", 1)
            if organisation is None:
                click.echo(f"{code.upper()}: unknown to ODS")
                bad = True
                continue
            state = "open" if organisation.active and not organisation.closed else "closed"
            if organisation.closed:
                state += f" since {organisation.closed}"
            stale = " (from the cache: ODS unreachable)" if organisation.stale else ""
            click.echo(
                f"{organisation.ods_code}: {organisation.name}; {organisation.role}; {state}{stale}"
            )
            bad = bad or state != "open"
    if bad:
        raise click.exceptions.Exit(1)


@ods.command("check")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=_CONFIG_HELP)
@click.option(
    "--artefact",
    "artefacts",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Also check the organisations this artefact (toolkit JSON) names. Repeatable.",
)
def check(config_path: Path | None, artefacts: tuple[Path, ...]) -> None:
    """Check the endpoint directory's organisations and the LA's own ODS code against ODS
    (unknown or closed: error; a role that does not fit the directory: warning), and those
    the artefacts given name.

    Exit 0 no error, 1 an error found or an artefact unreadable, 2 usage or configuration,
    3 ODS failure.
    """
    from interop.artefact_json import read_artefact_file
    from interop.cli.push_cmd import load_endpoints_config
    from interop.jobs.ods_check import (
        artefact_ods_codes,
        check_directory,
        check_organisations,
        ods_lookup,
    )

    config = load_endpoints_config(config_path, need=("ods",), endpoints=None)
    with ods_lookup(config) as found:
        findings = check_directory(config, found)
        for path in artefacts:
            loaded = read_artefact_file(path)
            if loaded.artefact is None:
                fail(f"{path}: not a readable artefact (interop validate says why)", 1)
            findings += check_organisations(artefact_ods_codes(loaded.artefact), found)
    for finding in findings:
        click.echo(finding.describe())
    errors = sum(f.severity == "error" for f in findings)
    click.echo(f"ODS check: {errors} error(s), {len(findings) - errors} warning(s)")
    if errors:
        raise click.exceptions.Exit(1)
