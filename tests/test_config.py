"""Space files: every accepted syntax loads to the right space; every mistake is a located ConfigError."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

import hposweep
from hposweep.core.params import CategoricalParam, FixedParam, FloatParam, IntParam
from hposweep.errors import ConfigError
from hposweep.spacefile import SearchSpace, load_config, normalize_parameters, space_table_rows
from hposweep.spacefile.wandb_command import interpreter

SPACES = Path(__file__).resolve().parent.parent / "spaces"


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


def load(tmp_path: Path, text: str):
    return load_config(write(tmp_path, text))


# --------------------------------------------------------------------------------------------
# Bad files: (id, yaml, substrings of the message, parameter, line)
# --------------------------------------------------------------------------------------------
BAD = [
    ("yaml-unclosed-flow", """
        parameters:
          a: {type: int, low: 1, high: 2
        b: 3
        """, ["YAML syntax error", "not closed"], None, 3),
    ("yaml-tab", "parameters:\n\ta: 1\n", ["YAML syntax error", "tabs"], None, 2),
    ("yaml-bad-indent", """
        parameters:
          a: 1
         b: 2
        """, ["YAML syntax error"], None, 3),
    ("yaml-unsafe-tag", """
        parameters:
          a: !!python/object/apply:os.system [ls]
        """, ["YAML syntax error", "could not determine a constructor"], None, 2),
    ("empty-file", "\n", ["file is empty"], None, None),
    ("comments-only", "# nothing here\n", ["file is empty"], None, None),
    ("top-level-list", "- a\n- b\n", ["top level must be a mapping", "list"], None, 1),
    ("missing-parameters", "metric: loss\n", ["missing `parameters:`"], None, 1),
    ("unknown-top-key-typo", """
        metric: loss
        paramters:
          a: 1
        """, ["unknown top-level key 'paramters'", "did you mean 'parameters'"], None, 2),
    ("param-at-top-level", """
        parameters:
          a: 1
        learning_rate: 0.1
        """, ["unknown top-level key 'learning_rate'", "go under `parameters:`"], None, 3),
    ("parameters-is-list", """
        metric: loss
        parameters:
          - a
        """, ["must be a non-empty mapping", "list"], None, 2),
    ("parameters-empty", """
        parameters: {}
        """, ["must be a non-empty mapping"], None, 1),
    ("unknown-type", """
        parameters:
          a: {type: int, low: 1, high: 2}
          b:
            type: flaot
            low: 1
            high: 2
        """, ["unknown type 'flaot'", "did you mean 'float'"], "b", 4),
    ("low-ge-high", """
        parameters:
          lr:
            type: float
            high: 0.1
            low: 0.5
        """, ["low (0.5) must be less than high (0.1)", "swap"], "lr", 5),
    ("log-low-zero", """
        parameters:
          lr:
            type: float
            log: true
            low: 0
            high: 1
        """, ["log scale needs low > 0"], "lr", 5),
    ("step-does-not-divide", """
        parameters:
          x:
            type: float
            low: 0
            high: 1
            step: 0.3
        """, ["step 0.3 does not divide the range", "set high to 0.9"], "x", 6),
    ("step-larger-than-range", """
        parameters:
          n: {type: int, low: 1, high: 3, step: 5}
          m: 1
        """, ["step 5 is larger than the range"], "n", 2),
    ("empty-choices", """
        parameters:
          opt: {type: categorical, choices: []}
        """, ["choices is empty"], "opt", 2),
    ("duplicate-choice", """
        parameters:
          opt:
            type: categorical
            choices:
              - adam
              - sgd
              - adam
        """, ["choice 'adam' is listed twice"], "opt", 7),
    ("duplicate-choice-yes-true", """
        parameters:
          flag: {type: categorical, choices: [yes, true]}
        """, ["listed twice", "quote them"], "flag", 2),
    ("unknown-spec-key", """
        parameters:
          lr:
            type: float
            low: 0.1
            hgih: 1.0
        """, ["unknown key 'hgih'", "did you mean 'high'"], "lr", 5),
    ("wandb-key-with-type", """
        parameters:
          lr: {type: float, min: 0.1, max: 1.0}
        """, ["unknown key 'min'", "W&B syntax"], "lr", 2),
    ("missing-high", """
        parameters:
          lr: {type: float, low: 0.1}
        """, ["missing 'high'"], "lr", 2),
    ("int-fractional-low", """
        parameters:
          n:
            type: int
            low: 1.5
            high: 4
        """, ["low of an int parameter must be a whole number"], "n", 4),
    ("low-not-a-number", """
        parameters:
          n:
            type: float
            low: small
            high: 4
        """, ["low must be a number, got 'small'"], "n", 4),
    ("log-not-bool", """
        parameters:
          n:
            type: float
            low: 1
            high: 4
            log: "true"
        """, ["log must be true or false"], "n", 6),
    ("when-unknown-parent", """
        parameters:
          optimizer: {type: categorical, choices: [adam, sgd]}
          momentum:
            type: float
            low: 0.8
            high: 0.99
            when: {optimzer: sgd}
        """, ["`when:` names unknown parameter 'optimzer'", "did you mean 'optimizer'"], "momentum", 7),
    ("when-value-never-taken", """
        parameters:
          optimizer: {type: categorical, choices: [adam, sgd]}
          momentum:
            type: float
            low: 0.8
            high: 0.99
            when: {optimizer: rmsprop}
        """, ["can never hold", "never takes 'rmsprop'", "its choices are"], "momentum", 7),
    ("when-not-a-mapping", """
        parameters:
          a: {type: categorical, choices: [x, y]}
          b:
            type: int
            low: 1
            high: 2
            when: a
        """, ["when must map a parameter"], "b", 7),
    ("when-cycle", """
        parameters:
          a: {type: categorical, choices: [x, y], when: {b: 1}}
          b: {type: categorical, choices: [1, 2], when: {a: x}}
        """, ["conditions form a cycle: a -> b -> a"], "a", 2),
    ("bad-direction", """
        metric: acc
        direction: maximise
        parameters:
          a: 1
        """, ["`direction`", "maximise", "did you mean 'maximize'"], None, 2),
    ("wandb-bad-goal", """
        metric: {name: acc, goal: up}
        parameters:
          a: 1
        """, ["`metric`", "minimize or maximize"], None, 1),
    ("trials-not-int", """
        parameters:
          a: 1
        trials: ten
        """, ["`trials`", "whole number > 0", "'ten'"], None, 3),
    ("trials-zero", """
        trials: 0
        parameters:
          a: 1
        """, ["`trials`", "whole number > 0"], None, 1),
    ("seed-negative", """
        seed: -1
        parameters:
          a: 1
        """, ["`seed`", ">= 0"], None, 1),
    ("command-bad-item", """
        parameters:
          a: 1
        command: [python, {x: 1}]
        """, ["`command`", "must be strings"], None, 3),
    ("metric-and-metrics", """
        metric: loss
        metrics: [{name: acc, direction: maximize}]
        parameters:
          a: 1
        """, ["`metrics`", "cannot be combined"], None, 2),
    ("run-cap-disagrees", """
        trials: 10
        run_cap: 20
        parameters:
          a: 1
        """, ["`run_cap`", "disagrees"], None, 2),
    ("unknown-wandb-method", """
        method: bayesian
        parameters:
          a: 1
        """, ["unknown W&B method", "did you mean 'bayes'"], None, 1),
    ("duplicate-parameter", """
        parameters:
          lr: {type: float, low: 0.1, high: 1.0}
          layers: 3
          lr: 0.5
        """, ["key 'lr' is defined twice (first on line 2)", "silently"], "lr", 4),
    ("duplicate-sub-key", """
        parameters:
          lr:
            type: float
            low: 0.1
            high: 1.0
            low: 0.2
        """, ["key 'low' is defined twice (first on line 4)"], "lr", 6),
    ("duplicate-top-level-key", """
        metric: loss
        parameters:
          a: 1
        metric: acc
        """, ["top-level key 'metric' is defined twice (first on line 1)"], None, 4),
    ("bare-list", """
        parameters:
          a: 1
          opt: [adam, sgd]
        """, ["a bare list is not a parameter spec", "choices"], "opt", 3),
    ("null-param", """
        parameters:
          a:
          b: 1
        """, ["has no value"], "a", 2),
    ("native-mixed-with-wandb", """
        parameters:
          a: {low: 1, max: 3}
        """, ["mixes native keys", "W&B keys"], "a", 2),
    ("wandb-normal", """
        parameters:
          a:
            distribution: normal
            mu: 0
            sigma: 1
        """, ["normal distributions", "not supported", "log_uniform_values"], "a", 4),
    ("wandb-q-normal", """
        parameters:
          a:
            distribution: q_normal
        """, ["'q_normal' is not supported", "uniform"], "a", 3),
    ("wandb-unknown-distribution", """
        parameters:
          a:
            distribution: log_uniform_value
            min: 1
            max: 2
        """, ["unknown distribution 'log_uniform_value'", "did you mean 'log_uniform_values'"], "a", 3),
    ("wandb-probabilities", """
        parameters:
          a:
            values: [x, y]
            probabilities: [0.2, 0.8]
        """, ["`probabilities` is not supported"], "a", 4),
    ("wandb-q-log-with-step", """
        parameters:
          batch:
            distribution: q_log_uniform_values
            min: 8
            max: 256
            q: 8
        """, ["log scale with a step q=8 is not supported"], "batch", 6),
    ("wandb-min-ge-max", """
        parameters:
          a: {min: 5, max: 1}
        """, ["low (5) must be less than high (1)"], "a", 2),
    ("wandb-nested-extra-key", """
        parameters:
          opt:
            type: float
            parameters:
              lr: {min: 0.1, max: 1.0}
        """, ["nested `parameters:` block cannot also have type"], "opt", 3),
    ("prior-typo", """
        parameters:
          a: 1
          lr: lognuiform(1e-5, 1e-1)
        """, ["unknown prior 'lognuiform(...)'", "did you mean 'loguniform'"], "lr", 3),
    ("prior-arg-count", """
        parameters:
          lr: loguniform(1e-5)
        """, ["loguniform(...): takes 2 numbers (low, high), got 1"], "lr", 2),
    ("prior-bad-args", """
        parameters:
          lr: "uniform(0, [)"
        """, ["cannot read the arguments of uniform"], "lr", 2),
    ("prior-bad-number", """
        parameters:
          n: randint(1, many)
        """, ["randint(...): high must be a number"], "n", 2),
    ("prior-log-negative", """
        parameters:
          lr: loguniform(-1, 1)
        """, ["log scale needs low > 0"], "lr", 2),
]


@pytest.mark.parametrize(("text", "needles", "param", "line"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_file_is_a_located_config_error(tmp_path: Path, text: str, needles: list[str], param, line) -> None:
    path = write(tmp_path, text) if text.strip() else str(tmp_path / "space.yaml")
    if not text.strip():
        Path(path).write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    message = str(err)
    assert err.exit_code == 2
    for needle in needles:
        assert needle in message, message
    assert err.source == path
    assert message.startswith(path)
    assert err.param == param, message
    if param is not None:
        assert f"parameter '{param}'" in message
    assert err.line == line, message
    if line is not None:
        assert message.startswith(f"{path}:{line}:")
    assert err.hint and f"hint: {err.hint}" in message  # every error says how to fix it


def test_bad_cases_are_many_and_distinct() -> None:
    assert len(BAD) >= 25
    assert len({b[0] for b in BAD}) == len(BAD)


def test_yaml_error_has_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "parameters:\n  a: {type: int, low: 1, high: 2\n")
    assert info.value.column is not None


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="file not found") as info:
        load_config(path)
    assert info.value.source == path


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"parameters:\n  a: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_config(str(path))
    assert info.value.line == 2


def test_from_dict_errors_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match="did you mean 'float'") as info:
        SearchSpace.from_dict({"lr": {"type": "flot", "low": 0, "high": 1}}, source="api")
    assert info.value.param == "lr"
    assert info.value.source == "api"


# --------------------------------------------------------------------------------------------
# Good files
# --------------------------------------------------------------------------------------------
def test_full_mlp_example() -> None:
    cfg = load_config(str(SPACES / "mlp.yaml"))
    space = cfg.space
    assert cfg.settings == {"metric": "val_loss", "direction": "minimize"}
    assert cfg.source.endswith("mlp.yaml")
    assert space["lr"] == FloatParam("lr", low=1e-5, high=0.1, log=True)
    assert space["dropout"].step == 0.05 and space["dropout"].n_values() == 11
    assert isinstance(space["layers"], IntParam) and space["layers"].values() == list(range(1, 9))
    assert isinstance(space["width"], IntParam) and space["width"].log
    assert space["batch"].choices == (16, 32, 64, 128)
    assert space["optimizer"].choices == ("adam", "sgd", "adamw")
    assert space["momentum"].is_active({"optimizer": "sgd"})
    assert not space["momentum"].is_active({"optimizer": "adam"})
    assert space["beta2"].is_active({"optimizer": "adamw"})
    assert isinstance(space["epochs"], FixedParam) and space["epochs"].value == 20
    assert space.n_configs() is None  # lr is continuous
    assert cfg.param_lines["lr"] < cfg.param_lines["epochs"]
    assert space.complete({"optimizer": "adam", "momentum": 0.9, "beta2": 0.95})["epochs"] == 20


@pytest.mark.parametrize("path", sorted(SPACES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_space_loads_and_round_trips(path: Path) -> None:
    cfg = load_config(str(path))
    assert len(cfg.space) > 0
    assert SearchSpace.from_json(cfg.space.to_json()) == cfg.space
    assert hposweep.load_space(str(path)) == cfg.space
    assert len(space_table_rows(cfg.space)) == len(cfg.space)


def test_example_files_we_ship_exist() -> None:
    for name in ("mlp.yaml", "wandb_sweep.yaml", "priors.yaml", "grid.yaml"):
        assert (SPACES / name).is_file()
    assert load_config(str(SPACES / "grid.yaml")).space.n_configs() == 36


def test_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    space = load(tmp_path, """
        parameters:
          lr: {type: float, low: 1e-5, high: 1E-1, log: true}
          wd: {type: float, low: "1e-6", high: "0.01"}
          n: {type: int, low: "1", high: 1e3}
          eps: 1e-8
          big: 2e5
        """).space
    assert space["lr"].low == 1e-5 and space["lr"].high == 0.1
    assert space["wd"].low == 1e-6
    assert space["n"].high == 1000 and isinstance(space["n"].high, int)
    assert space["eps"].value == 1e-8
    assert space["big"].value == 200000.0


def test_type_inferred_from_native_keys() -> None:
    specs = normalize_parameters({"a": {"low": 1, "high": 4}, "b": {"low": 0, "high": 0.5}, "c": {"choices": [1, 2]}})
    assert specs["a"]["type"] == "int"
    assert specs["b"]["type"] == "float"
    assert specs["c"] == {"type": "categorical", "choices": [1, 2]}


def test_plain_scalars_are_fixed() -> None:
    specs = normalize_parameters({"a": 3, "b": 0.5, "c": "relu", "d": True, "e": "relu(x)", "f": {"value": None}})
    assert specs == {
        "a": {"type": "fixed", "value": 3},
        "b": {"type": "fixed", "value": 0.5},
        "c": {"type": "fixed", "value": "relu"},
        "d": {"type": "fixed", "value": True},
        "e": {"type": "fixed", "value": "relu(x)"},
        "f": {"type": "fixed", "value": None},
    }


def test_native_fixed_type(tmp_path: Path) -> None:
    space = load(tmp_path, """
        parameters:
          cfg: {type: fixed, value: {depth: 3, act: relu}}
          when_date: 2024-01-02
        """).space
    assert space["cfg"].value == {"depth": 3, "act": "relu"}
    assert space["when_date"].value == "2024-01-02"  # dates stay strings


def test_wandb_syntax(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        program: train.py
        name: s
        description: d
        project: p
        entity: e
        early_terminate: {type: hyperband, min_iter: 3}
        method: bayes
        run_cap: 12
        metric: {name: acc, goal: maximize, target: 0.99}
        parameters:
          exp_lr: {distribution: log_uniform, min: -2, max: 0}
          lr: {distribution: log_uniform_values, min: 1.0e-4, max: 0.1}
          inv: {distribution: inv_log_uniform_values, min: 0.01, max: 1}
          inv_exp: {distribution: inv_log_uniform, min: 0, max: 2}
          layers: {min: 1, max: 4}
          drop: {min: 0.0, max: 0.5}
          qd: {distribution: q_uniform, min: 0, max: 1, q: 0.25}
          qi: {min: 0, max: 10, q: 2}
          iu: {distribution: int_uniform, min: 2, max: 5}
          u: {distribution: uniform, min: 1, max: 2}
          width: {distribution: q_log_uniform_values, min: 16, max: 256}
          batch: {values: [16, 32]}
          cat: {distribution: categorical, values: [a, b]}
          epochs: {value: 7}
          const: {distribution: constant, value: x}
        """)
    s = cfg.space
    # issue 14 item 6: metric.target and early_terminate are read, no longer dropped
    assert cfg.settings == {"metric": "acc", "direction": "maximize", "sampler": "tpe", "trials": 12,
                            "metric_target": 0.99, "command": [interpreter(), "train.py", "{args}"],
                            "pruner": {"name": "hyperband", "reduction_factor": 3, "min_resource": 3}}
    assert math.isclose(s["exp_lr"].low, math.exp(-2)) and math.isclose(s["exp_lr"].high, 1.0) and s["exp_lr"].log
    assert (s["lr"].low, s["lr"].high, s["lr"].log) == (1e-4, 0.1, True)
    assert s["inv"].log and s["inv"].low == 0.01
    assert math.isclose(s["inv_exp"].low, math.exp(-2)) and math.isclose(s["inv_exp"].high, 1.0)
    assert isinstance(s["layers"], IntParam) and (s["layers"].low, s["layers"].high) == (1, 4)
    assert isinstance(s["drop"], FloatParam)
    assert isinstance(s["qd"], FloatParam) and s["qd"].values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert isinstance(s["qi"], IntParam) and s["qi"].values() == [0, 2, 4, 6, 8, 10]
    assert isinstance(s["iu"], IntParam)
    assert isinstance(s["u"], FloatParam) and s["u"].low == 1.0
    assert isinstance(s["width"], IntParam) and s["width"].log
    assert s["batch"].choices == (16, 32) and s["cat"].choices == ("a", "b")
    assert s["epochs"].value == 7 and s["const"].value == "x"


