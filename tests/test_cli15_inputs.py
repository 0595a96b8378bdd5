"""Issue 15 items 8, 9 and 12, the CLI side, through ``python -m hposweep``: bad flags and crafted
checkpoints end with exit 2, what and where, and nothing written; ``resume`` shows what it will run and has
``--dry-run``; ``show`` reads logs only in the study's logs folder; ``--group-writable``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hposweep.study.storage import encode_snapshot, read_checkpoint

HPOSWEEP = [sys.executable, "-m", "hposweep"]
TRAIN = ("import json, os, sys\n"
         "open('ran', 'a').write('x')\n"
         "args = dict(a.lstrip('-').split('=', 1) for a in sys.argv[1:] if '=' in a)\n"
         "print(json.dumps({'loss': float(args.get('x', 0.5))}))\n")
# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = "metric: loss\nsampler: random\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "sub").mkdir()
    return tmp_path


def hp(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.pop("CI", None)
    return subprocess.run(HPOSWEEP + list(args), cwd=cwd, env=full, capture_output=True, text=True, timeout=120)


def snapshot_of(folder: Path) -> dict[str, bytes | None]:
    """Every file under ``folder`` and its bytes (None for folders): what "nothing written" compares."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def made_study(proj: Path, *extra: str) -> Path:
    r = hp(proj, "run", "-s", "space.yaml", "-n", "2", "-c", "s.json", "--no-progress", *extra,
           "--", "python", "train.py")
    assert r.returncode == 0, r.stderr
    (proj / "ran").unlink()
    return proj / "s.json"


def edit(path: Path, change: Any) -> None:
    """Rewrite a checkpoint as a hand editor (or an attacker) would, with a valid checksum."""
    loaded = read_checkpoint(str(path))
    assert not loaded.events
    change(loaded.state)
    path.write_bytes(encode_snapshot(loaded.state))


# --- item 12: flags --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("flags", "says"), [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**70)], "--seed"),
    (["--checkpoint", ""], "--checkpoint is empty"),
    (["--checkpoint", "sub/"], "is a folder"),
    (["--checkpoint", "sub"], "is a folder"),
    (["--checkpoint", "new/"], "is a folder"),
    (["--grace", "nan"], "--grace"),
    (["--grace", "inf"], "--grace"),
    (["--prune-grace", "nan"], "--prune-grace"),
    (["--lease", "nan"], "--lease"),
    (["--lease", "inf"], "--lease"),
    (["--lease", "-1"], "--lease"),
    (["--timeout", "nonsense"], "--timeout"),
])
def test_bad_run_flags_exit_2_and_write_nothing(proj: Path, flags: list[str], says: str) -> None:
    before = snapshot_of(proj)
    r = hp(proj, "run", "-s", "space.yaml", "-n", "1", "--no-progress", *flags, "--", "python", "train.py")
    assert r.returncode == 2, r.stderr
    assert says in r.stderr and "internal error" not in r.stderr, r.stderr
    assert snapshot_of(proj) == before


def test_largest_seed_runs(proj: Path) -> None:
    made_study(proj, "--seed", str(2**64 - 1))


def test_resume_jobs_0_is_refused(proj: Path) -> None:
    made_study(proj)
    before = snapshot_of(proj)
    r = hp(proj, "resume", "s.json", "-n", "3", "--jobs", "0")
    assert r.returncode == 2 and "--jobs" in r.stderr
    assert snapshot_of(proj) == before


# --- items 8 and 12: crafted checkpoints ------------------------------------------------------------------
@pytest.mark.parametrize(("field", "value"), [
    ("command", 5),
    ("command", ["python", 5]),
    ("command", {"sh": "-c"}),
    ("jobs", "4"),
    ("jobs", 0),
    ("timeout", "2h"),
    ("grace", float("nan")),
    ("lease", -3),
])
def test_resume_refuses_wrong_recorded_settings_before_writing(proj: Path, field: str, value: Any) -> None:
    path = made_study(proj)
    edit(path, lambda s: s["settings"].update({field: value}))
    before = snapshot_of(proj)
    for cmd in (["resume", "s.json", "-n", "4"], ["worker", "s.json"], ["resume", "s.json", "-n", "4", "--dry-run"]):
        r = hp(proj, *cmd)
        assert r.returncode == 2, (cmd, r.stderr)
        assert f"recorded setting {field!r}" in r.stderr and "s.json" in r.stderr, r.stderr
        assert snapshot_of(proj) == before, cmd


def test_resume_refuses_queued_params_outside_the_space(proj: Path) -> None:
    path = made_study(proj)
    edit(path, lambda s: s["queue"].append({"params": {"x": 7.5}}))
    before = snapshot_of(proj)
    r = hp(proj, "resume", "s.json", "-n", "4")
    assert r.returncode == 2 and "queue entry 0" in r.stderr and "'x' = 7.5 is outside the space" in r.stderr
    assert snapshot_of(proj) == before
    edit(path, lambda s: s.update(queue=[{"params": {"y": 1}, "rerun_of": 1}]))
    r = hp(proj, "resume", "s.json", "-n", "4")
    assert r.returncode == 2 and "re-run of trial 1" in r.stderr and "'y' is not in the space" in r.stderr


