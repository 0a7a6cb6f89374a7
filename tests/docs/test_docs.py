"""The documentation's examples run, and its reference pages agree with the code.

Every fenced block of README.md and docs/*.md is one of:

- ```` ```text ````: an output transcript, not run;
- ```` ```LANG NAME ```` (a second word): a file the examples use; it is written to the
  example folder before anything runs (json is parsed, csv and the rest written as given);
- ```` ```python ````: executed in the example folder; a ``print(...)  # text`` line must
  print a line starting with ``text`` (``...`` ends a prefix);
- ```` ```toml ````: parsed and loaded by the configuration reader (``load_config``, or
  ``load_stand_in_config`` for a ``[stand_in]`` file), every ``{ env = ... }`` and
  ``{ file = ... }`` it names supplied with a stand-in value;
- ```` ```sh ````: each line that starts with ``interop`` is run through click's CliRunner in
  the example folder and must exit 0, or N when the line ends ``# exit N``; a server that runs
  until stopped (``interop serve``, ``interop listen mllp``, the stand-in without ``--once``)
  is checked for its options only, and the test runs its own in its place. Other lines must
  be ones the test knows how to stand in for (``make demo``, the MESH sandbox, ``export``);
- ```` ```ini ```` (systemd units) and ```` ```cron ````: parsed, and every ``interop``
  command in them checked for its options (``--help`` appended: an unknown option fails).

Each document runs in a folder of its own holding links to ``fixtures/`` and ``docs/``. Two
placeholders stand for servers the test starts: ``http://127.0.0.1:8080/fhir`` (the FHIR
sandbox, when the document starts ``interop serve``) and ``http://127.0.0.1:8700`` (NHS
England's MESH sandbox with mailboxes ``X26ABC1`` for the local authority and ``X26ABC2`` for
CP-IS, when the document starts it). Lines naming ``../shared/ukcore`` run in a test of their
own, skipped when that folder is absent.
"""

from __future__ import annotations

import configparser
import contextlib
import importlib.util
import io
import json
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner
from r4_package import NEEDS_UKCORE

from interop.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
UKCORE = ROOT.parent / "shared" / "ukcore"
FHIR_PLACEHOLDER = "http://127.0.0.1:8080/fhir"
MESH_PLACEHOLDER = "http://127.0.0.1:8700"
LA_MAILBOX, CPIS_MAILBOX = "X26ABC1", "X26ABC2"
LANGUAGES = {"text", "python", "toml", "sh", "json", "csv", "ini", "cron", "hl7"}
_FENCE = re.compile(r"^```(\S*)(?:[ \t]+(\S+))?[ \t]*$")
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
_SHELL_OPERATORS = {"&&", "||", ";", "|", "&", ">", ">>", "2>&1", "<"}


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it is, its language, the file it names, its text."""

    doc: Path
    line: int
    language: str
    name: str | None
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The fenced code blocks of a markdown file, in order."""
    found: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        body = "\n".join(lines[index + 1 : end]) + "\n"
        found.append(Block(doc, index + 1, opening[1], opening[2], body))
        index = end + 1
    return found


def shell_lines(block: Block) -> Iterator[tuple[int, str]]:
    """(line number, command) of a shell block; continuation lines joined, blank lines and
    whole-line comments left out."""
    pending, start = "", 0
    for offset, raw in enumerate(block.text.splitlines(), start=block.line + 1):
        if not pending:
            start = offset
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line and not line.startswith("#"):
            yield start, line


def interop_args(command: str) -> list[str] | None:
    """The arguments after ``interop`` in a shell command (cron, ExecStart, a sh line), up to
    the first shell operator; None when the command does not run interop."""
    words = shlex.split(command, comments=True)
    for index, word in enumerate(words):
        if word == "interop" or word.endswith("/interop"):
            args: list[str] = []
            for arg in words[index + 1 :]:
                if arg in _SHELL_OPERATORS:
                    break
                args.append(arg)
            return args
    return None


def runs_until_stopped(args: list[str]) -> bool:
    """Whether the command is a server (it answers until stopped)."""
    if args[:1] == ["serve"] or args[:2] == ["listen", "mllp"]:
        return True
    return args[:2] == ["cpis", "stand-in"] and not any(
        a == "--once" or a.startswith("--notify") for a in args
    )


