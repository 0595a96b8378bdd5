"""The crash-safe checkpoint: round trips, damaged files, recovery, compaction, real kills, two writers."""

from __future__ import annotations

import os
import random
import select
import signal
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hposweep.core.space import CategoricalParam, Condition, FixedParam, FloatParam, IntParam, SearchSpace
from hposweep.core.trial import TrialState
from hposweep.errors import CheckpointError
from hposweep.study import storage
from hposweep.study.api import Study
from hposweep.study.storage import journal_path

_REAL_FSYNC = os.fsync


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """fsync only matters for a power cut, which no test can simulate, and costs up to ~15 ms on a busy
    disk. Data written before a SIGKILL survives without it. The kill test turns it back on in its
    writers so that compactions take their real time."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


#: fields of ``to_json()`` that may legitimately differ between a study and its reloaded copy
VOLATILE = ("hposweep_version", "saved_at")


def make_space() -> SearchSpace:
    return SearchSpace([
        FloatParam("lr", low=1e-4, high=1.0, log=True),
        CategoricalParam("opt", choices=("adam", "sgd", None, True)),
        FloatParam("momentum", low=0.0, high=0.9, step=0.1, when=(Condition("opt", ("sgd",)),)),
        IntParam("layers", low=1, high=64, log=True),
        FixedParam("epochs", value=20),
    ])


def snapshot_of(study: Study) -> bytes:
    """The study's state as canonical bytes (NaN-safe, key order independent)."""
    state = {k: v for k, v in study.to_json().items() if k not in VOLATILE}
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def file_bytes(path: Path) -> dict[str, bytes | None]:
    """The bytes of a checkpoint and its journal (None when absent), to prove nothing was rewritten."""
    out: dict[str, bytes | None] = {}
    for p in (Path(path), Path(journal_path(path))):
        out[p.name] = p.read_bytes() if p.exists() else None
    return out


def rich_study(path: Path) -> Study:
    """A study with every kind of state: all trial states, reports (NaN too), attrs, info, queue, meta."""
    study = Study(make_space(), direction="maximize", sampler="random", seed=42, settings={"trials": 20})
    study.save(path)
    for i in range(6):
        t = study.ask(info={"worker": i % 2})
        for step in range(5):
            study.report(t, step=step, value=i + step / 10)
        if i == 1:
            study.report(t, step=5, value=float("nan"))
            study.tell(t, state="pruned")
        elif i == 2:
            study.tell(t, float("inf"))
        elif i == 3:
            study.tell(t, state="failed", info={"reason": "exit code 1"})
        else:
            study.tell(t, float(i), user_attrs={"acc": 0.5 + i / 100, "loss": float("nan")})
    study.ask()  # left running
    study.enqueue({"lr": 0.01, "opt": "sgd"}, note="from the user")
    study.update_meta(elapsed=12.5, target_trials=20)
    study.update_info(0, heartbeat=123.0)
    return study


