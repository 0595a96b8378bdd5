"""Issue 14, the CLI items: each test runs `python -m hposweep` as a user would and checks what they see.

Items: 2 (no files after a broken start), 5 (--force keeps the old logs), 8 (best --format args/env are
safe), 9 (which study is read), 11 (plain rows without a terminal), 16 (show), 17 (CLI polish),
19 (--objective best with NaN), 20 (grid dict size), 22 (--sort value), and the Pareto front order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HPOSWEEP = [sys.executable, "-m", "hposweep"]

TRAIN = textwrap.dedent(
    """
    import os, sys
    args = dict(a.lstrip('-').split('=', 1) for a in sys.argv[1:] if '=' in a)
    x = float(args.get('x', 0.5))
    print(f"loss={(x - 0.3) ** 2:.6f}", flush=True)
    if os.environ.get('TRAIN_FAIL') and x > 0.5:
        sys.exit(3)
    """
)

SPACE = textwrap.dedent(
    """
    metric: loss
    parameters:
      x: {type: float, low: 0.0, high: 1.0}
    """
)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def hp(proj: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.pop("CI", None)
    full.update(env or {})
    return subprocess.run(HPOSWEEP + list(args), cwd=proj, env=full, capture_output=True, text=True, timeout=120)


def files(proj: Path) -> list[str]:
    return sorted(p.name for p in proj.iterdir())


def run(proj: Path, *extra: str, space: str = "space.yaml") -> subprocess.CompletedProcess:
    return hp(proj, "run", "--space", space, "--seed", "0", "-q", *extra)


# --- item 2: configuration and start-up errors leave nothing behind -------------------------------------
@pytest.mark.parametrize(("flags", "message"), [
    (["--sampler", "grid", "--", sys.executable, "train.py"],
     "error: parameter 'x': a float range without a step has no finite grid\n"),
    (["--sampler", "gp", "-m", "loss", "-m", "acc", "--", sys.executable, "train.py"],
     "error: gp supports one objective; use tpe or nsga2\n"),
    (["--", "no-such-program-xyz", "train.py"],
     "error: command not found: 'no-such-program-xyz' (searched PATH)\n"),
    (["--", "train.py"],
     "error: command not found: 'train.py' (searched PATH)\n"
     "  hint: train.py is in this folder but not on PATH: write ./train.py, or run it through an interpreter "
     "(python train.py)\n"),
    (["--", "./train.py"], "error: './train.py' is not executable\n"),
    (["--", sys.executable, "train.py", "--x={y}"], "error: the command names an unknown placeholder '{y}'\n"),
    (["--shell", "--", "no-such-program-xyz --x={x}"], "error: command not found: 'no-such-program-xyz'"),
])
def test_configuration_errors_write_nothing(proj: Path, flags: list[str], message: str) -> None:
    r = run(proj, "--trials", "2", *flags)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(message)
    assert files(proj) == ["space.yaml", "train.py"]
    # the corrected command is not refused with "already exists"
    assert run(proj, "--trials", "1", "--", sys.executable, "train.py").returncode == 0


def test_shell_commands_the_check_cannot_read_are_left_to_the_shell(proj: Path) -> None:
    r = run(proj, "--trials", "1", "--shell", "--", f"X=1 {sys.executable} train.py --x={{x}}")
    assert r.returncode == 0, r.stderr


def test_sweep_stopped_at_first_trial_with_exit_2_leaves_no_files(proj: Path) -> None:
    # executable, so the start-up check passes, but no #! line: exec fails at the first trial
    (proj / "noshebang.py").write_text("print('loss=1')\n")
    os.chmod(proj / "noshebang.py", 0o755)
    r = run(proj, "--trials", "3", "--", "./noshebang.py")
    assert r.returncode == 2
    assert "not an executable program" in r.stderr
    assert ("[hposweep] no trial completed: removed hposweep-study.json and its logs, so the corrected command "
            "can run as it is\n") in r.stderr
    assert files(proj) == ["noshebang.py", "space.yaml", "train.py"]


def test_failed_force_restart_puts_the_old_study_back(proj: Path) -> None:
    assert run(proj, "--trials", "2", "--", sys.executable, "train.py").returncode == 0
    (proj / "noshebang.py").write_text("print('loss=1')\n")
    os.chmod(proj / "noshebang.py", 0o755)
    before = files(proj)
    r = run(proj, "--trials", "3", "--force", "--", "./noshebang.py")
    assert r.returncode == 2
    assert "hposweep-study.json is the old study again" in r.stderr
    assert [f for f in files(proj) if not f.endswith(".lock")] == [f for f in before if not f.endswith(".lock")]
    trials = json.loads(hp(proj, "trials", "--format", "json").stdout)
    assert [t["state"] for t in trials] == ["complete", "complete"]
    shown = hp(proj, "show", "1")
    assert "--- last lines of hposweep-study.trials/000001/hposweep.log ---\nloss=" in shown.stdout


# --- item 5: --force backs up the logs with the checkpoint ------------------------------------------------
def test_force_backs_up_logs_and_show_on_backup_shows_old_log(proj: Path) -> None:
    (proj / "v1.py").write_text("print('first run'); print('loss=1.0')\n")
    (proj / "v2.py").write_text("print('second run'); print('loss=2.0')\n")
    assert run(proj, "--trials", "1", "--", sys.executable, "v1.py").returncode == 0
    r = run(proj, "--trials", "1", "--force", "--", sys.executable, "v2.py")
    assert r.returncode == 0, r.stderr
    [backup] = [p.name for p in proj.glob("hposweep-study.json.bak-*") if p.name[-1].isdigit()]
    assert (proj / f"{backup}.trials" / "000000" / "hposweep.log").read_text() == "first run\nloss=1.0\n"
    assert (proj / "hposweep-study.trials" / "000000" / "hposweep.log").read_text() == "second run\nloss=2.0\n"
    old = hp(proj, "show", "0", backup)
    assert old.returncode == 0, old.stderr
    assert old.stdout.endswith(f"--- last lines of {backup}.trials/000000/hposweep.log ---\nfirst run\nloss=1.0\n")
    record = json.loads(hp(proj, "show", backup, "0", "--format", "json").stdout)
    assert record["info"]["log"] == f"{backup}.trials/000000/hposweep.log"
    assert record["info"]["trial_dir"] == str(proj / f"{backup}.trials" / "000000")


# --- item 8: best --format args / env ---------------------------------------------------------------------
TRICKY = textwrap.dedent(
    """
    metric: loss
    parameters:
      name: {values: ["my run"]}
      quote: {values: ["it's \\"x\\" $HOME; `id`"]}
      path: {values: ["/nowhere"]}
      home: {values: ["/tmp/nohome"]}
      2nd-stage: {values: [3]}
    """
)


@pytest.fixture
def tricky(proj: Path) -> Path:
    (proj / "tricky.yaml").write_text(TRICKY)
    (proj / "one.py").write_text("print('loss=0.5')\n")
    (proj / "argv.py").write_text("import json, sys; print(json.dumps(sys.argv[1:]))\n")
    assert run(proj, "--trials", "1", "--", sys.executable, "one.py", space="tricky.yaml").returncode == 0
    return proj


EXPECTED_ARGV = ["--name=my run", "--quote=it's \"x\" $HOME; `id`", "--path=/nowhere", "--home=/tmp/nohome",
                 "--2nd-stage=3"]


def test_best_args_round_trips_through_eval(tricky: Path) -> None:
    # README: eval "python train.py $(hposweep best --format args)"
    script = f'eval "{sys.executable} argv.py $({sys.executable} -m hposweep best --format args)"'
    r = subprocess.run(["bash", "-c", script], cwd=tricky, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == EXPECTED_ARGV


def test_best_args0_round_trips_through_xargs(tricky: Path) -> None:
    script = f"{sys.executable} -m hposweep best --format args0 | xargs -0 {sys.executable} argv.py"
    r = subprocess.run(["bash", "-c", script], cwd=tricky, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == EXPECTED_ARGV


def test_best_env_refuses_shell_variables_and_bad_names(tricky: Path) -> None:
    r = hp(tricky, "best", "--format", "env")
    assert r.returncode == 2 and r.stdout == ""
    assert ("error: --format env: parameter 'path' would set PATH, which the shell depends on; parameter 'home' "
            "would set HOME, which the shell depends on; parameter '2nd-stage' would be '2ND_STAGE', not a valid "
            "variable name\n  hint: add a prefix, e.g. --prefix HPO_ (then read $HPO_<NAME>)\n") in r.stderr
    # eval of the refused output changes nothing: the shell keeps its PATH and HOME
    script = f'eval "$({sys.executable} -m hposweep best --format env 2>/dev/null)"; echo "$HOME|$PATH"'
    r = subprocess.run(["bash", "-c", script], cwd=tricky, capture_output=True, text=True, timeout=60)
    assert r.stdout == f"{os.environ['HOME']}|{os.environ['PATH']}\n"


def test_best_env_with_prefix_evals_exactly(tricky: Path) -> None:
    script = (f'eval "$({sys.executable} -m hposweep best --format env --prefix HPO_)" && '
              f'{sys.executable} -c "import json, os; print(json.dumps({{k: v for k, v in os.environ.items() '
              f'if k.startswith(\'HPO_\')}}))"; echo "$HOME"')
    r = subprocess.run(["bash", "-c", script], cwd=tricky, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    env_line, home = r.stdout.splitlines()
    assert json.loads(env_line) == {"HPO_NAME": "my run", "HPO_QUOTE": "it's \"x\" $HOME; `id`",
                                    "HPO_PATH": "/nowhere", "HPO_HOME": "/tmp/nohome", "HPO_2ND_STAGE": "3"}
    assert home == os.environ["HOME"]


def test_best_env_refuses_two_params_with_one_name(proj: Path) -> None:
    (proj / "s.yaml").write_text("metric: loss\nparameters:\n  lr-a: {values: [1]}\n  lr_a: {values: [2]}\n")
    (proj / "one.py").write_text("print('loss=0.5')\n")
    assert run(proj, "--trials", "1", "--", sys.executable, "one.py", space="s.yaml").returncode == 0
    r = hp(proj, "best", "--format", "env", "--prefix", "P_")
    assert r.returncode == 2
    assert "error: --format env: parameters 'lr-a' and 'lr_a' would both be P_LR_A\n" in r.stderr


# --- item 9: which file is read ---------------------------------------------------------------------------
def test_read_commands_say_which_study_they_picked(proj: Path) -> None:
    assert run(proj, "--trials", "2", "-c", "a.json", "--", sys.executable, "train.py").returncode == 0
    for cmd in (["best"], ["best", "--format", "args"], ["trials"], ["importance", "--bootstrap", "0"]):
        r = hp(proj, *cmd)
        assert r.stderr.splitlines()[0] == "[hposweep] reading a.json (the study in this folder)", (cmd, r.stderr)
    r = hp(proj, "report", "-o", "r.html")
    if r.returncode == 0:  # needs the report extra
        assert r.stderr.splitlines()[0] == "[hposweep] reading a.json (the study in this folder)"
    named = hp(proj, "best", "a.json", "--format", "args")
    assert named.stderr == ""


def test_newest_study_empty_names_the_ones_with_results(proj: Path) -> None:
    assert run(proj, "--trials", "2", "-c", "old.json", "--", sys.executable, "train.py").returncode == 0
    time.sleep(0.05)
    (proj / "bad.py").write_text("import sys; sys.exit(4)\n")
    assert run(proj, "--trials", "1", "-c", "new.json", "--max-failures", "1", "--", sys.executable,
               "bad.py").returncode == 1
    os.utime(proj / "new.json", (time.time() + 5, time.time() + 5))
    r = hp(proj, "best")
    assert r.returncode == 1
    assert r.stderr == (
        "[hposweep] reading new.json (the newest of 2 studies in this folder)\n"
        "new.json, which hposweep picked as the newest of 2 studies in this folder, has no completed trial yet "
        "(1 failed)\n"
        "  studies here with results: old.json (2 complete)\n"
        "  name one: hposweep best old.json\n")


# --- item 11: no wrapping without a terminal --------------------------------------------------------------
def test_trials_and_best_print_plain_rows_in_a_pipe(proj: Path) -> None:
    long = "a_rather_long_parameter_name_that_would_wrap"
    (proj / "wide.yaml").write_text(
        f"metric: validation_loss_with_a_long_name\nparameters:\n  {long}: {{type: float, low: 0.0001, high: 1}}\n"
        "  another_long_parameter_name: {values: [alpha_beta_gamma_delta]}\n")
    (proj / "w.py").write_text("print('validation_loss_with_a_long_name=0.00146923')\n")
    assert run(proj, "--trials", "3", "--", sys.executable, "w.py", space="wide.yaml").returncode == 0
    r = hp(proj, "trials", env={"COLUMNS": "80"})
    lines = r.stdout.splitlines()
    assert len(lines) == 4
    assert lines[0].split("\t") == ["number", "state", "validation_loss_with_a_long_name", f"param_{long}",
                                    "param_another_long_parameter_name", "duration", "last_step"]
    for i, line in enumerate(lines[1:]):
        cells = line.split("\t")
        assert cells[:3] == [str(i), "complete", "0.00146923"] and cells[4] == "alpha_beta_gamma_delta"
    best = hp(proj, "best", env={"COLUMNS": "80"}).stdout.splitlines()
    assert best[:2] == ["trial\t0", "validation_loss_with_a_long_name\t0.00146923"]
    assert best[3] == "another_long_parameter_name\talpha_beta_gamma_delta"
    assert hp(proj, "trials", "--format", "tsv").stdout == r.stdout


# --- item 16: show, and the reason column -----------------------------------------------------------------
def test_trials_table_has_the_reason_of_failed_trials(proj: Path) -> None:
    r = hp(proj, "run", "--space", "space.yaml", "--seed", "0", "--sampler", "random", "-q", "--trials", "6",
           "--max-failures", "0", "--", sys.executable, "train.py", env={"TRAIN_FAIL": "1"})
    assert r.returncode == 0, r.stderr
    lines = [line.split("\t") for line in hp(proj, "trials").stdout.splitlines()]
    assert lines[0][-1] == "reason"
    states = {row[1]: row[-1] for row in lines[1:]}
    assert states == {"complete": "-", "failed": "command failed (exit code 3)"}


def test_show_rejects_unknown_format(proj: Path) -> None:
    assert run(proj, "--trials", "1", "--", sys.executable, "train.py").returncode == 0
    r = hp(proj, "show", "0", "--format", "xml")
    assert r.returncode == 2 and "error: unknown --format 'xml'\n  hint: choose table or json\n" in r.stderr


# --- item 17: CLI polish ------------------------------------------------------------------------------------
def test_version_and_short_help(proj: Path) -> None:
    from hposweep import __version__

    assert hp(proj, "--version").stdout == f"hposweep {__version__}\n"
    short = hp(proj, "-h")
    assert short.returncode == 0 and short.stdout == hp(proj, "--help").stdout
    # full summaries, not cut at 45 characters
    assert "Run a sweep: each trial runs COMMAND with the trial's params." in short.stdout
    assert "Join a study and run its trials until the target is reached; any number of workers may share one " \
           "file." in " ".join(short.stdout.split())


@pytest.mark.parametrize("command", ["run", "create", "worker", "resume", "best", "trials", "show", "importance",
                                     "report", "validate", "parse-metrics"])
def test_every_command_has_help_metavars_and_exit_codes(proj: Path, command: str) -> None:
    r = hp(proj, command, "-h")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "Exit codes:" in text
    if command != "parse-metrics":  # its options are declared in cli/validate.py (another change)
        assert "<str>" not in text and "<int>" not in text and "<float>" not in text and "{checkpoint}" not in text
    lines = text.split("Options:")[1].split("Exit codes:")[0].splitlines()
    options = [line for line in lines if line.strip().startswith("-")]
    for line in options:
        name, _, rest = line.strip().partition("  ")
        assert rest.strip(), f"{command}: {name} has no help text"


def test_resume_can_change_timeout_max_failures_and_grace(proj: Path) -> None:
    assert run(proj, "--trials", "1", "--", sys.executable, "train.py").returncode == 0
    r = hp(proj, "resume", "hposweep-study.json", "--trials", "2", "--timeout", "1s", "--max-failures", "3",
           "--grace", "0.5", "-q")
    assert r.returncode == 0, r.stderr
    assert "[hposweep] timeout: 1 from now on\n" in r.stderr
    assert "[hposweep] max-failures: 3 from now on\n" in r.stderr
    assert "[hposweep] grace: 0.5 from now on\n" in r.stderr
    settings = json.loads((proj / "hposweep-study.json").read_text())["settings"]
    assert (settings["timeout"], settings["max_failures"], settings["grace"]) == (1.0, 3, 0.5)


def test_json_configuration_error_is_json_on_stdout(proj: Path) -> None:
    r = run(proj, "--json", "--sampler", "grid", "--", sys.executable, "train.py")
    assert r.returncode == 2
    obj = json.loads(r.stdout)
    assert obj == {"error": "parameter 'x': a float range without a step has no finite grid", "exit_code": 2,
                   "hint": "add `step:` to the parameter, or list the values as a categorical `choices:`"}
    # --json in the trial command is the command's, not hposweep's
    r = run(proj, "--sampler", "grid", "--", sys.executable, "train.py", "--json")
    assert r.returncode == 2 and r.stdout == ""


def test_singular_counts(proj: Path) -> None:
    r = hp(proj, "run", "--space", "space.yaml", "--trials", "1", "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 0
    assert r.stdout.startswith("sweep finished: 1 trial (1 complete)\n")
    assert "[hposweep] 1 trial (0 done)" in r.stderr


# --- items 19, 20, 22 and the Pareto order ----------------------------------------------------------------
def test_objective_best_with_only_nan_fails_the_trial(proj: Path) -> None:
    (proj / "nan.py").write_text("print('loss=nan')\n")
    r = run(proj, "--trials", "1", "--objective", "best", "--", sys.executable, "nan.py")
    assert r.returncode == 1, r.stderr
    [t] = json.loads(hp(proj, "trials", "--format", "json").stdout)
    assert t["state"] == "failed" and t["reason"] == "objective value is nan"


def test_grid_dict_form_runs_the_whole_grid(proj: Path) -> None:
    (proj / "g.yaml").write_text("metric: loss\nsampler: {name: grid, shuffle: false}\n"
                                 "parameters:\n  x: {values: [0.1, 0.2, 0.3]}\n")
    r = hp(proj, "run", "--space", "g.yaml", "--no-progress", "--", sys.executable, "train.py")
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("[hposweep] 3 trials (0 done), sampler grid")
    assert r.stdout.startswith("sweep finished: 3 trials (3 complete)\n")
    assert json.loads((proj / "hposweep-study.json").read_text())["settings"]["trials"] == 3


def test_sort_value_puts_failed_after_pruned(proj: Path) -> None:
    from hposweep import SearchSpace, Study

    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}), sampler="random", seed=0,
                  settings={"metric": "loss"})
    plan = [("failed", 0.05), ("complete", 0.5), ("pruned", 0.9), ("complete", 0.2), ("failed", None),
            ("pruned", 0.1)]
    for state, value in plan:
        t = study.ask()
        if state == "pruned":
            study.report(t, 0, value)
        study.tell(t, value, state=state)
    study.save(proj / "s.json")
    study.close()
    rows = json.loads(hp(proj, "trials", "s.json", "--sort", "value", "--format", "json").stdout)
    assert [(r["number"], r["state"]) for r in rows] == [(3, "complete"), (1, "complete"), (5, "pruned"),
                                                         (2, "pruned"), (0, "failed"), (4, "failed")]


def test_pareto_front_is_listed_best_first(proj: Path) -> None:
    from hposweep import SearchSpace, Study

    study = Study(SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}}), sampler="random", seed=0,
                  directions=["maximize", "minimize"],
                  settings={"metrics": [{"name": "acc", "direction": "maximize"},
                                        {"name": "ms", "direction": "minimize"}]})
    for acc, ms in [(0.5, 10.0), (0.9, 30.0), (0.7, 20.0)]:
        study.tell(study.ask(), [acc, ms])
    study.save(proj / "mo.json")
    study.close()
    front = json.loads(hp(proj, "best", "mo.json", "--format", "json").stdout)
    assert [t["values"]["acc"] for t in front] == [0.9, 0.7, 0.5]