def check_options(args: list[str], where: str) -> None:
    """The command exists and takes these options (click stops at an unknown one)."""
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="interop")
    assert result.exit_code == 0, f"{where}: interop {' '.join(args)}\n{result.output}"


# --- the configuration reader on a toml block ------------------------------------------------

_PEM_KEYS = ("client_cert", "client_key", "ca_bundle")
_PEM = "-----BEGIN CERTIFICATE-----\nMIIB (stand-in for a PEM file)\n-----END CERTIFICATE-----\n"
_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE (stand-in)\n-----END PRIVATE KEY-----\n"


def references(node: Any, key: str = "") -> Iterator[tuple[str, str, str]]:
    """(setting name, "env" | "file", name) of every secret or file reference in a document."""
    if isinstance(node, dict):
        if len(node) == 1 and set(node) <= {"env", "file"}:
            kind, name = next(iter(node.items()))
            yield key, kind, name
            return
        for child_key, child in node.items():
            yield from references(child, child_key)


def supply_references(document: dict[str, Any], folder: Path, env: dict[str, str]) -> None:
    """Stand-in values for the secrets and files a configuration names (values already in
    ``env`` are kept: the MESH sandbox's real credentials)."""
    for key, kind, name in references(document):
        content = _PRIVATE_KEY if key == "private_key" else _PEM if key in _PEM_KEYS else "s3cret"
        if kind == "file":
            target = folder / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content, encoding="utf-8")
                target.chmod(0o600)  # as the docs ask: a secret others can read is refused
        elif name not in env:
            if key in _PEM_KEYS:
                pem = folder / "stand-in-pems" / f"{name}.pem"
                pem.parent.mkdir(parents=True, exist_ok=True)
                pem.write_text(_PEM, encoding="utf-8")
                env[name] = str(pem)
            else:
                env[name] = content


def load_configuration(text: str, folder: Path, env: dict[str, str], where: str) -> None:
    """Load ``text`` as the configuration reader would; fail with every problem it finds."""
    from interop import config

    document = tomllib.loads(text)
    supply_references(document, folder, env)
    path = folder / "checked.toml"
    for name, value in env.items():
        os.environ[name] = value
    try:
        if "stand_in" in document:
            path.write_text(text, encoding="utf-8")
            config.load_stand_in_config(path)
            return
        attendance = None
        if "attendance" in document and "attendance" not in config._SECTIONS:
            # [attendance] is read by its own reader until interop.config takes it
            attendance = document.pop("attendance")
            text = re.sub(r"(?ms)^\[attendance\].*?(?=^\[|\Z)", "", text)
        path.write_text(text, encoding="utf-8")
        loaded = config.load_config(path, need=())
        if attendance is not None:
            from interop.attendance.settings import endpoint_problems, read_attendance_settings

            settings = read_attendance_settings(attendance, folder)
            problems = endpoint_problems(settings, loaded.endpoints, has_mesh="mesh" in document)
            assert not problems, f"{where}: {problems}"
    except config.ConfigError as exc:
        raise AssertionError(f"{where}: {exc}") from None


# --- running a document ----------------------------------------------------------------------