def test_wandb_method_mapping_and_explicit_sampler(tmp_path: Path) -> None:
    for method, sampler in (("random", "random"), ("grid", "grid"), ("bayes", "tpe")):
        cfg = load(tmp_path, f"method: {method}\nparameters:\n  a: {{values: [1, 2]}}\n")
        assert cfg.settings["sampler"] == sampler
    cfg = load(tmp_path, "method: bayes\nsampler: {name: tpe, n_startup_trials: 5}\nparameters:\n  a: 1\n")
    assert cfg.settings["sampler"] == {"name": "tpe", "n_startup_trials": 5}


def test_wandb_nested_parameters_are_flattened(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        parameters:
          optimizer:
            parameters:
              name: {values: [adam, sgd]}
              momentum: {min: 0.5, max: 0.9, when: {optimizer.name: sgd}}
              sched:
                parameters:
                  warmup: {values: [0, 100]}
          epochs: 3
        """)
    assert list(cfg.space.params) == ["optimizer.name", "optimizer.momentum", "optimizer.sched.warmup", "epochs"]
    assert cfg.space["optimizer.momentum"].is_active({"optimizer.name": "sgd"})
    assert cfg.param_lines["optimizer.sched.warmup"] == 8


def test_nested_error_names_dotted_parameter(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, """
            parameters:
              optimizer:
                parameters:
                  lr: {min: 1.0, max: 0.1}
            """)
    assert info.value.param == "optimizer.lr"
    assert info.value.line == 4


def test_priors(tmp_path: Path) -> None:
    s = load(tmp_path, """
        parameters:
          lr: loguniform(1e-5, 1e-1)
          m: uniform(0, 1)
          d: quniform(0, 1, 0.1)
          n: randint(1, 8)
          h: qrandint(2, 8, 2)
          w: logint(8, 1024)
          q: qloguniform(8, 64, 1)
          act: choice([relu, gelu, 3])
          act2: choice(a, b)
          spaced: "  uniform( -1 , 1 )  "
        """).space
    assert s["lr"] == FloatParam("lr", low=1e-5, high=0.1, log=True)
    assert s["m"] == FloatParam("m", low=0.0, high=1.0)
    assert s["d"].n_values() == 11
    assert s["n"].values() == list(range(1, 9))  # both ends included
    assert s["h"].values() == [2, 4, 6, 8]
    assert isinstance(s["w"], IntParam) and s["w"].log
    assert isinstance(s["q"], IntParam) and s["q"].log
    assert s["act"].choices == ("relu", "gelu", 3)
    assert s["act2"].choices == ("a", "b")
    assert (s["spaced"].low, s["spaced"].high) == (-1.0, 1.0)


def test_prior_arguments_are_never_evaluated() -> None:
    specs = normalize_parameters({"c": "choice([__import__('os'), 2])"})
    assert specs["c"]["choices"] == ["__import__('os')", 2]


def test_conditional_space_with_nested_conditions(tmp_path: Path) -> None:
    space = load(tmp_path, """
        parameters:
          # children listed before parents: the space orders parents first
          lr_decay: {type: float, low: 0.1, high: 0.9, step: 0.4, when: {schedule: step}}
          schedule: {type: categorical, choices: [none, step], when: {optimizer: sgd}}
          optimizer: {type: categorical, choices: [adam, sgd]}
          beta1: {type: categorical, choices: [0.9, 0.95], when: {optimizer: adam}}
        """).space
    names = list(space.params)
    assert names.index("optimizer") < names.index("schedule") < names.index("lr_decay")
    grid = list(space.grid())
    # adam: 2 beta1; sgd: none -> 1, step -> 3 lr_decay values
    assert len(grid) == space.n_configs() == 6
    assert {"optimizer": "sgd", "schedule": "step", "lr_decay": 0.5} in grid
    assert space.complete({"optimizer": "adam", "schedule": "step", "lr_decay": 0.5, "beta1": 0.9}) == {
        "optimizer": "adam",
        "beta1": 0.9,
    }
    assert [r[4] for r in space_table_rows(space)].count("") == 1


def test_booleans_null_and_mixed_choices(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        parameters:
          flag: {type: categorical, choices: [true, false]}
          mixed: {type: categorical, choices: [1, "1", 1.5, true, null, x, [1, 2]]}
          opt_in:
            type: int
            low: 1
            high: 2
            when: {flag: true}
        """)
    space = cfg.space
    assert space["mixed"].choices == (1, "1", 1.5, True, None, "x", [1, 2])
    assert space["opt_in"].is_active({"flag": True})
    assert not space["opt_in"].is_active({"flag": 1})  # True is not 1 here
    assert SearchSpace.from_json(space.to_json()) == space
    rows = dict((r[0], r) for r in space_table_rows(space))
    assert rows["mixed"][2] == "1, 1, 1.5, true, null, x, [1, 2]"
    assert rows["opt_in"][4] == "flag = true"


