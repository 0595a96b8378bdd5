"""A folder per trial (issue 16 part 1): ``<study>.trials/000007/``, ``HPOSWEEP_TRIAL_DIR``, ``{trial_dir}``,
``--trial-cwd``, ``--force`` backups and the log readers, through the CLI with real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]

# writes model.pt in its cwd, slowly enough that two trials overlap under --jobs 2
TRAIN = textwrap.dedent(
    """
    import json, os, sys, time
    args = dict(a.lstrip('-').split('=', 1) for a in sys.argv[1:] if '=' in a)
    x = float(args['x'])
    with open('model.pt', 'w') as fh:
        fh.write(f"x={x}\\n")
    time.sleep(0.6)
    with open('model.pt') as fh:
        kept = fh.read() == f"x={x}\\n"
    seen = {"cwd": os.getcwd(), "dir": os.environ.get("HPOSWEEP_TRIAL_DIR"), "user": os.environ.get("HPOSWEEP_CWD"),
            "argv": sys.argv, "kept": kept, "data": open(args['data']).read() if 'data' in args else None}
    with open(os.path.join(os.environ["HPOSWEEP_CWD"], "seen.jsonl"), "a") as fh:
        fh.write(json.dumps(seen) + "\\n")
    print(f"loss={x:.6f}")
    """
)

# sampler: random -- what is tested here does not depend on the sampler, and the default (gp) costs each
# hposweep process ~0.8 s of scipy imports
SPACE = "metric: loss\nsampler: random\ndirection: minimize\nparameters:\n  x: {type: float, low: 0.0, high: 1.0}\n"


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def hp(proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run([*HPOSWEEP, *args], cwd=proj, env=env, capture_output=True, text=True, timeout=120)


def seen(proj: Path) -> list[dict]:
    return [json.loads(line) for line in (proj / "seen.jsonl").read_text().splitlines()]


def test_jobs_2_with_trial_cwd_gives_each_trial_its_own_model_file(proj: Path) -> None:
    r = hp(proj, "run", "--space", "space.yaml", "--seed", "1", "--trials", "2", "--jobs", "2", "--trial-cwd",
           "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    folders = [proj / "hposweep-study.trials" / f"{n:06d}" for n in (0, 1)]
    models = [(f / "model.pt").read_text() for f in folders]
    assert len(set(models)) == 2 and all(m.startswith("x=") for m in models)
    assert not (proj / "model.pt").exists()
    runs = seen(proj)
    assert all(s["kept"] for s in runs)  # neither trial overwrote the other's file
    assert sorted(s["cwd"] for s in runs) == sorted(str(f) for f in folders)
    assert sorted(s["dir"] for s in runs) == sorted(str(f) for f in folders)
    assert {s["user"] for s in runs} == {str(proj)}
    # the program was found in the user's folder: train.py was made absolute before the chdir
    assert all(s["argv"][0] == str(proj / "train.py") for s in runs)
    for f in folders:  # hposweep's own files are in the folder too
        assert (f / "hposweep.log").read_text().startswith("loss=")
        assert json.loads((f / "hposweep.params.json").read_text())["x"] >= 0
    rec = json.loads(hp(proj, "show", "0", "--format", "json").stdout)
    assert rec["info"]["trial_dir"] == str(folders[0]) and rec["info"]["cwd"] == str(folders[0])
    shown = hp(proj, "show", "1")
    assert f"folder     {folders[1]}\n" in shown.stdout
    assert f"--- last lines of {folders[1]}/hposweep.log ---\nloss=" in shown.stdout
    # resume keeps running trials in their folders
    r = hp(proj, "resume", "hposweep-study.json", "--trials", "3", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert (proj / "hposweep-study.trials" / "000002" / "model.pt").exists()


def test_without_trial_cwd_trials_run_here_and_get_their_folder_as_placeholder_and_env(proj: Path) -> None:
    (proj / "data.txt").write_text("the data")
    r = hp(proj, "run", "--space", "space.yaml", "--trials", "1", "--no-progress", "--",
           sys.executable, "train.py", "--x={x}", "--out={trial_dir}/ckpt", "--data=data.txt")
    assert r.returncode == 0, r.stderr
    [s] = seen(proj)
    folder = str(proj / "hposweep-study.trials" / "000000")
    assert s["cwd"] == str(proj) and s["dir"] == folder and s["user"] == str(proj)
    assert f"--out={folder}/ckpt" in s["argv"] and s["data"] == "the data"
    assert (proj / "model.pt").exists()


def test_trial_cwd_resolves_existing_arguments_and_leaves_outputs_in_the_trial_folder(proj: Path) -> None:
    (proj / "conf").mkdir()
    (proj / "conf" / "data.txt").write_text("nested data")
    script = "import sys, pathlib; pathlib.Path(sys.argv[2]).write_text(open(sys.argv[1]).read()); print('loss=1')\n"
    (proj / "copier.py").write_text(script)
    r = hp(proj, "run", "--space", "space.yaml", "--trials", "1", "--trial-cwd", "--pass", "none", "--no-progress",
           "--", sys.executable, "copier.py", "conf/data.txt", "copied.txt")
    assert r.returncode == 0, r.stderr
    assert (proj / "hposweep-study.trials" / "000000" / "copied.txt").read_text() == "nested data"
    assert not (proj / "copied.txt").exists()
    dry = hp(proj, "run", "--space", "space.yaml", "--trials", "1", "--trial-cwd", "--dry-run", "-c", "other.json",
             "--", sys.executable, "copier.py", "conf/data.txt")
    assert dry.returncode == 0, dry.stderr
    assert f"HPOSWEEP_TRIAL_DIR={proj / 'other.trials' / '000000'}" in dry.stdout
    assert f"cd {proj / 'other.trials' / '000000'} && " in dry.stdout and str(proj / "copier.py") in dry.stdout


def test_force_keeps_the_trial_folders_with_the_backup(proj: Path) -> None:
    args = ["run", "--space", "space.yaml", "--trials", "1", "--trial-cwd", "--no-progress", "--",
            sys.executable, "train.py"]
    assert hp(proj, *args).returncode == 0
    first = (proj / "hposweep-study.trials" / "000000" / "model.pt").read_text()
    r = hp(proj, *args[:-3], "--force", "--seed", "5", *args[-3:])
    assert r.returncode == 0, r.stderr
    [backup] = [p.name for p in proj.glob("hposweep-study.json.bak-*") if p.name[-1].isdigit()]
    assert (proj / f"{backup}.trials" / "000000" / "model.pt").read_text() == first
    rec = json.loads(hp(proj, "show", backup, "0", "--format", "json").stdout)
    assert rec["info"]["trial_dir"] == str(proj / f"{backup}.trials" / "000000")
    assert rec["info"]["cwd"] == rec["info"]["trial_dir"]
    shown = hp(proj, "show", backup, "0").stdout
    assert f"--- last lines of {proj / backup}.trials/000000/hposweep.log ---\nloss=" in shown


def test_show_refuses_a_log_path_outside_the_study_folders(proj: Path) -> None:
    assert hp(proj, "run", "--space", "space.yaml", "--trials", "1", "--no-progress", "--",
              sys.executable, "train.py").returncode == 0
    secret = proj / "secret.txt"
    secret.write_text("do not print me\n")
    from hposweep.study.api import Study

    study = Study.load(str(proj / "hposweep-study.json"))
    study.update_info(0, log=str(secret))
    study.close()
    shown = hp(proj, "show", "0")
    assert shown.returncode == 0, shown.stderr
    assert "do not print me" not in shown.stdout and "not a file inside the study's own folders" in shown.stdout


def test_a_link_planted_at_the_trial_folder_is_refused(proj: Path) -> None:
    elsewhere = proj / "elsewhere"
    elsewhere.mkdir()
    (proj / "hposweep-study.trials").mkdir()
    (proj / "hposweep-study.trials" / "000000").symlink_to(elsewhere)
    r = hp(proj, "run", "--space", "space.yaml", "--trials", "1", "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 2
    assert "000000: it is a symbolic link" in r.stderr
    assert list(elsewhere.iterdir()) == []
