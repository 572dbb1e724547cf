"""What a study explores: a grid (SweepSpec) or a tuning space (TuneSpec), each with its sampler, pruner and
the plan that says, from a study's trials, whether a worker should run a trial, wait, or stop."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from typing import Any, ClassVar

import optuna
from optuna.trial import FrozenTrial, TrialState

from aecore import datasets
from aecore.config import LIMITS, ONECYCLE_WARMUP, RECIPE_DEFAULTS, ConfigError, RunConfig
from aecore.sweep import sweep_configs

SPEC_ATTR = "aecore_spec"  # the study's user attribute that records the spec it was made from
BATCH_SIZES = (32, 64, 128, 256)


class StudyError(RuntimeError):
    """A study or its storage cannot be used; the message says which and what to do."""


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A grid: every model x bottleneck x seed, with the recipe's defaults and the shared overrides.

    A study over a grid is done when every point has a run (or diverged); workers take points through
    Optuna's GridSampler.
    """

    kind: ClassVar[str] = "sweep"
    one_trial_per_config: ClassVar[bool] = True  # a trial gives way to a twin with the same grid point
    models: tuple[str, ...]
    bottlenecks: tuple[int, ...]
    seeds: tuple[int, ...] = (0,)
    recipe: str = "onecycle"
    epochs: int | None = None
    dataset: str = datasets.DEFAULT_DATASET
    train_limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("models", "bottlenecks", "seeds"):
            object.__setattr__(self, name, tuple(dict.fromkeys(getattr(self, name))))
        self.configs()  # raises ConfigError naming the bad value

    def configs(self) -> list[RunConfig]:
        """Every grid point's config, in grid order."""
        return sweep_configs(self.models, self.bottlenecks, self.recipe, seeds=self.seeds, **self._overrides())

    def _overrides(self) -> dict[str, Any]:
        epochs = {} if self.epochs is None else {"epochs": self.epochs}
        return {"dataset": self.dataset, "train_limit": self.train_limit, **epochs}

    @property
    def size(self) -> int:
        return len(self.models) * len(self.bottlenecks) * len(self.seeds)

    @property
    def search_space(self) -> dict[str, list]:
        return {"model": list(self.models), "bottleneck": list(self.bottlenecks), "seed": list(self.seeds)}

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def default_name(self) -> str:
        def joined(values: tuple) -> str:
            return "-".join(map(str, values))

        return (
            f"sweep-{'+'.join(self.models)}-b{joined(self.bottlenecks)}-s{joined(self.seeds)}-"
            f"{_digest(self.identity())}"
        )

    def sampler(self, seed: int | None) -> optuna.samplers.BaseSampler:
        return _GridSampler(self.search_space, seed=seed)

    def pruner(self) -> optuna.pruners.BasePruner:
        return optuna.pruners.NopPruner()

    def config(self, trial: optuna.Trial) -> RunConfig:
        params = {name: trial.suggest_categorical(name, values) for name, values in self.search_space.items()}
        return RunConfig.for_recipe(params["model"], self.recipe, bottleneck=params["bottleneck"],
                                    seed=params["seed"], **self._overrides())  # fmt: skip

    def plan(self, trials: list[FrozenTrial]) -> tuple[str, list[dict[str, Any]], int]:
        """("run" | "wait" | "done", grid points to queue again, points started or done).

        A point is done with a finished run or a permanent failure; pending while a trial for it runs or
        waits; to retry when its only trials failed for a reason outside the config (killed, cancelled).
        A trial that died before it drew its point, or gave way to a twin, still counts as a visit for the grid
        sampler, which would then never hand that point out: after one, every untouched point is queued.
        """
        names = list(self.search_space)
        points = set(itertools.product(*self.search_space.values()))
        done, pending, failed = set(), set(), set()
        unknown = lost = 0  # running trials that have not drawn their point yet; finished ones that never did
        for trial in trials:
            params = trial_params(trial)
            point = tuple(params.get(name) for name in names) if all(n in params for n in names) else None
            if "duplicate_of" in trial.user_attrs:
                lost += 1  # its twin holds the point; should the twin die, the point must be queued explicitly
            elif trial.state in (TrialState.RUNNING, TrialState.WAITING):
                unknown += point is None
                pending.add(point)
            elif point is None:
                lost += 1
            elif trial.state != TrialState.FAIL or "error" in trial.user_attrs:
                done.add(point)
            else:
                failed.add(point)
        untouched = points - done - pending - failed
        retry = sorted(((failed - done - pending) & points) | (untouched if lost else set()))
        started = len(points & (done | pending)) + unknown
        waiting = any(t.state == TrialState.WAITING for t in trials)
        action = "run" if retry or waiting or len(untouched) > unknown else "wait" if pending else "done"
        return action, [dict(zip(names, point, strict=True)) for point in retry], started