def test_yaml_anchors_and_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    space = load(tmp_path, """
        parameters:
          base: &range {type: float, low: 0.0, high: 1.0}
          other:
            <<: *range
            high: 2.0
        """).space
    assert space["other"].high == 2.0 and space["other"].low == 0.0


def test_settings_normalized(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        metrics:
          - {name: loss, direction: minimize}
          - {name: acc, direction: maximize}
          - latency
        sampler: random
        pruner: {name: median, warmup_steps: 2}
        trials: 25
        seed: 0
        command: [python, train.py, --epochs, 3]
        parameters:
          a: 1
        """)
    assert cfg.settings == {
        "metrics": [
            {"name": "loss", "direction": "minimize"},
            {"name": "acc", "direction": "maximize"},
            {"name": "latency", "direction": "minimize"},
        ],
        "sampler": "random",
        "pruner": {"name": "median", "warmup_steps": 2},
        "trials": 25,
        "seed": 0,
        "command": ["python", "train.py", "--epochs", "3"],
    }
    assert type(cfg.settings["pruner"]) is dict


def test_metric_defaults_to_minimize_and_command_string(tmp_path: Path) -> None:
    cfg = load(tmp_path, "metric: loss\ncommand: python train.py --lr {lr}\nparameters:\n  a: 1\n")
    assert cfg.settings == {"metric": "loss", "direction": "minimize", "command": "python train.py --lr {lr}"}


def test_space_table_rows() -> None:
    space = SearchSpace.from_dict({
        "lr": "loguniform(1e-5, 0.1)",
        "drop": {"type": "float", "low": 0, "high": 0.5, "step": 0.1},
        "n": {"type": "int", "low": 1, "high": 8},
        "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        "mom": {"type": "float", "low": 0.5, "high": 0.9, "when": {"opt": ["sgd", "adam"]}},
        "epochs": 20,
    })
    assert space_table_rows(space) == [
        ("lr", "float", "1e-05 .. 0.1", "log", ""),
        ("drop", "float", "0 .. 0.5", "step 0.1", ""),
        ("n", "int", "1 .. 8", "linear", ""),
        ("opt", "categorical", "adam, sgd", "-", ""),
        ("mom", "float", "0.5 .. 0.9", "linear", "opt in {sgd, adam}"),
        ("epochs", "fixed", "20", "-", ""),
    ]


def test_normalized_specs_are_plain_and_accepted_by_from_json(tmp_path: Path) -> None:
    cfg = load(tmp_path, "parameters:\n  a: {values: [[1, 2], {k: v}]}\n  b: {value: [1]}\n")
    data = cfg.space.to_json()
    assert type(data["a"]["choices"][1]) is dict and type(data["b"]["value"]) is list
    assert SearchSpace.from_json(data) == cfg.space
    assert isinstance(cfg.space["a"], CategoricalParam)


def test_top_level_direction_is_the_default_for_metrics(tmp_path: Path) -> None:
    text = "direction: maximize\nmetrics: [acc, {name: loss, direction: minimize}]\nparameters:\n  a: 1\n"
    cfg = load(tmp_path, text)
    assert cfg.settings["metrics"] == [
        {"name": "acc", "direction": "maximize"},
        {"name": "loss", "direction": "minimize"},
    ]