class DocumentRun:
    """One document's examples, run in order in a folder of their own."""

    def __init__(self, doc: Path, folder: Path, stack: contextlib.ExitStack) -> None:
        self.doc = doc
        self.folder = folder
        self.stack = stack
        self.blocks = blocks(doc)
        self.substitutions: dict[str, str] = {}
        self.env: dict[str, str] = {}

    def substitute(self, text: str) -> str:
        for placeholder, actual in self.substitutions.items():
            text = text.replace(placeholder, actual)
        return text

    def shell_commands(self) -> Iterator[tuple[str, str]]:
        for block in self.blocks:
            if block.language == "sh":
                for line, command in shell_lines(block):
                    yield f"{block.doc.relative_to(ROOT)}:{line}", command

    def start_servers(self) -> None:
        commands = [c for _, c in self.shell_commands()]
        if any(re.search(r"uvicorn mesh_sandbox\.api:app", c) for c in commands):
            from mesh_server import running_sandbox

            sandbox = self.stack.enter_context(running_sandbox(self.folder.parent / "mesh"))
            self.substitutions |= {
                MESH_PLACEHOLDER: sandbox.base_url,
                LA_MAILBOX: sandbox.la_mailbox,
                CPIS_MAILBOX: sandbox.cpis_mailbox,
            }
            self.env |= self.mesh_credentials(sandbox)
        if any((interop_args(c) or [])[:1] == ["serve"] for c in commands):
            from interop.sandbox.fhir_server.running import running_server

            base_url = self.stack.enter_context(running_server())
            self.substitutions[FHIR_PLACEHOLDER] = base_url

    def mesh_credentials(self, sandbox: Any) -> dict[str, str]:
        """The environment variables the document's configurations read MESH secrets from,
        set to the sandbox's credentials for the mailbox each configuration names."""
        passwords = {LA_MAILBOX: sandbox.la_password, CPIS_MAILBOX: sandbox.cpis_password}
        env: dict[str, str] = {}
        for block in self.blocks:
            if block.language != "toml":
                continue
            mesh = tomllib.loads(block.text).get("mesh", {})
            if mesh.get("endpoint") != MESH_PLACEHOLDER:
                continue
            if "env" in mesh.get("password", {}):
                env[mesh["password"]["env"]] = passwords[mesh["mailbox"]]
            if "env" in mesh.get("shared_key", {}):
                env[mesh["shared_key"]["env"]] = sandbox.shared_key
        return env

    def write_files(self) -> None:
        for block in self.blocks:
            if block.name is None or block.language == "text":
                continue
            if block.language == "json":
                json.loads(block.text)
            target = self.folder / block.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.substitute(block.text), encoding="utf-8")

    def run(self) -> None:
        for block in self.blocks:
            assert block.language in LANGUAGES, (
                f"{block.where}: a ```{block.language} block: the test does not know how to "
                "check it (use ```text for output that is not run)"
            )
            getattr(self, f"run_{block.language}")(block)

    def run_text(self, block: Block) -> None:
        """Transcripts are not run."""

    def run_json(self, block: Block) -> None:
        json.loads(block.text)

    def run_csv(self, block: Block) -> None:
        assert block.name, f"{block.where}: a csv block names its file"

    run_hl7 = run_csv

    def run_toml(self, block: Block) -> None:
        folder = self.folder if block.name else self.folder / f"toml-{block.line}"
        folder.mkdir(exist_ok=True)
        env = dict(self.env)
        load_configuration(self.substitute(block.text), folder, env, block.where)

    def run_python(self, block: Block) -> None:
        code = self.substitute(block.text)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, block.where, "exec"), {"__name__": "__doc_example__"})
        expected = [c.rstrip(" .") for c in re.findall(r"print\(.*\)\s+#\s*(.+)", code)]
        lines = printed.getvalue().splitlines()
        assert len(lines) == len(expected), (block.where, lines, expected)
        for line, comment in zip(lines, expected, strict=True):
            assert line.startswith(comment.removesuffix("...").rstrip()), (block.where, line)

    def run_ini(self, block: Block) -> None:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(block.text)
        commands = [
            value
            for section in parser.sections()
            for key, value in parser[section].items()
            if key.startswith("ExecStart")
        ]
        for command in commands:
            args = interop_args(command)
            if args is not None:
                check_options(args, block.where)

    def run_cron(self, block: Block) -> None:
        for line, entry in shell_lines(block):
            if re.match(r"^[A-Z_]+=", entry):
                continue  # a variable of the crontab (MAILTO, PATH)
            fields = entry.split(None, 5)
            assert len(fields) == 6, f"{block.doc.name}:{line}: five time fields and a command"
            args = interop_args(fields[5])
            assert args is not None, f"{block.doc.name}:{line}: runs no interop command"
            check_options(args, f"{block.doc.name}:{line}")

    def run_sh(self, block: Block) -> None:
        for line, command in shell_lines(block):
            where = f"{block.doc.relative_to(ROOT)}:{line}"
            if "../shared/ukcore" in command:
                continue  # run by test_examples_that_read_uk_core_run
            args = interop_args(command)
            if args is None or not command.lstrip().startswith("interop"):
                self.stand_in_for(command, where)
            elif runs_until_stopped(args):
                check_options(args, where)
            else:
                run_interop(self.substitute(command), where)

    def stand_in_for(self, command: str, where: str) -> None:
        """A shell line that is not an interop command: do its equivalent, or fail."""
        if re.fullmatch(r"make (demo|test)\s*(#.*)?", command):
            target = command.split()[1]
            makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
            assert re.search(rf"^{target}:", makefile, re.M), f"{where}: no make {target}"
        elif re.fullmatch(r"(\.|source) \.venv/bin/activate", command):
            pass
        elif "uvicorn mesh_sandbox.api:app" in command:
            assert "--port 8700" in command, f"{where}: the sandbox's documented port is 8700"
        elif command.startswith("export "):
            for assignment in shlex.split(command)[1:]:
                name, _, value = assignment.partition("=")
                os.environ[name] = self.env.get(name, value)
        else:
            raise AssertionError(f"{where}: the test does not know how to run {command!r}")


