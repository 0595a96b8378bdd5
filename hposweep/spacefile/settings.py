"""The study settings written beside ``parameters:`` in a space file (metric, direction, sampler, ...).

Each top-level key is checked here and errors point at that key's line. W&B's top-level keys are
accepted so a W&B sweep file loads as it is (``method:`` picks the sampler, ``run_cap:`` the trials).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hposweep.core.objectives import DIRECTIONS
from hposweep.errors import ConfigError, did_you_mean
from hposweep.spacefile import wandb_command
from hposweep.spacefile.source import ValueTooLarge, key_mark, plain
from hposweep.spacefile.tracking import parse_tracking

SETTING_KEYS = ("parameters", "metric", "direction", "metrics", "sampler", "pruner", "trials", "seed", "command",
                "constraints", "warm_start", "tracking", "on_trial_end")
#: W&B sweep keys accepted at the top level so a W&B file loads as it is
WANDB_KEYS = ("program", "method", "name", "description", "project", "entity", "early_terminate", "run_cap")
WANDB_METHODS = {"random": "random", "grid": "grid", "bayes": "tpe"}


class StudySettings:
    """Checks the top-level keys other than ``parameters``; errors point at the offending key."""

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.out: dict[str, Any] = {}

    def error(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        line, column = key_mark(self.data, key) or (None, None)
        return ConfigError(f"`{key}`: {message}", source=self.source, line=line, column=column, hint=hint)

    def normalize(self) -> dict[str, Any]:
        self._check_keys()
        self._metric()
        self._metrics()
        self._sampler_and_pruner()
        self._early_terminate()
        self._trials_and_seed()
        self._command()
        self._constraints_and_warm_start()
        self._tracking()
        self._on_trial_end()
        return self.out

    def _constraints_and_warm_start(self) -> None:
        """``constraints: ["memory_gb <= 10"]`` (checked here) and ``warm_start: [old.json]`` (paths or
        ``optuna:...`` sources, relative paths against the space file's folder)."""
        from hposweep.core.constraints import parse_constraints

        for key in ("constraints", "warm_start"):
            if key not in self.data:
                continue
            value = self.data[key]
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.error(key, f"must be a list of strings, got {self.data[key]!r}",
                                 'e.g. constraints: ["memory_gb <= 10"]' if key == "constraints"
                                 else "e.g. warm_start: [old_study.json]")
            if key == "constraints":
                try:
                    parse_constraints(value)
                except ConfigError as exc:
                    raise self.error(key, exc.message, exc.hint) from None
            self.out[key] = list(value)

    def _check_keys(self) -> None:
        known = SETTING_KEYS + WANDB_KEYS
        for key in self.data:
            if not isinstance(key, str) or key not in known:
                hint = did_you_mean(str(key), known) or (
                    "search parameters go under `parameters:`; other top-level keys: " + ", ".join(SETTING_KEYS[1:])
                )
                line, column = key_mark(self.data, key) or (None, None)
                raise ConfigError(
                    f"unknown top-level key '{key}'", source=self.source, line=line, column=column, hint=hint
                )
        if "parameters" not in self.data:
            raise ConfigError(
                "missing `parameters:`",
                source=self.source,
                line=1,
                hint="list the search parameters under a top-level `parameters:` mapping",
            )

    def _direction(self, key: str, value: Any) -> str:
        if value not in DIRECTIONS:
            close = did_you_mean(str(value), DIRECTIONS)
            raise self.error(key, f"must be minimize or maximize, got {value!r}", close or "minimize or maximize")
        return value

    def _metric(self) -> None:
        metric = self.data.get("metric")
        direction = None
        if "direction" in self.data:
            direction = self._direction("direction", self.data["direction"])
        if isinstance(metric, Mapping):  # W&B: {name: val_loss, goal: minimize, target: 0.1}
            for k in metric:
                if k not in ("name", "goal", "direction", "target"):
                    hint = did_you_mean(str(k), ("name", "goal", "target")) or "keys: name, goal, target"
                    raise self.error("metric", f"unknown key '{k}'", hint)
            if "goal" in metric and "direction" in metric:
                raise self.error("metric", "has both `goal` and `direction`", "keep one")
            name = metric.get("name")
            if "target" in metric:
                target = metric["target"]
                if isinstance(target, bool) or not isinstance(target, (int, float)) or target != target:
                    raise self.error("metric", f"`target` must be a number, got {target!r}", "e.g. target: 0.1")
                self.out["metric_target"] = float(target)
            if "goal" in metric or "direction" in metric:
                goal = self._direction("metric", metric.get("goal", metric.get("direction")))
                if direction is not None and goal != direction:
                    raise self.error("direction", f"says {direction} but `metric.goal` says {goal}", "keep one")
                direction = goal
            metric = name
        if metric is not None or "metric" in self.data:
            if not isinstance(metric, str) or not metric.strip():
                raise self.error("metric", f"must be a metric name, got {metric!r}", "e.g. metric: val_loss")
            self.out["metric"] = metric
            self.out["direction"] = direction or "minimize"
        elif direction is not None:
            self.out["direction"] = direction

    def _metrics(self) -> None:
        if "metrics" not in self.data:
            return
        if "metric" in self.out:
            raise self.error("metrics", "cannot be combined with `metric:`", "list every objective under `metrics:`")
        items = self.data["metrics"]
        if not isinstance(items, list) or not items:
            raise self.error("metrics", "must be a non-empty list", "e.g. metrics: [{name: loss, direction: minimize}]")
        out: list[dict[str, str]] = []
        for item in items:
            if isinstance(item, str):
                item = {"name": item}
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise self.error("metrics", f"each item needs a `name:`, got {item!r}", "e.g. {name: loss}")
            extra = set(item) - {"name", "direction", "goal"}
            if extra:
                raise self.error("metrics", f"unknown key '{sorted(map(str, extra))[0]}'", "keys: name, direction")
            default = self.data.get("direction", "minimize")  # a top-level direction applies to every metric
            direction = self._direction("metrics", item.get("direction", item.get("goal", default)))
            if any(m["name"] == item["name"] for m in out):
                raise self.error("metrics", f"'{item['name']}' is listed twice")
            out.append({"name": item["name"], "direction": direction})
        self.out["metrics"] = out

    def _sampler_and_pruner(self) -> None:
        for key in ("sampler", "pruner"):
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, Mapping):
                if not isinstance(value.get("name"), str):
                    raise self.error(key, "a mapping needs a `name:`", f"e.g. {key}: {{name: NAME, option: value}}")
                try:
                    value = plain(value)
                except ValueTooLarge as exc:
                    raise self.error(key, f"is too large: {exc}", "write the options out; drop YAML aliases") from None
            elif not isinstance(value, str) or not value.strip():
                raise self.error(key, f"must be a name or a mapping with `name:`, got {value!r}")
            self.out[key] = value
        method = self.data.get("method")
        if method is not None:
            if method not in WANDB_METHODS:
                hint = did_you_mean(str(method), WANDB_METHODS) or "W&B methods: " + ", ".join(WANDB_METHODS)
                raise self.error("method", f"unknown W&B method {method!r}", hint)
            self.out.setdefault("sampler", WANDB_METHODS[method])

    def _early_terminate(self) -> None:
        """W&B's ``early_terminate: {type: hyperband, ...}`` as the hyperband pruner, field by field.

        W&B judges runs at "bands": ``min_iter, min_iter*eta, ...``, or, given ``max_iter`` and ``s``,
        the ``s`` bands ``max_iter/eta, ..., max_iter/eta**s``. The eagerest bracket of hposweep's
        hyperband has its rungs at exactly those steps (``min_resource * eta**k``), so: ``min_iter`` ->
        ``min_resource``; ``max_iter`` -> ``max_resource`` and ``max_iter // eta**s`` -> ``min_resource``;
        ``eta`` -> ``reduction_factor`` (W&B's default 3). Hyperband's later brackets prune later, a
        hedge W&B does not make. Anything else is an error: a setting that is dropped would prune
        differently than the file says.
        """
        et = self.data.get("early_terminate")
        if et is None:
            return
        key = "early_terminate"
        example = "e.g. early_terminate: {type: hyperband, min_iter: 3, eta: 3}"
        if not isinstance(et, Mapping):
            raise self.error(key, f"must be a mapping with `type: hyperband`, got {et!r}", example)
        if "pruner" in self.data:
            raise self.error(key, "cannot be combined with `pruner:`", "keep one of them")
        if et.get("type") != "hyperband":
            raise self.error(key, f"type {et.get('type')!r} is not supported: only `type: hyperband` maps onto "
                             "a pruner", example)
        for k in et:
            if k not in ("type", "min_iter", "max_iter", "eta", "s", "strict"):
                raise self.error(key, f"unknown key '{k}'", did_you_mean(str(k), ("min_iter", "max_iter", "eta", "s"))
                                 or "keys: type, min_iter | max_iter with s, eta")
        if et.get("strict"):
            raise self.error(key, "`strict: true` has no equivalent in hposweep's hyperband pruner",
                             "remove `strict` (the default, false, is how hposweep prunes)")

        def whole(name: str, minimum: int) -> int:
            value = et[name]
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                why = " (hposweep's reduction_factor is a whole number)" if name == "eta" else ""
                raise self.error(key, f"`{name}` must be a whole number >= {minimum}, got {et[name]!r}{why}", example)
            return value

        eta = whole("eta", 2) if "eta" in et else 3
        pruner: dict[str, Any] = {"name": "hyperband", "reduction_factor": eta}
        if "min_iter" in et and "max_iter" in et:
            raise self.error(key, "has both `min_iter` and `max_iter` (W&B then ignores min_iter)",
                             "keep `min_iter`, or `max_iter` with `s`")
        if "min_iter" in et:
            if "s" in et:
                raise self.error(key, "`s` is used only with `max_iter` (W&B ignores it with min_iter)", "remove `s`")
            pruner["min_resource"] = whole("min_iter", 1)
        elif "max_iter" in et:
            if "s" not in et:
                raise self.error(key, "`max_iter` needs `s` (the number of bands below it)",
                                 "e.g. {type: hyperband, max_iter: 27, s: 2, eta: 3}: bands at 3 and 9")
            max_iter, s = whole("max_iter", 1), whole("s", 1)
            lowest = max_iter // eta**s
            if lowest < 1:
                raise self.error(key, f"max_iter/eta**s = {max_iter}/{eta}**{s} is below 1: no band to judge at",
                                 "lower `s` or `eta`, or raise `max_iter`")
            pruner.update(min_resource=lowest, max_resource=max_iter)
        else:
            raise self.error(key, "needs `min_iter`, or `max_iter` with `s`", example)
        self.out["pruner"] = pruner

    def _positive_int(self, key: str) -> int | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(key, f"must be a whole number > 0, got {value!r}", f"e.g. {key}: 50")
        return value

    def _trials_and_seed(self) -> None:
        trials, cap = self._positive_int("trials"), self._positive_int("run_cap")
        if trials is not None and cap is not None and trials != cap:
            raise self.error("run_cap", f"({cap}) disagrees with `trials:` ({trials})", "keep one of them")
        if trials or cap:
            self.out["trials"] = trials or cap
        if "seed" in self.data:
            seed = self.data["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise self.error("seed", f"must be a whole number >= 0, got {seed!r}", "e.g. seed: 42")
            self.out["seed"] = seed

    def _command(self) -> None:
        if "command" not in self.data:
            if isinstance(self.data.get("program"), str):  # W&B runs ${env} ${interpreter} ${program} ${args}
                self._wandb_command(list(wandb_command.DEFAULT_COMMAND), "program")
            return
        cmd = self.data["command"]
        hint = "e.g. command: python train.py  or  command: [python, train.py]"
        if isinstance(cmd, str):
            if not cmd.strip():
                raise self.error("command", "is empty", hint)
            self.out["command"] = cmd
            return
        if not isinstance(cmd, list) or not cmd:
            raise self.error("command", f"must be a string or a non-empty list of strings, got {cmd!r}", hint)
        words = []
        for word in cmd:
            if isinstance(word, (int, float)) and not isinstance(word, bool):
                word = str(word)
            if not isinstance(word, str):
                raise self.error("command", f"list items must be strings, got {word!r}", "quote the item")
            words.append(word)
        if wandb_command.has_macros(words):
            self._wandb_command(words, "command")
            return
        self.out["command"] = words

    def _wandb_command(self, words: list[str], key: str) -> None:
        """W&B's ``command:``/``program:`` as a hposweep template (see :mod:`.wandb_command`)."""
        try:
            self.out["command"] = wandb_command.expand(words, self.data.get("program"))
        except wandb_command.MacroError as exc:
            hint = "see README's W&B table for the macros hposweep expands"
            raise self.error(key, f"W&B command {exc}", hint) from None

    def _tracking(self) -> None:
        """``tracking: mlflow`` / ``{mlflow: {experiment: ..}}`` / a list: kept as written (plain data), checked now."""
        if "tracking" not in self.data:
            return
        try:
            value = plain(self.data["tracking"])
        except ValueTooLarge as exc:
            raise self.error("tracking", f"is too large: {exc}", "write the options out; drop YAML aliases") from None
        try:
            configs = parse_tracking(value)
        except ConfigError as exc:
            message = exc.message.removeprefix("tracking: ")
            raise self.error("tracking", message, exc.hint) from None
        if configs:
            self.out["tracking"] = value if isinstance(value, list) else [value]

    def _on_trial_end(self) -> None:
        """``on_trial_end: notify.sh {trial} {state} {value}``: a shell command run after each trial."""
        if "on_trial_end" not in self.data:
            return
        cmd = self.data["on_trial_end"]
        if not isinstance(cmd, str) or not cmd.strip():
            raise self.error("on_trial_end", f"must be a shell command (a non-empty string), got {cmd!r}",
                             "e.g. on_trial_end: notify-send 'trial {trial} {state} {value}'")
        self.out["on_trial_end"] = str(cmd)
