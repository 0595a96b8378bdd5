"""Nothing lost, nothing mixed (issue 15): concurrent creation, study ids, full disks, checksums, locks.

Real processes (forks: each is as real a process for a lock or a kill as a fresh interpreter, without
importing numpy twenty times) and real files; a full disk is a small tmpfs (root only).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from hposweep.core.space import FloatParam, IntParam, SearchSpace
from hposweep.core.trial import TrialState
from hposweep.errors import CheckpointError, StudyError
from hposweep.samplers.tpe import TPESampler
from hposweep.study import lock as lockmod
from hposweep.study import storage
from hposweep.study.api import Study
from hposweep.study.storage import StorageError, StudyReplacedError, journal_path

FIXTURES = Path(__file__).parent / "fixtures"


def space() -> SearchSpace:
    return SearchSpace([FloatParam("x", low=0.0, high=1.0), IntParam("k", low=0, high=1000)])


def events_of(path: Path) -> list[dict[str, Any]]:
    return storage.read_journal(str(path)).events


def _fork(body: Any) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            code = body() or 0
        except BaseException as exc:  # noqa: BLE001 - the exit code carries the outcome
            code = getattr(exc, "exit_code", 99)
        os._exit(code)
    return pid


def _exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# --- item 1: two creators of one new checkpoint ------------------------------------------------
def test_of_two_processes_creating_one_checkpoint_exactly_one_proceeds(tmp_path: Path) -> None:
    for pair in range(10):
        path = tmp_path / f"s{pair}.json"
        go = tmp_path / f"go{pair}"

        def create(seed: int, path: Path = path, go: Path = go) -> int:
            study = Study(space(), sampler="random", seed=seed)
            while not go.exists():
                time.sleep(0.0005)
            study.save(path)
            t = study.ask()
            study.tell(t, t.params["x"])  # the winner's value must sit with the winner's params
            return 0

        pids = [_fork(lambda s=s: create(s)) for s in (1, 2)]
        go.touch()
        codes = sorted(_exit_code(p) for p in pids)
        assert codes == [0, 2], f"pair {pair}: exit codes {codes}"
        study = Study.load(path, readonly=True)
        assert len(study.trials) == 1
        assert study.trials[0].value == study.trials[0].params["x"]


def test_saving_over_another_study_says_already_exists(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    Study(space(), seed=1).save(path)
    with pytest.raises(StudyError, match="already exists") as err:
        Study(space(), seed=2).save(path)
    assert err.value.exit_code == 2
    Study(space(), seed=3).save(path, overwrite=True)
    assert Study.load(path, readonly=True).seed == 3


# --- item 2: study ids and generations ------------------------------------------------------------
def test_a_backup_snapshot_beside_another_studys_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    old = Study(space(), seed=1)
    old.save(path)
    old.tell(old.ask(), 0.5)
    old.close()
    shutil.copy2(path, tmp_path / "s.json.bak-20240101")  # the backup `run --force` keeps (snapshot)
    new = Study(space(), seed=2)
    new.save(path, overwrite=True)
    new.tell(new.ask(), 0.25)  # in the new study's journal
    shutil.copy2(tmp_path / "s.json.bak-20240101", path)  # restored beside the current journal
    for kwargs in ({"readonly": True}, {}):
        with pytest.raises(CheckpointError, match="another study"):
            Study.load(path, **kwargs)
    r = subprocess.run([sys.executable, "-m", "hposweep", "best", str(path)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert r.returncode == 2 and "another study" in r.stderr


def test_a_worker_stops_writing_once_its_study_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    Study(space(), seed=1).save(path)
    old = Study.load(path, recover=False)
    t = old.ask()
    new = Study.load(path, recover=False)
    new.take_over()
    before = (path.read_bytes(), Path(journal_path(path)).read_bytes())
    with pytest.raises(StudyReplacedError, match="generation 2") as err:
        old.tell(t, 1.0)
    assert err.value.exit_code == 2
    assert (path.read_bytes(), Path(journal_path(path)).read_bytes()) == before
    # A study replaced by `run --force` (another study at the path): the same.
    Study(space(), seed=9).save(path, overwrite=True)
    with pytest.raises(StudyReplacedError, match="another study"):
        new.ask()


def test_held_by_names_live_workers_and_the_lock_holder(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    Study(space(), seed=1).save(path)
    study = Study.load(path, recover=False)
    assert study.held_by(lease=60) == []
    t = study.ask(info={"worker": "host:123"})
    study.update_info(t, heartbeat=time.time())
    other = Study.load(path, recover=False)
    assert [h.get("worker") for h in other.held_by(lease=60)] == ["host:123"]
    assert other.held_by(lease=60)[0]["trials"] == [t.number]
    r, w = os.pipe()

    def hold() -> int:
        with storage.Storage(path).locked():  # a lock object of its own: filelock refuses inherited ones
            os.write(w, b"x")
            time.sleep(3)
        return 0

    pid = _fork(hold)
    os.close(w)
    assert os.read(r, 1) == b"x"
    try:
        locks = [h for h in other.held_by(lease=60) if h.get("lock")]
        # who holds it, read from /proc/locks (Linux), so "in use" can name the process
        assert len(locks) == 1 and locks[0]["pid"] == pid and locks[0]["host"] == os.uname().nodename
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


# --- item 3: short writes, full disks, read-only folders ---------------------------------------------
def test_a_short_write_is_cut_back_and_the_event_is_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.json"
    study = Study(space(), seed=1)
    study.save(path)
    study.tell(study.ask(), 0.5)
    good = Path(journal_path(path)).read_bytes()
    t = study.ask()
    after_ask = Path(journal_path(path)).read_bytes()
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data)[: len(data) // 2]))
    with pytest.raises(StorageError, match="no space left"):
        study.tell(t, 0.25)
    monkeypatch.undo()
    assert Path(journal_path(path)).read_bytes() == after_ask  # the half line is gone
    assert t.state is TrialState.RUNNING  # not reported as recorded
    assert good != after_ask
    loaded = Study.load(path, recover=False)
    assert loaded.trials[1].state is TrialState.RUNNING
    study.tell(t, 0.25)  # once there is room again, the same call works
    assert Study.load(path, recover=False).trials[1].value == 0.25


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    folder = tmp_path / "disk"
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {r.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_loses_no_acknowledged_trial(tiny_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "COMPACT_MIN_EVENTS", 20)  # compactions are tried (and postponed) often
    path = tiny_disk / "s.json"
    study = Study(space(), sampler="random", seed=1)
    study.save(path)
    told: dict[int, float] = {}
    with pytest.raises(StorageError) as err:
        for _ in range(100_000):
            t = study.ask()
            for step in range(3):
                study.report(t, step, 0.1 * step)
            study.tell(t, t.params["x"])
            told[t.number] = t.params["x"]
    assert f"cannot write {journal_path(path)}: no space left" in str(err.value) or \
        f"cannot write {path}: no space left" in str(err.value)
    assert err.value.exit_code == 2
    assert len(told) > 20
    loaded = Study.load(path, readonly=True)
    for number, value in told.items():
        assert loaded.trials[number].state is TrialState.COMPLETE and loaded.trials[number].value == value
    assert [t.number for t in loaded.trials] == list(range(len(loaded.trials)))


def test_read_only_folder_and_folder_in_the_way_are_clear_errors(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(ro)], capture_output=True)
    try:
        if r.returncode == 0:
            with pytest.raises(StorageError, match=f"cannot (write|lock) {ro}/s.json") as err:
                Study(space(), seed=1).save(ro / "s.json")
            assert err.value.exit_code == 2 and "read-only" in str(err.value)
    finally:
        if r.returncode == 0:
            subprocess.run(["umount", "-l", str(ro)], check=False)
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(StorageError, match="dir.json: it is a folder"):
        Study(space(), seed=1).save(tmp_path / "dir.json")


# --- item 4: checksums ----------------------------------------------------------------------------------
def test_a_damaged_journal_line_is_quarantined_and_the_rest_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    study = Study(space(), seed=1)
    study.save(path)
    for i in range(5):
        t = study.ask()
        study.report(t, 0, 0.5)
        study.tell(t, float(i))
    raw = bytearray(Path(journal_path(path)).read_bytes())
    lines = bytes(raw).split(b"\n")
    target = 5  # trial 1's report (0: header, 1-3: trial 0): the tell after it carries the whole record
    assert b'"op":"report"' in lines[target]
    offset = sum(len(line) + 1 for line in lines[:target])
    flip = offset + lines[target].index(b'"value":0.5') + 9
    raw[flip] ^= 0x01  # 0.5 -> 0.4: still valid JSON, silently different data without a checksum
    Path(journal_path(path)).write_bytes(bytes(raw))
    ro = Study.load(path, readonly=True)
    assert ro.trials[1].intermediate == {0: 0.5}  # never the flipped 0.4
    assert [t.value for t in ro.trials] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert f"damaged line at byte {offset}" in capsys.readouterr().err
    loaded = Study.load(path)
    assert f"moved to {path}.quarantine" in capsys.readouterr().err
    assert [t.value for t in loaded.trials] == [0.0, 1.0, 2.0, 3.0, 4.0]
    quarantined = [orjson.loads(x) for x in Path(f"{path}.quarantine").read_bytes().splitlines()]
    assert [q["offset"] for q in quarantined] == [offset]
    assert Study.load(path, readonly=True).damaged == []  # no longer in the journal


def test_format_1_checkpoint_made_before_checksums_still_loads(tmp_path: Path) -> None:
    for name in ("checkpoint_v1.json", "checkpoint_v1.json.journal"):
        shutil.copy2(FIXTURES / name, tmp_path / name)
    expected = orjson.loads((FIXTURES / "checkpoint_v1.expected.json").read_bytes())
    path = tmp_path / "checkpoint_v1.json"
    ro = Study.load(path, readonly=True)
    got = ro.to_json()
    assert orjson.dumps(got["trials"]) == orjson.dumps(expected["trials"])
    assert got["queue"] == expected["queue"] and got["meta"] == expected["meta"]
    writer = Study.load(path, recover=False)  # converts to the current format
    assert orjson.loads(path.read_bytes())["format_version"] == storage.FORMAT_VERSION
    writer.tell(writer.trials[6], 0.3)
    again = Study.load(path, readonly=True)
    assert orjson.dumps(again.to_json()["trials"][:6]) == orjson.dumps(expected["trials"][:6])
    assert again.trials[6].value == 0.3


# --- item 14: recover_running is one event -------------------------------------------------------------
def test_recovering_running_trials_is_one_event(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    study = Study(space(), seed=1)
    study.save(path)
    for _ in range(3):
        study.ask()
    n = len(events_of(path))
    loaded = Study.load(path)  # recovers the three
    new = events_of(path)[n:]
    assert [e["op"] for e in new] == ["recover"]
    assert [e["params"] for e in loaded.queue] == [t.params for t in study.trials]
    assert [e["rerun_of"] for e in loaded.queue] == [0, 1, 2]
    assert all(t.state is TrialState.INTERRUPTED for t in loaded.trials)


# --- item 15: a lock that holds on NFS -----------------------------------------------------------------
def test_network_filesystems_get_the_lease_lock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HPOSWEEP_LOCK", raising=False)
    for fs, kind in (("nfs4", "lease"), ("nfs", "lease"), ("lustre", "lease"), ("cifs", "lease"), ("ext4", "fcntl")):
        monkeypatch.setattr(lockmod, "filesystem_type", lambda p, fs=fs: fs)
        assert lockmod.lock_kind(str(tmp_path / "s.json")) == kind
    monkeypatch.setenv("HPOSWEEP_LOCK", "lease")
    monkeypatch.setattr(lockmod, "filesystem_type", lambda p: "ext4")
    assert Storage_kind(tmp_path) == "lease"


def Storage_kind(folder: Path) -> str:  # noqa: N802 - reads as the thing it returns
    return storage.Storage(folder / "s.json").lock_kind


def test_lease_lock_takes_over_a_dead_holder_but_never_a_live_one(tmp_path: Path) -> None:
    from filelock import Timeout

    path = str(tmp_path / "s.json.lease")
    dead = _fork(lambda: 0)
    _exit_code(dead)
    Path(path).write_bytes(orjson.dumps({"host": os.uname().nodename, "pid": dead, "start": 1, "token": "t"}))
    lock = lockmod.LeaseLock(path, lease=3600)
    lock.acquire(timeout=2)  # the holder is gone: taken over at once, although its lease is not over
    lock.release()
    assert not os.path.exists(path)
    live = {"host": os.uname().nodename, "pid": os.getppid(), "start": lockmod.process_start_time(os.getppid())}
    Path(path).write_bytes(orjson.dumps(live))
    with pytest.raises(Timeout):
        lockmod.LeaseLock(path, lease=0.01).acquire(timeout=0.3)  # alive on this host: never taken
    Path(path).write_bytes(orjson.dumps({**live, "host": "elsewhere"}))
    os.utime(path, (time.time() - 10, time.time() - 10))
    lock = lockmod.LeaseLock(path, lease=5)
    lock.acquire(timeout=2)  # another host's lock whose lease ran out
    lock.release()


def test_lease_lock_under_several_writers_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    Study(space(), sampler="random", seed=1).save(path, lock="lease")
    n_workers, per_worker = 4, 40

    def work(w: int) -> int:
        study = Study.load(path, recover=False, lock="lease")
        for i in range(per_worker):
            t = study.ask(info={"tag": f"{w}-{i}"})
            study.report(t, 0, 0.5)
            study.tell(t, float(i))
        return 0

    pids = [_fork(lambda w=w: work(w)) for w in range(n_workers)]
    assert [_exit_code(p) for p in pids] == [0] * n_workers
    study = Study.load(path, readonly=True)
    tags = [t.info["tag"] for t in study.trials]
    assert sorted(tags) == sorted(f"{w}-{i}" for w in range(n_workers) for i in range(per_worker))
    assert all(t.state is TrialState.COMPLETE and t.intermediate == {0: 0.5} for t in study.trials)
    seqs = [e["seq"] for e in events_of(path)]
    assert len(seqs) == len(set(seqs))


# --- item 9: permissions ----------------------------------------------------------------------------------
def test_checkpoint_files_are_private_unless_group_writable(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    Study(space(), seed=1).save(a)
    for p in (a, Path(journal_path(a)), Path(f"{a}.lock")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    b = tmp_path / "b.json"
    s = Study(space(), seed=1)
    s.save(b, group_writable=True)
    s.tell(s.ask(), 1.0)
    for p in (b, Path(journal_path(b))):
        assert stat.S_IMODE(p.stat().st_mode) == 0o660, p


# --- issue 13: sampler and pruner objects ---------------------------------------------------------------
def test_a_sampler_object_is_seeded_and_rebuilt_with_its_options(tmp_path: Path) -> None:
    sampler = TPESampler(n_startup_trials=3)
    study = Study(space(), sampler=sampler, seed=7)
    assert study.sampler is sampler
    spec = study.sampler_spec  # the name and the options TPESampler.options() reports
    assert isinstance(spec, dict) and spec["name"] == "tpe" and spec["n_startup_trials"] == 3
    path = tmp_path / "s.json"
    study.save(path)
    loaded = Study.load(path, readonly=True)
    assert loaded.sampler_spec == spec
    assert loaded.sampler.options() == sampler.options()
    # Seeded: the same seed proposes the same params through an object as through its spec.
    by_spec = Study(space(), sampler={"name": "tpe", "n_startup_trials": 3}, seed=7)
    assert [study.ask().params for _ in range(5)] == [by_spec.ask().params for _ in range(5)]
