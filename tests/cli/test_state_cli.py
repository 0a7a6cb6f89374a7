"""Phase 2 of issue #13 in process: the state commands, config check, the lease around sends,
--format json, --rejects and the rejected-rows limit, the state key of interop.toml, and the
one handler's exit codes for a full disk and for signals."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from interop.cli.main import cli, errors_as_exit_codes, install_signal_handlers
from interop.domain import ResponsibleLocalAuthority
from interop.errors import EXIT_SIGINT, EXIT_SIGTERM
from interop.jobs import run_cpis_sync
from interop.jobs.state import StateOptions
from interop.state import LeaseHeld, LeaseLost, acquire_lease, open_state
from interop.state.migrations import known_components
from interop.sync.ledger import Ledger
from interop.synthetic import export_csv

LA = ResponsibleLocalAuthority(ods_code="LA380", name="Example City")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


class Mailbox:
    """A MESH stand-in: keeps what is sent; ``on_send`` runs before each send."""

    def __init__(self, on_send: object = None) -> None:
        self.sent: list[bytes] = []
        self.on_send = on_send

    def send(self, recipient: str, workflow_id: str, data: bytes, **_: object) -> str:
        if callable(self.on_send):
            self.on_send(len(self.sent))
        self.sent.append(data)
        return f"MSG-{len(self.sent)}"

    def find_by_local_id(self, local_id: str) -> object | None:
        return None


def sync(tmp_path: Path, mailbox: Mailbox, **options: object) -> object:
    return run_cpis_sync(
        tmp_path / "export.csv",
        state=tmp_path / "state.sqlite",
        local_authority=LA,
        recipient="X26ABC2",
        workflow_id="TEST_CPIS_UPLOAD",
        transport=mailbox,
        **options,  # type: ignore[arg-type]
    )


def test_a_run_holding_the_state_makes_the_next_one_busy_naming_it(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_bytes(export_csv(5, seed=1))
    mailbox = Mailbox()
    with (
        open_state(tmp_path / "state.sqlite", create=True) as state,
        acquire_lease(state, "cpis-sync", label="interop sync cpis"),
    ):
        with pytest.raises(LeaseHeld, match=f"interop sync cpis pid {os.getpid()}"):
            sync(tmp_path, mailbox)
        with pytest.raises(LeaseHeld):
            sync(tmp_path, mailbox, state_options=StateOptions(wait=0.3))
    assert mailbox.sent == []
    sync(tmp_path, mailbox)  # released: the next run goes
    assert len(mailbox.sent) == 1


def test_a_run_whose_lease_was_taken_over_stops_before_the_next_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interop.jobs import cpis_sync

    (tmp_path / "export.csv").write_bytes(export_csv(6, seed=2))
    with Ledger(tmp_path / "state.sqlite", create=True):
        pass

    def take_over(sent: int) -> None:
        if sent == 1:  # another run took the lease while this one was suspended
            with open_state(tmp_path / "state.sqlite") as other:
                other.execute("UPDATE state_lease SET token = 'someone-else'")

    mailbox = Mailbox(on_send=take_over)
    records_per_file = 2
    original = cpis_sync._job

    def small_files(ledger: Ledger, config: object, out: object) -> object:
        job = original(ledger, None, out)  # type: ignore[arg-type]
        job.max_records_per_file = records_per_file
        return job

    monkeypatch.setattr(cpis_sync, "_job", small_files)
    with pytest.raises(LeaseLost, match="another run took the state over"):
        sync(tmp_path, mailbox)
    assert len(mailbox.sent) == 2, "the send after the take-over did not happen"
    with Ledger(tmp_path / "state.sqlite", create=False) as ledger:
        waiting = ledger.uploads("planned", "sending")
    assert sum(upload.record_count for upload in waiting) == 6 - 2 * records_per_file


def test_a_missing_state_is_refused_unless_new(tmp_path: Path) -> None:
    from interop.state import StateMissing

    (tmp_path / "export.csv").write_bytes(export_csv(3, seed=3))
    with pytest.raises(StateMissing, match="interop state backup"):
        sync(tmp_path, Mailbox())
    assert not (tmp_path / "state.sqlite").exists()
    sync(tmp_path, Mailbox(), state_options=StateOptions(new=True))
    assert (tmp_path / "state.sqlite").stat().st_mode & 0o777 == 0o600


def test_dry_run_json_summary_rejects_file_and_the_printed_limit(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_bytes(export_csv(80, seed=4))  # no la_ods_code and no config: all rejected
    rejects = tmp_path / "rejects.csv"
    code, output = invoke(
        "sync", "cpis", "--source", str(export), "--dry-run", "--out", str(tmp_path / "out"),
        "--state", str(tmp_path / "never.sqlite"), "--rejects", str(rejects),
    )  # fmt: skip
    assert code == 1
    assert output.count("  rejected line") == 50
    assert f"… 30 more, see {rejects}" in output
    assert not (tmp_path / "never.sqlite").exists(), "a dry run needs and makes no state"
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 81  # header + every row
    assert rejects.stat().st_mode & 0o777 == 0o600

    code, output = invoke(
        "sync", "cpis", "--source", str(export), "--dry-run", "--out", str(tmp_path / "out"),
        "--format", "json",
    )  # fmt: skip
    summary = json.loads(output)
    assert code == summary["exit_code"] == 1
    assert summary["rejected_rows"] == 80
    assert summary["valid"] == 0
    assert summary["upload_files_written"] == 0
    assert "9434765919" not in output


def test_state_backup_and_check(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    (tmp_path / "export.csv").write_bytes(export_csv(4, seed=5))
    sync(tmp_path, Mailbox(), state_options=StateOptions(new=True))
    code, output = invoke("state", "check", "--state", str(state))
    assert code == 0, output
    assert "ledger: schema 2" in output
    backup = tmp_path / "backups" / "state-copy.sqlite"
    backup.parent.mkdir()
    code, output = invoke("state", "backup", str(backup), "--state", str(state))
    assert code == 0, output
    assert backup.stat().st_mode & 0o777 == 0o600
    with Ledger(backup, create=False) as copy, Ledger(state, create=False) as original:
        assert copy.records() == original.records()
    code, output = invoke("state", "check", "--state", str(tmp_path / "gone.sqlite"))
    assert code == 2
    assert "no state at" in output
    state.write_bytes(b"not a database at all" * 100)
    code, output = invoke("state", "check", "--state", str(state))
    assert code == 2


def test_config_check_reads_secrets_and_the_state_key(tmp_path: Path) -> None:
    config = tmp_path / "interop.toml"
    config.write_text('state = "var/state.sqlite"\n\n[environment]\nname = "test"\n', "utf-8")
    code, output = invoke("config", "check", "--config", str(config))
    assert code == 0, output
    assert f"state: {tmp_path / 'var' / 'state.sqlite'}" in output
    (tmp_path / "key").write_text("s3cret\n", encoding="utf-8")
    (tmp_path / "key").chmod(0o644)
    config.write_text(
        '[environment]\nname = "test"\n\n'
        '[mesh]\nendpoint = "http://127.0.0.1:9"\nmailbox = "X26ABC1"\n'
        'password = { file = "key" }\nshared_key = { file = "key" }\n',
        encoding="utf-8",
    )
    code, output = invoke("config", "check", "--config", str(config))
    assert code == 2
    assert "chmod 600" in output
    assert "s3cret" not in output
    config.write_text('state = ""\n', encoding="utf-8")
    code, output = invoke("config", "check", "--config", str(config))
    assert code == 2
    assert "state:" in output


def test_the_state_key_is_the_default_state(tmp_path: Path) -> None:
    from interop.cli.common import resolve_state
    from interop.config import load_config

    config = tmp_path / "interop.toml"
    config.write_text('state = "postgresql://interop@db/interop"\n', encoding="utf-8")
    loaded = load_config(config, need=())
    assert resolve_state(None, loaded) == "postgresql://interop@db/interop"
    assert resolve_state("other.sqlite", loaded) == "other.sqlite"
    assert str(resolve_state(None, None)) == "interop-state.sqlite"


def _exit_code_of(error: BaseException) -> int:
    with pytest.raises(click.exceptions.Exit) as stopped, errors_as_exit_codes():
        raise error
    return stopped.value.exit_code


def test_a_full_disk_and_signals_map_to_their_exit_codes() -> None:
    assert _exit_code_of(OSError(errno.ENOSPC, "No space left on device", "out/x.xml")) == 2
    assert _exit_code_of(OSError(errno.EFBIG, "File too large")) == 2
    assert _exit_code_of(KeyboardInterrupt()) == EXIT_SIGINT
    from interop.cli.main import Terminated

    assert _exit_code_of(Terminated()) == EXIT_SIGTERM
    with pytest.raises(ConnectionRefusedError):  # not the local disk: not hidden
        _exit_code_of(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))


def _terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(100):  # the handler runs at the next bytecode boundary
        pass


def test_sigterm_raises_where_the_job_is() -> None:
    from interop.cli.main import Terminated

    previous = signal.getsignal(signal.SIGTERM)
    try:
        install_signal_handlers()
        with pytest.raises(Terminated):
            _terminate_self()
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_private_folders_made_here_are_0700_and_a_chosen_one_keeps_its_mode(
    tmp_path: Path,
) -> None:
    from interop.jobs.private_files import private_files, private_folder

    previous = os.umask(0o022)
    try:
        made = private_folder(tmp_path / "new" / "uploads")
        chosen = tmp_path / "shared"
        chosen.mkdir(mode=0o755)
        private_folder(chosen)
        with private_files():
            (chosen / "f").write_text("x", encoding="utf-8")
        assert os.umask(0o022) == 0o022, "the umask is restored after the block"
    finally:
        os.umask(previous)
    assert made.stat().st_mode & 0o777 == 0o700
    assert chosen.stat().st_mode & 0o777 == 0o755
    assert (chosen / "f").stat().st_mode & 0o777 == 0o600


def test_a_dry_run_needs_no_secrets_and_no_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interop.cli.common import reading_progress

    config = tmp_path / "interop.toml"
    config.write_text(
        '[environment]\nname = "test"\n\n'
        '[local_authority]\nods_code = "LA380"\nname = "Example City"\n'
        'emergency_duty_phone = "0113 496 0000"\n\n'
        '[mesh]\nendpoint = "http://127.0.0.1:9"\nmailbox = "X26ABC1"\n'
        'password = { env = "UNSET_MESH_PASSWORD" }\nshared_key = { file = "absent-key" }\n\n'
        '[cpis]\nmailbox = "X26ABC2"\nupload_workflow_id = "U"\n'
        'acknowledgement_workflow_id = "A"\naccess_notification_workflow_id = "N"\n'
        'inactive_nhs_number_workflow_id = "I"\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("UNSET_MESH_PASSWORD", raising=False)
    (tmp_path / "export.csv").write_bytes(export_csv(5, seed=6))
    args = ["sync", "cpis", "--source", str(tmp_path / "export.csv"), "--config", str(config)]
    code, output = invoke(*args, "--dry-run", "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert "5 valid, 0 rejected" in output
    code, output = invoke(*args, "--new-state")  # sending does need them
    assert code == 2
    assert "UNSET_MESH_PASSWORD" in output
    assert reading_progress() is None, "no progress line when standard error is not a terminal"


def test_an_empty_postgresql_database_is_a_missing_state_until_created(postgres_url: str) -> None:
    from interop.state import StateMissing

    with pytest.raises(StateMissing, match="--new-state"):
        open_state(postgres_url)
    open_state(postgres_url, create=True).close()
    with open_state(postgres_url) as state:
        assert state.backend == "postgresql"


def test_state_backup_and_check_of_a_postgresql_state(postgres_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "copy.sqlite"
    code, output = invoke("state", "check", "--state", postgres_url)
    assert code == 2
    assert "no state at" in output
    with open_state(postgres_url, create=True) as opened:
        Ledger(opened).close()  # a first sync's ledger
    code, output = invoke("state", "check", "--state", postgres_url)
    assert code == 0, output
    assert "(postgresql)" in output
    assert "ledger: schema" in output
    code, output = invoke("state", "backup", str(dest), "--state", postgres_url)
    assert code == 2
    assert "back it up with pg_dump" in output
    assert "pg_restore" in output
    assert not list(tmp_path.iterdir()), "the backup command wrote nothing"


def test_a_backup_that_cannot_be_written_leaves_the_previous_one_whole(tmp_path: Path) -> None:
    """docs/operations.md: the copy replaces the destination only once it is whole."""
    import resource
    import subprocess
    import sys

    state = tmp_path / "state.sqlite"
    with open_state(state, create=True) as opened:
        opened.execute("CREATE TABLE t (x TEXT)")
    dest = tmp_path / "backups" / "copy.sqlite"
    dest.parent.mkdir()
    code, output = invoke("state", "backup", str(dest), "--state", str(state))
    assert code == 0, output
    previous = dest.read_bytes()
    with open_state(state) as opened:  # the state grows past what the disk has room for
        opened.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(2000)])
        opened.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    limit = 512 * 1024
    assert state.stat().st_size > 2 * limit

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [str(Path(sys.executable).with_name("interop")), "state", "backup", str(dest)]
    full = subprocess.run(
        [*command, "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_disk,
    )
    assert full.returncode == 2, full.stdout + full.stderr
    assert "Traceback" not in full.stderr
    [reason] = full.stderr.strip().splitlines()
    assert f"cannot write the backup {dest}" in reason
    assert dest.read_bytes() == previous
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.sqlite"]


def test_a_state_of_a_newer_release_stops_the_jobs_with_exit_2(
    state_url: str, tmp_path: Path
) -> None:
    """docs/operations.md: a state written by a newer release is refused (exit 2), on both
    back ends, by the jobs and by `interop state check`."""
    with open_state(state_url, create=True) as opened:
        Ledger(opened).close()
        opened.execute("UPDATE state_schema SET version = 99 WHERE component = 'ledger'")
    code, output = invoke("state", "check", "--state", state_url)
    assert code == 2, output
    ours = known_components()["ledger"]
    assert f"problem: ledger: schema 99 is newer than this toolkit's ({ours})" in output
    (tmp_path / "export.csv").write_bytes(export_csv(3, seed=8))
    export = ["--source", str(tmp_path / "export.csv"), "--out", str(tmp_path / "out")]
    code, output = invoke("sync", "cpis", *export, "--dry-run", "--state", state_url)
    assert code == 2, output
    assert f"the ledger schema is version 99, newer than this toolkit knows ({ours})" in output
    assert "Traceback" not in output