# --- round trips -----------------------------------------------------------------------------
def test_save_load_round_trip_is_an_identity(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    study = rich_study(path)
    expected = snapshot_of(study)
    # From the snapshot plus the journal, without recovery: the very same state.
    assert snapshot_of(Study.load(path, recover=False)) == expected
    assert snapshot_of(Study.load(path, readonly=True)) == expected
    # After a compaction (close folds the journal into the snapshot): still the same.
    study.close()
    assert storage.read_journal(str(path)).events == []  # the new journal holds only its header
    assert snapshot_of(Study.load(path, readonly=True)) == expected
    # Saving a loaded study elsewhere is an identity too.
    Study.load(path, recover=False).save(tmp_path / "copy.json")
    assert snapshot_of(Study.load(tmp_path / "copy.json", readonly=True)) == expected


def test_loaded_trials_keep_types_and_values(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    rich_study(path).close()
    study = Study.load(path, recover=False)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED, TrialState.FAILED,
                      TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING]
    assert study.trials[1].intermediate[5] != study.trials[1].intermediate[5]  # NaN survived
    assert study.trials[1].value != study.trials[1].value  # pruned with the last (NaN) report
    assert study.trials[0].info == {"worker": 0, "heartbeat": 123.0}
    assert study.best_trial is study.trials[5]
    assert study.queue[0]["params"] == {"lr": 0.01, "opt": "sgd"}
    assert study.meta == {"elapsed": 12.5, "target_trials": 20}
    assert [t.number for t in study.finished_trials] == [0, 1, 2, 3, 4, 5]
    assert study.seed == 42 and study.directions == ("maximize",) and study.space == make_space()


# --- damaged and foreign files --------------------------------------------------------------
def _valid_bytes(tmp_path: Path) -> bytes:
    src = tmp_path / "valid.json"
    rich_study(src).close()
    return src.read_bytes()


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda b: b"",
    "whitespace": lambda b: b"  \n\n",
    "truncated": lambda b: b[: len(b) // 2],
    "truncated_by_one": lambda b: b[:-1],
    "binary_garbage": lambda b: bytes(range(256)) * 4,
    "flipped_brace": lambda b: b.replace(b"{", b"[", 3),
    "json_list": lambda b: b"[1, 2, 3]",
    "json_string": lambda b: b'"hposweep-study"',
    "other_json_object": lambda b: b'{"study_name": "optuna", "trials": []}',
    "other_format": lambda b: b.replace(b'"hposweep-study"', b'"optuna-study"'),
    "newer_format": lambda b: b.replace(b'"format_version":%d' % storage.FORMAT_VERSION, b'"format_version":99'),
    "format_version_string": lambda b: b.replace(b'"format_version":%d' % storage.FORMAT_VERSION,
                                                 b'"format_version":"%d"' % storage.FORMAT_VERSION),
    "one_bit_flipped": lambda b: b.replace(b'"seed":42', b'"seed":43'),
    "no_digest": lambda b: orjson.dumps({k: v for k, v in orjson.loads(b).items() if k != "crc32"}),
    "no_trials": lambda b: b.replace(b'"trials":', b'"trialz":'),
    "no_space": lambda b: b.replace(b'"space":', b'"spaze":'),
    "bad_space": lambda b: b.replace(b'"type":"float"', b'"type":"complex"', 1),
    "bad_trial_state": lambda b: b.replace(b'"state":"complete"', b'"state":"exploded"', 1),
    "trials_not_objects": lambda b: orjson.dumps({**orjson.loads(b), "trials": [1, 2]}),
    "trial_numbers_out_of_order": lambda b: orjson.dumps(
        {**orjson.loads(b), "trials": orjson.loads(b)["trials"][::-1]}),
    "bad_seed": lambda b: orjson.dumps({**orjson.loads(b), "seed": "forty-two"}),
    "bad_directions": lambda b: orjson.dumps({**orjson.loads(b), "directions": ["sideways"]}),
    "bad_sampler": lambda b: orjson.dumps({**orjson.loads(b), "sampler": "quantum"}),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_checkpoint_is_a_clear_error_and_left_untouched(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "study.json"
    path.write_bytes(DAMAGE[kind](_valid_bytes(tmp_path)))
    before = file_bytes(path)
    for kwargs in ({}, {"readonly": True}, {"recover": False}):
        with pytest.raises(CheckpointError) as err:
            Study.load(path, **kwargs)
        assert str(path) in str(err.value)
    assert file_bytes(path) == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Study.load(tmp_path / "nope.json")
    assert not (tmp_path / "nope.json").exists()
    with pytest.raises(CheckpointError, match="folder"):
        Study.load(tmp_path)


@pytest.mark.parametrize("event", [
    {"op": "teleport", "seq": 9999},  # written by a newer hposweep
    {"op": "report", "seq": 9999, "number": 500, "step": 1, "value": 0.5},
    {"op": "report", "seq": 9999, "number": -1, "step": 1, "value": 0.5},  # would change the last trial
    {"op": "trial", "seq": 9999, "trial": {"number": 77, "params": {}}},  # skips numbers
])
def test_intact_but_impossible_journal_event_is_a_clear_error_and_left_untouched(
    tmp_path: Path, event: dict
) -> None:
    path = tmp_path / "study.json"
    study = rich_study(path)
    study.tell(study.trials[6], 1.0)
    good = Path(journal_path(path)).read_bytes()
    Path(journal_path(path)).write_bytes(
        good + storage.encode_line(event) + storage.encode_line({"op": "meta", "seq": 10000, "fields": {}}))
    before = file_bytes(path)
    with pytest.raises(CheckpointError) as err:
        Study.load(path)
    assert "study.json" in str(err.value)
    assert file_bytes(path) == before


def test_torn_last_journal_line_is_ignored_and_later_writes_stay_readable(tmp_path: Path) -> None:
    """A writer killed mid-write leaves half a line: that event was never acknowledged."""
    path = tmp_path / "study.json"
    study = rich_study(path)
    expected = snapshot_of(study)
    with open(journal_path(path), "ab") as fh:
        fh.write(b'{"op":"trial","seq":999,"trial":{"num')
    assert snapshot_of(Study.load(path, recover=False)) == expected
    resumed = Study.load(path)
    t = resumed.ask()
    resumed.tell(t, 0.5)
    again = Study.load(path, recover=False)
    assert again.trials[t.number].state is TrialState.COMPLETE
    assert snapshot_of(again) == snapshot_of(resumed)


def test_running_trials_become_interrupted_and_are_rerun_first(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    study = Study(make_space(), seed=3)
    study.save(path)
    a, b, c = study.ask(), study.ask(), study.ask()
    study.report(b, step=1, value=0.3)
    study.tell(c, 1.0)
    study.enqueue({"lr": 0.5})
    del study  # the writer "dies": a and b were running

    resumed = Study.load(path)
    assert [t.state for t in resumed.trials] == [TrialState.INTERRUPTED, TrialState.INTERRUPTED,
                                                 TrialState.COMPLETE]
    assert resumed.trials[1].intermediate == {1: 0.3}
    first, second, third = resumed.ask(), resumed.ask(), resumed.ask()
    assert (first.params, second.params) == (a.params, b.params)
    assert (first.info["rerun_of"], second.info["rerun_of"]) == (0, 1)
    assert third.params["lr"] == 0.5  # the user's queue comes after the re-runs
    assert not resumed.trials[0].state.is_finished  # interrupted trials do not count as finished
    assert resumed.n_finished == 1


# --- compaction ----------------------------------------------------------------------------
def test_compaction_folds_the_journal_and_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "COMPACT_MIN_EVENTS", 10)
    path = tmp_path / "study.json"
    study = Study(make_space(), seed=1)
    study.save(path)
    sizes = []
    for _ in range(60):
        t = study.ask()
        for step in range(4):
            study.report(t, step=step, value=float(step))
        study.tell(t, t.params["lr"])
        sizes.append(Path(journal_path(path)).stat().st_size)
    assert min(sizes) < max(sizes) and sizes[-1] <= path.stat().st_size  # the journal was folded
    assert snapshot_of(Study.load(path, readonly=True)) == snapshot_of(study)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_kill_between_snapshot_rename_and_new_journal_replays_nothing_twice(tmp_path: Path) -> None:
    """Compaction renames the new snapshot, then starts a new journal: a kill in between leaves the
    old journal beside a snapshot that already holds its events. Sequence numbers skip them."""
    path = tmp_path / "study.json"
    study = rich_study(path)
    assert study._storage is not None
    state = dict(study._state(), seq=study._storage.seq)
    storage.atomic_write(str(path), storage.encode_snapshot(state))  # the old journal stays as it was
    assert storage.read_journal(str(path)).events
    loaded = Study.load(path, recover=False)
    assert snapshot_of(loaded) == snapshot_of(study)
    t = loaded.ask()
    loaded.tell(t, 2.0)
    assert snapshot_of(Study.load(path, recover=False)) == snapshot_of(loaded)


# --- real processes ------------------------------------------------------------------------
def _fork(body: Callable[[], None]) -> tuple[int, int]:
    """Run ``body`` in a forked child whose stdout is a pipe; return (pid, read end).

    A fork instead of a fresh interpreter: starting python and importing numpy twenty times would
    make this test take seconds, and the child is just as real a process for SIGKILL.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(r)
            os.dup2(w, 1)
            body()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _say(text: str) -> None:
    os.write(1, text.encode() + b"\n")  # one write: the parent sees whole lines


def _compact_often(every: int) -> None:
    """In a child: compact after every few events, so that kills often land inside a compaction."""
    storage.COMPACT_MIN_EVENTS = every
    storage.Storage.wants_compaction = lambda self: self._events_since_snapshot >= storage.COMPACT_MIN_EVENTS


def _writer(path: Path) -> None:
    os.fsync = _REAL_FSYNC
    _compact_often(3)
    study = Study.load(path)  # marks the previous writer's running trial interrupted
    while True:
        t = study.ask()
        for step in range(3):
            study.report(t, step=step, value=t.params["lr"] * (3 - step))
        study.tell(t, t.params["lr"])
        _say(str(t.number))  # printed only after tell() returned: the trial is acknowledged


def _read_lines(fd: int, buf: bytearray, timeout: float) -> list[str]:
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return []
    chunk = os.read(fd, 65536)
    buf += chunk
    *lines, rest = buf.decode().split("\n")
    buf[:] = rest.encode()
    return lines


def test_sigkilled_writer_never_loses_an_acknowledged_trial(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    Study(make_space(), sampler="random", seed=9).save(path)
    rnd = random.Random(1234)
    acked: set[int] = set()
    kills = 18
    for _ in range(kills):
        pid, fd = _fork(lambda: _writer(path))
        buf = bytearray()
        want, got = rnd.randint(0, 4), 0
        deadline = time.monotonic() + 10
        while got < want and time.monotonic() < deadline:
            lines = _read_lines(fd, buf, 0.05)
            got += len(lines)
            acked.update(int(x) for x in lines)
        time.sleep(rnd.uniform(0, 0.004))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), "the writer died on its own; see its traceback above"
        while lines := _read_lines(fd, buf, 0):  # lines written just before the kill were acknowledged
            acked.update(int(x) for x in lines)
        os.close(fd)
        before = file_bytes(path)
        seen = Study.load(path, readonly=True)
        assert file_bytes(path) == before
        missing = [n for n in acked if n >= len(seen.trials) or seen.trials[n].state is not TrialState.COMPLETE]
        assert not missing, f"acknowledged trials lost after a kill: {missing}"
    assert len(acked) >= kills // 2  # the writers really did work between the kills

    resumed = Study.load(path)
    for _ in range(5):
        resumed.tell(resumed.ask(), 0.1)
    final = Study.load(path, recover=False)
    assert [t.number for t in final.trials] == list(range(len(final.trials)))
    assert all(final.trials[n].state is TrialState.COMPLETE for n in acked)
    assert snapshot_of(final) == snapshot_of(resumed)
    reruns = {t.info.get("rerun_of") for t in final.trials} | {e.get("rerun_of") for e in final.queue}
    for t in final.trials_in(TrialState.INTERRUPTED):
        assert t.number in reruns, f"interrupted trial {t.number} was never queued for a re-run"
    resumed.close()  # compaction also removes snapshots a writer was killed in the middle of
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def _worker(path: Path, go: int) -> None:
    _compact_often(7)  # compactions by one process force the other to reload
    study = Study.load(path, recover=False)
    os.read(go, 1)  # start together
    for _ in range(50):
        t = study.ask()
        study.report(t, step=0, value=1.0)
        study.tell(t, t.params["lr"])
        assert t.state is TrialState.COMPLETE  # the object from ask() is current, even after a reload
        _say(str(t.number))


def test_two_processes_share_one_study(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    Study(make_space(), seed=5).save(path)
    go_r, go_w = os.pipe()
    children = [_fork(lambda: _worker(path, go_r)) for _ in range(2)]
    os.write(go_w, b"xx")
    numbers: list[list[int]] = []
    for pid, fd in children:
        with os.fdopen(fd) as fh:
            numbers.append([int(x) for x in fh.read().split()])
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    os.close(go_r)
    os.close(go_w)
    assert [len(n) for n in numbers] == [50, 50]
    assert sorted(numbers[0] + numbers[1]) == list(range(100))
    study = Study.load(path, recover=False)
    assert len(study.trials) == 100
    assert all(t.state is TrialState.COMPLETE and t.intermediate == {0: 1.0} for t in study.trials)
    assert len(study.finished_trials) == 100


def test_compaction_removes_temporary_files_a_killed_writer_left(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    other = tmp_path / ".other.json.hposweep-abc.tmp"  # another study's file: not ours to remove
    other.write_bytes(b"x")
    study = rich_study(path)
    for name in (".study.json.hposweep-x1.tmp", ".study.json.journal.hposweep-x2.tmp"):
        (tmp_path / name).write_bytes(b"half a snapshot")
    study.close()  # a compaction
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tmp") == [other.name]
    assert snapshot_of(Study.load(path, readonly=True)) == snapshot_of(study)


class _Killed(BaseException):
    """Stands for a SIGKILL at one precise point of a write."""


def _die_before_new_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    real = storage.atomic_write

    def atomic_write(path: str, data: bytes, **kwargs: Any) -> None:
        if path.endswith(".journal"):
            raise _Killed
        real(path, data, **kwargs)

    monkeypatch.setattr(storage, "atomic_write", atomic_write)


def test_saving_over_another_study_never_replays_its_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between the new snapshot and the new journal, a save over an old study's files must not
    mix the old study's journal into the new one."""
    path = tmp_path / "study.json"
    rich_study(path)  # an old study, with events in its journal
    new = Study(SearchSpace([IntParam("k", low=0, high=9)]), seed=1)
    new.tell(new.ask(), 1.0)
    _die_before_new_journal(monkeypatch)
    with pytest.raises(_Killed):
        new.save(path, overwrite=True)
    monkeypatch.undo()
    assert snapshot_of(Study.load(path, recover=False)) == snapshot_of(new)


def test_saving_again_to_the_same_path_never_replays_its_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "study.json"
    study = rich_study(path)  # its queue holds an entry: replaying its enqueue twice would show
    _die_before_new_journal(monkeypatch)
    with pytest.raises(_Killed):
        study.save(path)
    monkeypatch.undo()
    assert snapshot_of(Study.load(path, recover=False)) == snapshot_of(study)


def test_trial_objects_stay_current_after_another_writer_compacts(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    Study(make_space(), seed=0).save(path)
    a, b = Study.load(path, recover=False), Study.load(path, recover=False)
    t = a.ask()
    a.report(t, step=0, value=0.5)
    b.tell(b.ask(), 2.0)
    b.close()  # b folds the journal into a new snapshot: a must reload it under the lock
    assert a.tell(t, 1.0) is t
    assert t.state is TrialState.COMPLETE and t.value == 1.0 and t.intermediate == {0: 0.5}
    assert [x.number for x in a.finished_trials] == [1, 0]
    assert a.ask().number == 2


# --- fuzzing: any damage is a CheckpointError, never a traceback ----------------------------------
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON tree (dict keys and list indexes), so a mutation can hit any of them."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _replace(node: object, path: tuple, value: object) -> object:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)  # type: ignore[call-overload]
    copy[path[0]] = _replace(copy[path[0]], path[1:], value)
    return copy


@pytest.fixture(scope="module")
def valid_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    folder = tmp_path_factory.mktemp("fuzz")
    study = Study(make_space(), seed=1)
    study.save(folder / "s.json")
    for i in range(3):
        t = study.ask()
        study.report(t, step=0, value=0.5)
        study.tell(t, float(i))
    study.ask()
    study.enqueue({"lr": 0.1})
    return (folder / "s.json").read_bytes(), Path(journal_path(folder / "s.json")).read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_checkpoint_loads_or_says_why(
    tmp_path: Path, valid_checkpoint: tuple[bytes, bytes], data: st.DataObject
) -> None:
    snap_bytes, journal_bytes = valid_checkpoint
    in_journal = data.draw(st.booleans())
    doc = orjson.loads(journal_bytes.splitlines()[data.draw(st.integers(0, 8))] if in_journal else snap_bytes)
    where = data.draw(st.sampled_from(_paths(doc)))
    mutated = orjson.dumps(_replace(doc, where, data.draw(_JSON)))
    if in_journal:
        lines = journal_bytes.splitlines()
        lines[data.draw(st.integers(0, len(lines) - 1))] = mutated
        snap, journal = snap_bytes, b"\n".join(lines) + b"\n"
    else:
        snap, journal = mutated, journal_bytes
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # tmp_path is shared by all examples
    path = folder / "s.json"
    path.write_bytes(snap)
    Path(journal_path(path)).write_bytes(journal)
    try:
        Study.load(path, readonly=True)
    except CheckpointError as err:
        assert "s.json" in str(err)


def _busy_writer(path: Path) -> None:
    _compact_often(2)  # a new snapshot and journal every other event
    study = Study.load(path, recover=False)
    while True:
        t = study.ask()
        study.report(t, step=0, value=1.0)
        study.tell(t, 1.0)


def test_readers_never_see_a_half_compacted_study(tmp_path: Path) -> None:
    """``load(readonly=True)`` takes no lock: it must notice a compaction racing it and read again."""
    path = tmp_path / "study.json"
    Study(make_space(), seed=2).save(path)
    pid, fd = _fork(lambda: _busy_writer(path))
    try:
        counts = [0]
        deadline = time.monotonic() + 30  # only bounds the loop on a very slow machine
        while counts[-1] < 20 and time.monotonic() < deadline:
            study = Study.load(path, readonly=True)
            counts.append(len(study.trials))
            assert [t.number for t in study.trials] == list(range(len(study.trials)))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    assert counts == sorted(counts) and counts[-1] > counts[0]
