"""``interop schema KIND``: the JSON Schema of an artefact kind."""

from __future__ import annotations

import json

import click

from interop.cli.main import InteropCommand
from interop.domain import ARTEFACT_KINDS, ARTEFACT_MODELS


@click.command(cls=InteropCommand)
@click.argument("kind", type=click.Choice(ARTEFACT_KINDS))
def schema(kind: str) -> None:
    """Print the JSON Schema (draft 2020-12) of artefact KIND."""
    document = ARTEFACT_MODELS[kind].model_json_schema()
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **document}
    click.echo(json.dumps(document, indent=2))