def run_interop(command: str, where: str) -> None:
    """Run one ``interop ...`` line in the current folder; it must exit as its comment says."""
    match = _EXIT.search(command)
    expected = int(match[1]) if match else 0
    args = interop_args(command)
    assert args is not None
    result = CliRunner().invoke(cli, args, prog_name="interop")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{where}: {command}\n{result.output}") from result.exception
    assert result.exit_code == expected, (
        f"{where}: {command}\nexit {result.exit_code}, expected {expected}\n{result.output}"
    )


def _prepare(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name in ("fixtures", "docs"):
        (folder / name).symlink_to(ROOT / name, target_is_directory=True)


@pytest.mark.integration
@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_examples_run(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "example"
    _prepare(folder)
    monkeypatch.chdir(folder)
    saved = dict(os.environ)
    try:
        with contextlib.ExitStack() as stack:
            run = DocumentRun(doc, folder, stack)
            run.start_servers()
            for name, value in run.env.items():
                os.environ[name] = value
            run.write_files()
            run.run()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _ukcore_commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in blocks(doc):
            if block.language == "sh":
                for line, command in shell_lines(block):
                    if "../shared/ukcore" in command:
                        found.append((f"{doc.relative_to(ROOT)}:{line}", command))
    return found


@NEEDS_UKCORE
def test_examples_that_read_uk_core_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = _ukcore_commands()
    assert commands, "the documentation shows validation against UK Core"
    folder = tmp_path / "work" / "example"
    _prepare(folder)
    (tmp_path / "work" / "shared").mkdir()
    (tmp_path / "work" / "shared" / "ukcore").symlink_to(UKCORE, target_is_directory=True)
    monkeypatch.chdir(folder)
    for where, command in commands:
        run_interop(command, where)


def test_every_block_is_of_a_known_kind() -> None:
    for doc in DOCS:
        for block in blocks(doc):
            assert block.language in LANGUAGES, f"{block.where}: ```{block.language}"


# --- generated pages -------------------------------------------------------------------------


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mapping_page() -> str:
    return str(_script("generate_mapping_docs").render())


def test_mapping_page_matches_the_mappings(mapping_page: str) -> None:
    current = (ROOT / "docs" / "mappings.md").read_text(encoding="utf-8")
    assert current == mapping_page, "run: .venv/bin/python scripts/generate_mapping_docs.py"


def test_every_artefact_field_has_a_place_in_the_mapping_tables(mapping_page: str) -> None:
    from interop.domain import ARTEFACT_MODELS

    generator = sys.modules["generate_mapping_docs"]
    sections = re.split(r"^## ", mapping_page, flags=re.M)
    for kind, model in ARTEFACT_MODELS.items():
        section = next(s for s in sections if s.startswith(f"`{kind}`"))
        paths = [leaf.path for leaf in generator.leaves(model)]
        assert len(paths) > 10
        for path in paths:
            # a FHIR cell that names an element, not "(not shown by any change ...)"
            assert f"| `{path}` | `" in section, f"{kind}: {path} has no FHIR element"


# --- the configuration reference -------------------------------------------------------------


def _accepted(toml: str, where: str, folder: Path) -> set[str]:
    """The keys the reader accepts at ``where``, as its "unknown key" problem lists them."""
    from interop import config

    path = folder / f"keys-{abs(hash(toml))}.toml"
    path.write_text(toml, encoding="utf-8")
    try:
        if "[stand_in]" in toml:
            config.load_stand_in_config(path)
        else:
            config.load_config(path, need=())
    except config.ConfigError as exc:
        for problem in exc.problems:
            if problem.path == where and "allowed:" in problem.message:
                listed = problem.message.split("allowed:", 1)[1]
                return {key.strip() for key in listed.split(",")}
    raise AssertionError(f"the reader did not list the keys allowed at {where}")


def _documented() -> dict[str, set[str]]:
    """Section heading marker (`[mesh]`, `[endpoints.NAME.auth]` + type) → keys in its table."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    current = None
    for line in text.splitlines():
        heading = re.match(r"^#{2,3} .*?`(\[[^\]]+\])`(?:.*?`type = \"([\w-]+)\"`)?", line)
        if heading:
            current = heading[1] + (f" {heading[2]}" if heading[2] else "")
            found.setdefault(current, set())
            continue
        if line.startswith("#"):
            current = None
        row = re.match(r"^\| `([\w.]+)` \|", line)
        if row and current:
            found[current].add(row[1])
    return found


def test_every_configuration_key_is_documented(tmp_path: Path) -> None:
    from functools import partial

    from interop.attendance.settings import ATTENDANCE_KEYS

    documented = _documented()
    _keys = partial(_accepted, folder=tmp_path)
    accepted = {
        "[mesh]": _keys("[mesh]\nzz = 1\n", "mesh.zz"),
        "[cpis]": _keys("[cpis]\nzz = 1\n", "cpis.zz"),
        "[local_authority]": _keys("[local_authority]\nzz = 1\n", "local_authority.zz"),
        "[environment]": _keys("[environment]\nzz = 1\n", "environment.zz"),
        "[endpoints.NAME]": _keys('[endpoints.a]\nkind = "fhir"\nzz = 1\n', "endpoints.a.zz"),
        "[endpoints.NAME.auth] bearer": _keys(
            '[endpoints.a]\nkind = "fhir"\nurl = "http://h/f"\n'
            '[endpoints.a.auth]\ntype = "bearer"\nzz = 1\n',
            "endpoints.a.auth.zz",
        ),
        "[endpoints.NAME.auth] signed-jwt": _keys(
            '[endpoints.a]\nkind = "fhir"\nurl = "http://h/f"\n'
            '[endpoints.a.auth]\ntype = "signed-jwt"\nzz = 1\n',
            "endpoints.a.auth.zz",
        ),
        "[endpoints.NAME.auth] cis2": _keys(
            '[endpoints.a]\nkind = "fhir"\nurl = "http://h/f"\n'
            '[endpoints.a.auth]\ntype = "cis2"\nzz = 1\n',
            "endpoints.a.auth.zz",
        ),
        "[directory.ODS]": _keys('[directory.X99]\nname = "n"\nzz = 1\n', "directory.X99.zz"),
        "[audit]": _keys("[audit]\nzz = 1\n", "audit.zz"),
        "[stand_in]": _keys("[mesh]\n[cpis]\n[stand_in]\nzz = 1\n", "stand_in.zz"),
        "[attendance]": set(ATTENDANCE_KEYS),
        "[pds]": _keys("[pds]\nzz = 1\n", "pds.zz"),
        "[ods]": _keys("[ods]\nzz = 1\n", "ods.zz"),
        "[patient_flags]": _keys("[patient_flags]\nzz = 1\n", "patient_flags.zz"),
    }
    # `state` is a top-level key, not a section: its own table says what it holds
    sections = _keys("[zz]\n", "zz") - {"state"}
    assert "| `state` | string |" in (ROOT / "docs" / "configuration.md").read_text("utf-8")
    assert {s.strip("[]").split(".")[0] for s in accepted} >= sections
    for section, keys in accepted.items():
        assert section in documented, f"docs/configuration.md has no {section} table"
        assert documented[section] == keys, (section, keys ^ documented[section])


def _table(marker: str) -> list[dict[str, str]]:
    """The rows of the first table after the heading holding ``marker``, by column name."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = text.split(marker, 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    start = section.index(lines[0])
    table = section[start:].split("\n\n", 1)[0].splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    return [
        dict(zip(header, (cell.strip() for cell in row.strip("|").split("|")), strict=True))
        for row in table[2:]
    ]


def test_documented_defaults_are_the_code_defaults() -> None:
    from dataclasses import fields

    from interop import config
    from interop.attendance.settings import AttendanceSettings

    tables = {
        "## `[mesh]`": config.MeshSettings,
        "## `[cpis]`": config.CpisSettings,
        "## `[endpoints.NAME]`": config.EndpointSettings,
        '`type = "signed-jwt"`': config.SignedJwtSettings,
        "## `[attendance]`": AttendanceSettings,
    }
    checked = 0
    for marker, settings in tables.items():
        rows = {row["Key"].strip("`"): row for row in _table(marker)}
        for item in fields(settings):
            if item.name not in rows or not isinstance(item.default, bool | int | float):
                continue
            value = str(item.default).lower() if isinstance(item.default, bool) else item.default
            assert rows[item.name]["Default"] == f"`{value}`", (marker, item.name, value)
            checked += 1
    assert checked >= 12


def test_endpoint_keys_are_documented_for_their_kinds() -> None:
    from interop import config

    for row in _table("## `[endpoints.NAME]`"):
        key = row["Key"].strip("`")
        kinds = {k for k, keys in config._KIND_KEYS.items() if key in keys}
        documented = (
            set(config.ENDPOINT_KINDS) if row["For"] == "all" else set(row["For"].split(", "))
        )
        assert documented == (kinds or set(config.ENDPOINT_KINDS)), (key, documented, kinds)


# --- operations and security pages against the code ------------------------------------------


def test_every_logger_is_described_in_the_operations_guide() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    names = set()
    for folder in ("interop", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(re.findall(r'getLogger\("([\w.]+)"\)', path.read_text(encoding="utf-8")))
    assert names
    for name in names:
        assert f"`{name}`" in text, f"logger {name} is not in docs/operations.md"


def test_security_limits_are_the_code_limits() -> None:
    from interop.cpis.hl7 import DEFAULT_LIMITS as CPIS_LIMITS
    from interop.fhir.wire import FhirLimits
    from interop.hl7v2.er7 import MAX_MESSAGE_BYTES
    from interop.la_export import MAX_EXPORT_BYTES, MAX_FIELD_CHARS
    from interop.safe_json import DEFAULT_LIMITS as JSON_LIMITS
    from interop.sandbox.fhir_server.app import MAX_BODY_BYTES
    from interop.sandbox.fhir_server.search import MAX_COUNT
    from interop.transport.mllp import (
        DEFAULT_IDLE_TIMEOUT,
        DEFAULT_MAX_CONNECTIONS,
        DEFAULT_MAX_FRAME,
    )
    from interop.validators.files import MAX_FILE_BYTES

    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    fhir = FhirLimits()
    sizes = [
        JSON_LIMITS.max_bytes,
        fhir.max_bytes,
        CPIS_LIMITS.max_bytes,
        MAX_MESSAGE_BYTES,
        DEFAULT_MAX_FRAME,
        MAX_BODY_BYTES,
        MAX_FILE_BYTES,
        MAX_EXPORT_BYTES,
    ]
    for size in sizes:
        assert f"{size:,} bytes" in text, f"docs/security.md does not state {size:,} bytes"
    for count in (JSON_LIMITS.max_depth, fhir.max_depth, CPIS_LIMITS.max_issues, MAX_COUNT):
        assert re.search(rf"\b{count:,}\b", text), count
    assert f"{MAX_FIELD_CHARS:,} characters" in text
    assert f"{DEFAULT_MAX_CONNECTIONS}" in text
    assert f"{DEFAULT_IDLE_TIMEOUT:g} seconds" in text