@dataclasses.dataclass(frozen=True)
class TuneSpec:
    """TPE over one model's learning rate (log scale), epochs and batch size, minimising validation loss.

    Trials report the validation loss after every epoch; a trial worse than the median of earlier trials at
    the same epoch (from `warmup_epochs` on, after `startup_trials` full trials) is pruned and saves no run.
    `trials` counts finished trials across all workers and reruns; raise it to extend a study.
    """

    kind: ClassVar[str] = "tune"
    one_trial_per_config: ClassVar[bool] = False  # TPE may repeat a config in a small space: the run is reused
    model: str
    trials: int = 20
    learning_rates: tuple[float, float] | None = None  # default: the recipe's rate / 10 to x 10
    epochs: tuple[int, int] | None = None  # default: a quarter of the recipe's epochs to all of them
    batch_sizes: tuple[int, ...] = BATCH_SIZES
    recipe: str = "onecycle"
    bottleneck: int | None = None  # default: the model's
    seed: int = 0
    dataset: str = datasets.DEFAULT_DATASET
    train_limit: int | None = None
    startup_trials: int = 5  # sampled at random and never pruned, before TPE and pruning start
    # The first epoch at which a trial can be pruned. Default: for onecycle, the end of the longest trial's
    # warm-up (30% of its steps): before it a trial's loss says how far its warm-up has got, not where it ends
    # (a 12-trial study with pruning from epoch 2 pruned every TPE trial; BENCHMARKS.md); for other recipes 2.
    warmup_epochs: int | None = None

    def __post_init__(self) -> None:
        base = RunConfig.for_recipe(self.model, self.recipe, seed=self.seed, dataset=self.dataset,
                                    train_limit=self.train_limit,
                                    **({} if self.bottleneck is None else {"bottleneck": self.bottleneck}))  # fmt: skip
        budget = RECIPE_DEFAULTS[self.recipe].budget(self.model)
        if self.learning_rates is None:
            low, high = LIMITS["learning_rate"]
            rates = (max(budget.learning_rate / 10, low), min(budget.learning_rate * 10, high))
            object.__setattr__(self, "learning_rates", rates)
        if self.epochs is None:
            object.__setattr__(self, "epochs", (max(1, budget.epochs // 4), budget.epochs))
        if self.warmup_epochs is None:
            warmup = math.ceil(ONECYCLE_WARMUP * max(self.epochs)) if self.recipe == "onecycle" else 2
            object.__setattr__(self, "warmup_epochs", warmup)
        object.__setattr__(self, "bottleneck", base.bottleneck)
        object.__setattr__(self, "learning_rates", tuple(float(x) for x in self.learning_rates))
        object.__setattr__(self, "epochs", tuple(self.epochs))
        object.__setattr__(self, "batch_sizes", tuple(dict.fromkeys(self.batch_sizes)))
        _check_range("learning_rates", self.learning_rates)
        _check_range("epochs", self.epochs)
        if not self.batch_sizes:
            raise ConfigError("give at least one batch size")
        for lr in self.learning_rates:
            for epochs in self.epochs:
                for batch_size in self.batch_sizes:  # every corner is a valid config
                    dataclasses.replace(base, learning_rate=lr, epochs=epochs, batch_size=batch_size)
        for name in ("trials", "startup_trials", "warmup_epochs"):
            value = getattr(self, name)
            minimum = 1 if name == "trials" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"{name} must be a whole number >= {minimum}; got {value!r}")

    @property
    def size(self) -> int:
        return self.trials

    def identity(self) -> dict[str, Any]:
        """What a study's trials depend on; trials, startup_trials and warmup_epochs may change on a rerun."""
        values = dataclasses.asdict(self)
        for name in ("trials", "startup_trials", "warmup_epochs"):
            values.pop(name)
        return {"kind": self.kind, **values}

    def default_name(self) -> str:
        return f"tune-{self.model}-b{self.bottleneck}-s{self.seed}-{self.recipe}-{_digest(self.identity())}"

    def sampler(self, seed: int | None) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(n_startup_trials=self.startup_trials, seed=seed)

    def pruner(self) -> optuna.pruners.BasePruner:
        return optuna.pruners.MedianPruner(n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_epochs)

    def config(self, trial: optuna.Trial) -> RunConfig:
        return RunConfig.for_recipe(
            self.model,
            self.recipe,
            bottleneck=self.bottleneck,
            seed=self.seed,
            dataset=self.dataset,
            train_limit=self.train_limit,
            learning_rate=trial.suggest_float("learning_rate", *self.learning_rates, log=True),
            epochs=trial.suggest_int("epochs", *self.epochs),
            batch_size=trial.suggest_categorical("batch_size", list(self.batch_sizes)),
        )

    def plan(self, trials: list[FrozenTrial]) -> tuple[str, list[dict[str, Any]], int]:
        """Killed or cancelled trials do not count: TPE samples a replacement."""
        counted = [t for t in trials if t.state != TrialState.FAIL or "error" in t.user_attrs]
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if waiting or len(counted) < self.trials:
            return "run", [], len(counted)
        running = any(t.state == TrialState.RUNNING for t in trials)
        return ("wait" if running else "done"), [], len(counted)


class _GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its stop-the-study step: the runner decides when a grid is done."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's parameters, or those it was queued with when it has not started."""
    return trial.params or trial.system_attrs.get("fixed_params", {})


def _check_range(name: str, pair: tuple) -> None:
    if len(pair) != 2 or not pair[0] <= pair[1]:
        raise ConfigError(f"{name} must be two values, low then high; got {' '.join(map(str, pair))}")


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:6]
