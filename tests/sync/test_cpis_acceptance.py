"""Issue #13's acceptance: ``interop sync cpis`` as real processes against a real mesh-sandbox.

Each test runs the installed ``interop`` command in subprocesses, as a scheduler would, and
reads what CP-IS actually received from its MESH inbox: concurrent runs on one state (SQLite
and PostgreSQL), control characters in every text column, an emptied state, a full disk,
file modes under a permissive umask, and SIGINT/SIGTERM.
"""

from __future__ import annotations

import csv
import io
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from mesh_server import MeshSandbox

from interop.config import load_config
from interop.cpis.codec import read_upload
from interop.la_export import REQUIRED_COLUMNS
from interop.state import lease_holder, open_state
from interop.synthetic import export_csv
from interop.transport.mesh import MeshTransport

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = str(Path(sys.executable).with_name("interop"))
EXIT_BUSY = 75


class Site:
    """An LA installation on the sandbox: its configuration, environment and export."""

    def __init__(self, sandbox: MeshSandbox, folder: Path, records_per_file: int = 50) -> None:
        self.sandbox = sandbox
        self.folder = folder
        self.config, env = sandbox.write_config(folder, party="la")
        with self.config.open("a", encoding="utf-8") as handle:
            handle.write(f"max_records_per_file = {records_per_file}\n")
        self.env = {**os.environ, **env}
        self.export = folder / "export.csv"

    def command(self, state: str, *extra: str) -> list[str]:
        """``interop sync cpis`` on this site's export and ``state``."""
        return [
            SCRIPT,
            "sync",
            "cpis",
            "--source",
            str(self.export),
            "--config",
            str(self.config),
            "--state",
            state,
            *extra,
        ]

    def run(
        self, state: str, *extra: str, preexec: Callable[[], None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the sync to its end."""
        return subprocess.run(
            self.command(state, *extra),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            preexec_fn=preexec,
        )

    def start(self, state: str, *extra: str) -> subprocess.Popen[str]:
        """Start the sync and return at once."""
        return subprocess.Popen(
            self.command(state, *extra),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def assert_each_record_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """CP-IS's inbox holds every record of the export exactly once."""
        delivered = self.delivered(monkeypatch)
        assert set(delivered) == local_ids(self.export), "a record never reached CP-IS"
        assert max(delivered.values()) == 1, "a record reached CP-IS more than once"

    def delivered(self, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
        """How many times CP-IS's inbox holds each record (by local id)."""
        cpis_path, cpis_env = self.sandbox.write_config(self.folder / "cpis", party="cpis")
        for name, value in cpis_env.items():
            monkeypatch.setenv(name, value)
        counted: Counter[str] = Counter()
        with MeshTransport(load_config(cpis_path).mesh) as cpis:
            for message_id in cpis.inbox(self.sandbox.workflows["upload"]):
                _, records = read_upload(cpis.download(message_id).data)
                counted.update(record.record_id for record in records)
        return counted


def local_ids(export: Path) -> set[str]:
    """The local ids of an export's rows (the record ids CP-IS receives)."""
    text = export.read_bytes().decode("utf-8-sig")
    return {row["local_id"] for row in csv.DictReader(io.StringIO(text))}


def new_state(location: str) -> str:
    """Create an empty state at ``location`` (as a first run with --new-state would)."""
    open_state(location, create=True).close()
    return location


def assert_clean(process: subprocess.CompletedProcess[str] | tuple[int, str, str]) -> None:
    stderr = process.stderr if isinstance(process, subprocess.CompletedProcess) else process[2]
    assert "Traceback" not in stderr, stderr


def concurrent_runs(site: Site, state: str, runs: int) -> list[tuple[int, str, str]]:
    """Start ``runs`` syncs on one state together; their (exit code, stdout, stderr)."""
    processes = [site.start(state) for _ in range(runs)]
    finished = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        finished.append((process.returncode, out, err))
    return finished


def check_exactly_once(site: Site, state: str, runs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    site.export.write_bytes(export_csv(600, seed=13))
    finished = concurrent_runs(site, new_state(state), runs)
    codes = [code for code, _, _ in finished]
    # every run overlapping the one that holds the state exits 75; on a loaded machine a run
    # can start so late that the holder has finished: it then finds nothing to send
    assert set(codes) <= {0, EXIT_BUSY}, finished
    assert EXIT_BUSY in codes, ("no run overlapped another: the lease was not exercised", finished)
    senders = [out for code, out, _ in finished if code == 0 and "nothing to send" not in out]
    assert len(senders) == 1, finished
    for code, out, err in finished:
        assert_clean((code, out, err))
        if code == EXIT_BUSY:
            assert "this run did nothing" in err
            # the holder named, unless caught in the instant it starts or finishes
            assert "is in use by interop sync cpis pid" in err or "starting or finishing" in err
            assert "sent" not in out
    delivered = site.delivered(monkeypatch)
    assert set(delivered) == local_ids(site.export)
    assert max(delivered.values()) == 1, "a record reached CP-IS more than once"
    again = site.run(state)  # the next night, nothing changed: nothing sent, exit 0
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to send" in again.stdout


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_syncs_on_sqlite_send_every_record_exactly_once(
    runs: int, fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=10)  # a run long enough to overlap
    check_exactly_once(site, str(tmp_path / "state.sqlite"), runs, monkeypatch)


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_syncs_on_postgresql_send_every_record_exactly_once(
    runs: int,
    fresh_mesh_sandbox: MeshSandbox,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=10)
    check_exactly_once(site, postgres_url, runs, monkeypatch)


def test_wait_runs_after_the_holder_finishes(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=20)
    site.export.write_bytes(export_csv(300, seed=5))
    state = new_state(str(tmp_path / "state.sqlite"))
    first = site.start(state)
    # the second starts once the first holds the lease (a fixed pause lost the race on a
    # loaded machine: the second came first, and the first, without --wait, exited 75)
    deadline = time.monotonic() + 60
    with open_state(state) as db:
        while first.poll() is None and time.monotonic() < deadline:
            holder = lease_holder(db, "cpis-sync")
            if holder is not None and holder.pid == first.pid:
                break
            time.sleep(0.05)
    waiting = site.run(state, "--wait", "120")
    first.communicate(timeout=180)
    assert first.returncode == 0
    assert waiting.returncode == 0, waiting.stdout + waiting.stderr
    assert max(site.delivered(monkeypatch).values()) == 1


CONTROL = {"NUL": "\x00", "VT": "\x0b", "ESC": "\x1b"}


def test_a_control_character_in_any_text_column_rejects_only_its_row(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path)
    text = export_csv(40, seed=21).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    header = list(rows[0])
    bad: dict[int, str] = {}  # line → column
    index = 0
    for column in REQUIRED_COLUMNS:
        for character in CONTROL.values():
            rows[index][column] = rows[index][column][:2] + character + rows[index][column][2:]
            bad[index + 2] = column
            index += 1
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    site.export.write_text(buffer.getvalue(), encoding="utf-8")
    state = str(tmp_path / "state.sqlite")
    rejects = tmp_path / "rejects.csv"

    first = site.run(state, "--new-state", "--rejects", str(rejects))
    assert_clean(first)
    assert first.returncode == 1, first.stdout + first.stderr
    for line, column in bad.items():
        assert f"line {line}, {column}" in first.stdout, (line, column, first.stdout)
    listed = {(int(r["line"]), r["column"]) for r in csv.DictReader(rejects.open())}
    assert set(bad.items()) <= listed
    assert oct(rejects.stat().st_mode & 0o777) == oct(0o600)
    good = {row["local_id"] for number, row in enumerate(rows, 2) if number not in bad}
    assert set(site.delivered(monkeypatch)) == good

    second = site.run(state)
    assert_clean(second)
    assert second.returncode in (0, 1), second.stdout + second.stderr
    assert max(site.delivered(monkeypatch).values()) == 1


def test_an_emptied_or_mistyped_state_is_refused_and_nothing_is_sent(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path)
    site.export.write_bytes(export_csv(30, seed=3))
    state = tmp_path / "state.sqlite"
    first = site.run(str(state), "--new-state")
    assert first.returncode == 0, first.stdout + first.stderr
    os.truncate(state, 0)
    for where in (str(state), str(tmp_path / "stat.sqlite")):
        refused = site.run(where)
        assert_clean(refused)
        assert refused.returncode == 2
        assert f"no state at {where}" in refused.stderr
        assert "interop state backup" in refused.stderr
    assert max(site.delivered(monkeypatch).values()) == 1


def _small_disk(limit: int) -> Callable[[], None]:
    def limit_file_size() -> None:
        # a write past the limit fails with EFBIG, as on a full disk, instead of killing
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_file_size


def test_a_full_disk_exits_2_in_one_line_and_loses_nothing(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path)
    site.export.write_bytes(export_csv(20, seed=9))
    state = tmp_path / "state.sqlite"
    assert site.run(str(state), "--new-state").returncode == 0
    site.export.write_bytes(export_csv(800, seed=9))  # 780 more children
    full = site.run(str(state), preexec=_small_disk(state.stat().st_size + 64 * 1024))
    assert_clean(full)
    assert full.returncode == 2, full.stdout + full.stderr
    reason = full.stderr.strip().splitlines()
    assert len(reason) == 1, full.stderr
    assert "disk" in reason[0]

    freed = site.run(str(state))
    assert freed.returncode == 0, freed.stdout + freed.stderr
    site.assert_each_record_once(monkeypatch)


def test_personal_data_files_are_private_under_umask_022(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path)
    site.export.write_bytes(export_csv(10, seed=4))

    def umask_022() -> None:
        os.umask(0o022)

    state = tmp_path / "var" / "state.sqlite"
    dry = site.run(str(state), "--dry-run", "--out", str(tmp_path / "dry"), preexec=umask_022)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert not state.exists(), "a dry run needs no state and creates none"
    sent = site.run(
        str(state), "--new-state", "--out", str(tmp_path / "uploads"), preexec=umask_022
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    replies = ["--out", str(tmp_path / "replies")]
    pulled = subprocess.run(
        [SCRIPT, "pull", "cpis", "--config", str(site.config), "--state", str(state), *replies],
        env=site.env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=umask_022,
    )
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    for folder in ("dry", "uploads", "replies", "var"):
        path = tmp_path / folder
        assert path.stat().st_mode & 0o777 == 0o700, folder
        files = [p for p in path.rglob("*") if p.is_file()]
        assert files, folder
        for file in files:
            assert file.stat().st_mode & 0o777 == 0o600, file


def _wait_until_sending(state: str) -> None:
    """Return once uploads are going out: the ledger has one sent."""
    deadline = time.monotonic() + 60
    with open_state(state) as db:
        while time.monotonic() < deadline:
            tables = db.tables()
            if "uploads" in tables:
                row = db.execute("SELECT COUNT(*) FROM uploads WHERE state = 'sent'").fetchone()
                if row[0] > 0:
                    return
            time.sleep(0.05)
    raise AssertionError("the sync never sent an upload")


def _interrupted(site: Site, state: str, signum: int) -> subprocess.Popen[str]:
    process = site.start(state)
    _wait_until_sending(state)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    return process


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_exit_130_and_143_and_the_rerun_sends_the_rest_once(
    signum: int,
    code: int,
    fresh_mesh_sandbox: MeshSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=1)
    site.export.write_bytes(export_csv(200, seed=11))
    state = new_state(str(tmp_path / "state.sqlite"))
    process = _interrupted(site, state, signum)
    assert process.returncode == code
    rerun = site.run(state)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    site.assert_each_record_once(monkeypatch)


class WriteLock:
    """Another job's write transaction on a SQLite state, held from ``take()`` to ``release()``
    (``BEGIN IMMEDIATE`` on a connection of its own, as every job's writes take it)."""

    def __init__(self, state: str) -> None:
        self.db = sqlite3.connect(state, isolation_level=None, timeout=60)

    def take(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("CREATE TABLE IF NOT EXISTS other_job (x INTEGER)")
        self.db.execute("INSERT INTO other_job VALUES (1)")

    def release(self) -> None:
        self.db.execute("COMMIT")
        self.db.close()


def test_a_write_of_another_job_is_waited_for_and_both_jobs_finish(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md: different jobs may run at the same time; a write waits for the
    other's. A sync under way meets a write transaction held for 3 seconds while a pull of the
    replies (another job, another lease) starts: both wait, both finish, nothing twice."""
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=1)
    site.export.write_bytes(export_csv(60, seed=17))
    state = new_state(str(tmp_path / "state.sqlite"))
    sync = site.start(state)
    _wait_until_sending(state)
    other = WriteLock(state)
    other.take()
    replies = ["--out", str(tmp_path / "replies")]
    pull = subprocess.Popen(
        [SCRIPT, "pull", "cpis", "--config", str(site.config), "--state", state, *replies],
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    assert sync.poll() is None, "the sync did not wait for the other job's write"
    other.release()
    synced = sync.communicate(timeout=180)
    pulled = pull.communicate(timeout=180)
    assert sync.returncode == 0, synced
    assert pull.returncode == 0, pulled
    assert_clean((sync.returncode, *synced))
    assert_clean((pull.returncode, *pulled))
    site.assert_each_record_once(monkeypatch)
    with open_state(state) as db:
        assert db.execute("SELECT COUNT(*) FROM other_job").fetchone()[0] == 1


# the same command as SCRIPT, with the state's busy timeout cut from 30 s to 1 s
_SHORT_BUSY = (
    "import interop.state.connection as c; c.BUSY_TIMEOUT_SECONDS = 1.0;"
    " from interop.cli.main import main; main()"
)


def test_a_write_held_past_the_busy_timeout_exits_2_in_one_line_and_loses_nothing(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=1)
    site.export.write_bytes(export_csv(60, seed=19))
    state = new_state(str(tmp_path / "state.sqlite"))
    command = [sys.executable, "-c", _SHORT_BUSY, *site.command(state)[1:]]
    sync = subprocess.Popen(
        command, env=site.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_until_sending(state)
    other = WriteLock(state)
    other.take()
    try:
        out, err = sync.communicate(timeout=120)  # ends while the lock is still held
    finally:
        other.release()
    assert sync.returncode == 2, out + err
    assert_clean((sync.returncode, out, err))
    [reason] = [line for line in err.splitlines() if line != "sending"]  # the progress label
    assert state in reason
    assert "another job held the state's write lock" in reason
    assert "run the job again" in reason

    rerun = site.run(state)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    site.assert_each_record_once(monkeypatch)


def _interop(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], env=site.env, capture_output=True, text=True, timeout=120
    )


def test_the_documented_restore_after_a_lost_state_sends_nothing_twice(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md, "Backing it up": back up after each sync; to restore, stop every
    job, put the copy in place of the state file (without -wal and -shm files), run
    ``interop state check``, and run the jobs again. A copy older than the last sync sends
    again what was sent since, as the page says."""
    site = Site(fresh_mesh_sandbox, tmp_path)
    site.export.write_bytes(export_csv(30, seed=23))
    state = tmp_path / "interop-state.sqlite"
    copy = tmp_path / "backups" / "interop-state-copy.sqlite"
    assert site.run(str(state), "--new-state").returncode == 0
    backed_up = _interop(site, "state", "backup", str(copy), "--state", str(state))
    assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr

    for lost in state.parent.glob(state.name + "*"):  # the disk is replaced: all of it gone
        lost.unlink()
    refused = site.run(str(state))
    assert_clean(refused)
    assert refused.returncode == 2
    assert f"no state at {state}" in refused.stderr
    assert "restore the latest backup" in refused.stderr
    assert not state.exists()

    shutil.copyfile(copy, state)  # the restore, as the message and the page say
    checked = _interop(site, "state", "check", "--state", str(state))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = site.run(str(state))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to send" in again.stdout
    assert state.stat().st_mode & 0o777 == 0o600  # copied with the umask's mode, made private
    site.assert_each_record_once(monkeypatch)

    # a copy older than the last sync knows nothing of it: that sync's changes go again
    ended = export_csv(30, seed=23).decode("utf-8-sig").splitlines()
    header, first = ended[0].split(","), ended[1].split(",")
    first[header.index("plan_end")] = "2026-10-30"
    ended[1] = ",".join(first)
    site.export.write_text("\n".join(ended) + "\n", encoding="utf-8")
    changed = site.run(str(state))
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "1 changed (1 ended)" in changed.stdout
    for stale in state.parent.glob(state.name + "*"):
        stale.unlink()
    shutil.copyfile(copy, state)
    resent = site.run(str(state))
    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert "1 changed (1 ended)" in resent.stdout
    delivered = site.delivered(monkeypatch)
    local_id = first[header.index("local_id")]
    assert delivered.pop(local_id) == 3  # sent, changed, and the change once more
    assert set(delivered.values()) == {1}


def test_a_backup_taken_while_jobs_write_is_sound_and_holds_only_what_was_committed(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md: `interop state backup` gives a consistent copy whatever is running:
    here a sync part-way through its uploads and another job's write not yet committed."""
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=1)
    site.export.write_bytes(export_csv(60, seed=29))
    state = new_state(str(tmp_path / "state.sqlite"))
    copy = tmp_path / "copy.sqlite"
    sync = site.start(state)
    _wait_until_sending(state)
    other = WriteLock(state)
    other.take()  # the sync waits at its next write meanwhile
    try:
        backed_up = _interop(site, "state", "backup", str(copy), "--state", state)
        still_running = sync.poll() is None
    finally:
        other.release()
    out, err = sync.communicate(timeout=180)
    assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
    assert still_running
    assert sync.returncode == 0, out + err
    checked = _interop(site, "state", "check", "--state", str(copy))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with open_state(str(copy)) as taken:
        assert "other_job" not in taken.tables()  # not committed when the copy was taken
        sent = taken.execute("SELECT COUNT(*) FROM uploads WHERE state = 'sent'").fetchone()[0]
        planned = taken.execute("SELECT COUNT(*) FROM uploads").fetchone()[0]
    assert 1 <= sent < 60  # one moment of the run, part-way
    assert planned == 60  # the plan was committed whole before the first send
    site.assert_each_record_once(monkeypatch)


def _group(pgid: int) -> list[int]:
    """The processes of a process group (Linux: from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _start_reading_with_a_worker(site: Site, state: str) -> tuple[subprocess.Popen[str], int]:
    """Start a sync of a national-size export in its own process group, as a service manager
    does; return once a worker process checks rows beside it (and the worker's pid)."""
    process = subprocess.Popen(
        site.command(state),
        env=site.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [pid for pid in _group(process.pid) if pid != process.pid]
        if workers:
            return process, workers[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    raise AssertionError("no worker process started")


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_whole_job_while_workers_read_exits_cleanly_and_leaves_no_process(
    signum: int,
    code: int,
    fresh_mesh_sandbox: MeshSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C in a terminal and systemd's stop both signal every process of the job: the job
    and its worker. The job exits 130 / 143 without a traceback, no worker outlives it, and
    the next run sends every record exactly once."""
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=5000)
    site.export.write_bytes(export_csv(25_000, seed=5))  # above the size read with workers
    state = new_state(str(tmp_path / "state.sqlite"))
    process, _ = _start_reading_with_a_worker(site, state)
    os.killpg(process.pid, signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    deadline = time.monotonic() + 10
    while _group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _group(process.pid) == [], "a worker outlived the job"
    rerun = site.run(state)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    site.assert_each_record_once(monkeypatch)


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_a_worker_killed_while_reading_loses_nothing_and_the_job_ends_normally(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The out-of-memory killer takes the worker, not the job: the job checks the rest of the
    rows itself and sends every record exactly once, in the same run."""
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=5000)
    site.export.write_bytes(export_csv(25_000, seed=6))
    state = new_state(str(tmp_path / "state.sqlite"))
    process, worker = _start_reading_with_a_worker(site, state)
    os.kill(worker, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stdout + stderr
    assert "Traceback" not in stderr, stderr
    site.assert_each_record_once(monkeypatch)


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_the_job_killed_while_workers_read_leaves_no_worker_and_the_rerun_sends_once(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill -9`` of the job alone (its worker is not signalled): the worker sees the job gone
    and ends, and the next run sends every record exactly once."""
    site = Site(fresh_mesh_sandbox, tmp_path, records_per_file=5000)
    site.export.write_bytes(export_csv(25_000, seed=7))
    state = new_state(str(tmp_path / "state.sqlite"))
    process, worker = _start_reading_with_a_worker(site, state)
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        if (Path(f"/proc/{worker}") / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break  # ended, not yet reaped by its new parent
        time.sleep(0.05)
    stat = Path(f"/proc/{worker}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", (
        "the worker outlived the job"
    )
    rerun = site.run(state)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    site.assert_each_record_once(monkeypatch)