def test_resume_says_what_it_runs_and_where(proj: Path) -> None:
    made_study(proj)
    r = hp(proj, "resume", "s.json", "-n", "3", "--no-progress")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    i = lines.index("[hposweep] command: python train.py")
    assert lines[i + 1] == f"[hposweep] working directory: {proj}"
    assert i < min(n for n, line in enumerate(lines) if "trial 2 started" in line)


def test_resume_dry_run_runs_and_writes_nothing(proj: Path) -> None:
    path = made_study(proj)
    edit(path, lambda s: s["queue"].append({"params": {"x": 0.25}}))
    before = snapshot_of(proj)
    r = hp(proj, "resume", "s.json", "-n", "4", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "[hposweep] command: python train.py" in r.stderr
    assert "# trial 2" in r.stdout and "python train.py --x=0.25" in r.stdout and "# trial 3" in r.stdout
    assert "nothing is written" in r.stdout
    assert snapshot_of(proj) == before and not (proj / "ran").exists()


def test_resume_settings_are_saved_at_once(proj: Path) -> None:
    """A resume killed before it compacts keeps its new --timeout (a settings event, not only in memory)."""
    made_study(proj)
    (proj / "train.py").write_text("import time\ntime.sleep(60)\n")
    p = subprocess.Popen(HPOSWEEP + ["resume", "s.json", "-n", "3", "--timeout", "2h", "--no-progress"], cwd=proj,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while b'"running"' not in (proj / "s.json.journal").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        p.kill()
        p.wait()
    r = hp(proj, "show", "s.json", "0", "--format", "json")
    settings = read_checkpoint(str(proj / "s.json"))
    folded = dict(settings.state["settings"])
    for ev in settings.events:
        if ev.get("op") == "settings":
            folded.update(ev["fields"])
    assert folded["timeout"] == 7200.0, r.stdout


def test_show_reads_logs_only_in_the_study_logs_folder(proj: Path) -> None:
    path = made_study(proj)
    secret = proj / "secret.txt"
    secret.write_text("TOP-SECRET\n")

    def point(s: dict) -> None:
        s["trials"][0]["info"]["log"] = "/etc/passwd"
        s["trials"][1]["info"]["log"] = str(proj / "secret.txt")
    edit(path, point)
    r = hp(proj, "show", "s.json", "0")
    assert r.returncode == 0 and "root:" not in r.stdout
    assert "(log /etc/passwd is not shown: it is not a file inside the study's own folders)" in r.stdout
    assert "TOP-SECRET" not in hp(proj, "show", "s.json", "1").stdout
    # A planted link in the trial's own folder that points outside the study's folders is not followed.
    log = proj / "s.trials" / "000000" / "hposweep.log"
    log.unlink()
    log.symlink_to(secret)
    edit(path, lambda s: s["trials"][0]["info"].update(log=str(log)))
    r = hp(proj, "show", "s.json", "0")
    assert "TOP-SECRET" not in r.stdout and "is not shown: it is not a file inside the study's own folders" in r.stdout


# --- item 9: permissions ------------------------------------------------------------------------------------
def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_checkpoint_files_are_private_by_default(proj: Path) -> None:
    path = made_study(proj)
    assert mode(path) == 0o600 and mode(proj / "s.json.journal") == 0o600


def test_group_writable_files_and_logs_folder(proj: Path) -> None:
    path = made_study(proj, "--group-writable")
    assert mode(path) == 0o660 and mode(proj / "s.json.journal") == 0o660
    trials = proj / "s.trials"  # the trial folders' root: every trial's folder and log is made in it
    assert mode(trials) & 0o070 == 0o070 and mode(trials) & stat.S_ISGID
    # Recorded: a later resume (or worker) keeps the files group-writable.
    assert hp(proj, "resume", "s.json", "-n", "3", "--no-progress").returncode == 0
    assert mode(path) == 0o660


def test_resume_group_writable_is_recorded(proj: Path) -> None:
    path = made_study(proj)
    assert hp(proj, "resume", "s.json", "-n", "3", "--no-progress", "--group-writable").returncode == 0
    assert json.loads(path.read_bytes().rsplit(b',"crc32"', 1)[0] + b"}")["settings"]["group_writable"] is True
    assert mode(path) == 0o660


@pytest.mark.parametrize("command", ["run", "create", "resume", "worker"])
def test_group_writable_is_in_help(proj: Path, command: str) -> None:
    r = hp(proj, command, "--help")
    assert "--group-writable" in r.stdout and "0660" in r.stdout
