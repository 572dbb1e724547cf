"""Optuna studies over runs: grid sweeps and TPE tuning, resumable, shared by worker processes and machines.

A study lives in an Optuna RDB storage: by default `studies.db` (SQLite) beside the checkpoints, or any URL
such as `postgresql://user@host:5432/db` that workers on several machines reach. Every trial's model is an
ordinary run in the checkpoint registry (content-hashed, reused when it exists); a trial records the run it
produced in the user attribute `run_id`, so deleting a study never touches a run.

How a worker keeps the study consistent:
- one file lock per run id around load-or-train, so two workers handed the same config train it once;
- a trial whose worker died is failed, by a dead local process id at once or by missed heartbeats after
  `3 x heartbeat` seconds, and its grid point is queued again; a cancelled or interrupted trial likewise;
- a trial whose config diverged is failed for good (user attribute `error`): a rerun does not repeat it;
- a grid trial that finds its point running elsewhere (or done) gives way, pruned with `duplicate_of`;
- a worker returns only when the study is done: every grid point has a result, or `trials` trials finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import itertools
import json
import logging
import math
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import optuna
import pandas as pd
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from aecore import datasets, safe_io
from aecore.config import LIMITS, ONECYCLE_WARMUP, RECIPE_DEFAULTS, ConfigError, RunConfig
from aecore.data import DatasetUnavailable
from aecore.pipeline import load_or_train
from aecore.runstore import CheckpointError, RunInfo, default_checkpoint_root, read_run
from aecore.sweep import sweep_configs
from aecore.text import printable
from aecore.train import Progress, TrainingCancelled, TrainingDiverged

STORAGE_FILE = "studies.db"
HEARTBEAT_SECONDS = 10
STALE_BEATS = 3  # a trial whose worker missed this many heartbeats in a row is failed and retried
POLL_SECONDS = 1.0  # how often a worker with nothing to start looks at the study again
SPEC_ATTR = "aecore_spec"
CREATE_ATTEMPTS = 5
BATCH_SIZES = (32, 64, 128, 256)

log = logging.getLogger(__name__)


class StudyError(RuntimeError):
    """A study or its storage cannot be used; the message says which and what to do."""


# What a worker process reports to its parent as is (the CLI shows each as one line); anything else is a bug.
USER_ERRORS = (StudyError, ConfigError, CheckpointError, DatasetUnavailable, TrainingCancelled)


# --- what a study explores -----------------------------------------------------------------------


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
            params = _params(trial)
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


def _attr(attrs: Any, key: str, kind: type) -> Any:
    """`attrs[key]` when attrs is a dict and the value has the type aecore writes, else None: a study made by another
    tool may hold anything under the same names."""
    value = attrs.get(key) if isinstance(attrs, dict) else None
    if kind is int and isinstance(value, bool):
        return None
    return value if isinstance(value, kind) else None


def _params(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's parameters, or those it was queued with when it has not started."""
    return trial.params or trial.system_attrs.get("fixed_params", {})


def _check_range(name: str, pair: tuple) -> None:
    if len(pair) != 2 or not pair[0] <= pair[1]:
        raise ConfigError(f"{name} must be two values, low then high; got {' '.join(map(str, pair))}")


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:6]


# --- storage -------------------------------------------------------------------------------------


def default_storage(root: Path | None = None) -> str:
    """The storage URL beside the checkpoints: `sqlite:///<root>/studies.db`, first made from the shipped studies
    when there is none yet (see `seed_from_shipped`)."""
    root = Path(root) if root else default_checkpoint_root()
    seed_from_shipped(root)
    return f"sqlite:///{root.resolve() / STORAGE_FILE}"


SHIPPED_STORAGE_FILE = "shipped-studies.db"  # tracked in git: the studies that chose the shipped recipes
NOT_SHIPPED = "run not shipped"  # a finished trial whose run is not in this checkpoints folder


def seed_from_shipped(root: Path) -> bool:
    """Make `<root>/studies.db` a copy of `<root>/shipped-studies.db` when the first is missing and the second
    exists, so a fresh clone lists the studies behind its recipes while the tracked file stays untouched (new
    studies go into the copy). True when it copied. A folder that cannot be written is left as it is.
    """
    import shutil

    shipped, target = root / SHIPPED_STORAGE_FILE, root / STORAGE_FILE
    if target.exists() or not shipped.is_file():
        return False
    partial = root / f".{STORAGE_FILE}.{os.getpid()}.partial"
    try:
        shutil.copyfile(shipped, partial)
        os.link(partial, target)  # never replaces a studies.db another process made meanwhile
    except FileExistsError:
        return False
    except OSError as error:
        log.warning("aecore: could not copy %s to %s (%s); the shipped studies are not listed", shipped, target,
                    error.strerror or error)  # fmt: skip
        return False
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return True


def run_presence(run_id: object, root: Path) -> str:
    """Whether a trial's run is here: "on disk" when its folder is under `root`, NOT_SHIPPED when it is not (a
    shipped study's trial runs stay out of the repository; a run trained on another machine lives there), ""
    when the trial has no run."""
    if not isinstance(run_id, str) or not run_id:
        return ""
    return "on disk" if (Path(root) / run_id / "run.json").is_file() else NOT_SHIPPED


def describe_storage(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def open_storage(url: str, heartbeat: int = HEARTBEAT_SECONDS) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage at `url` with heartbeats on; StudyError with one line when it cannot be used.

    `postgresql://` without a driver means psycopg2 (SQLAlchemy 2.1 would otherwise look for psycopg 3).
    """
    shown = describe_storage(url)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise StudyError(
            f"--storage {url!r} is not a database URL; give e.g. sqlite:///path/studies.db "
            "or postgresql://user@host:5432/db"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if parsed.get_backend_name() == "sqlite":
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}  # workers wait for each other's writes
        if parsed.database:
            database = Path(parsed.database)
            if (database.exists() or database.is_symlink()) and not _regular_file(database):
                raise StudyError(f"--storage {shown}: not a regular file (a FIFO, a device or a link); remove it")
            try:
                database.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StudyError(f"--storage {shown}: cannot create its folder ({error.strerror or error})") from None
    else:
        engine_kwargs = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "postgresql":
            engine_kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        for attempt in range(CREATE_ATTEMPTS):
            try:
                with _creating(parsed), warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        parsed.render_as_string(hide_password=False),
                        engine_kwargs=engine_kwargs,
                        heartbeat_interval=heartbeat,
                        grace_period=STALE_BEATS * heartbeat,
                    )
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                # Workers on other machines creating Optuna's tables in the same instant: theirs win, ours retry.
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
    except sqlalchemy.exc.NoSuchModuleError:
        raise StudyError(f"--storage {shown}: unknown database kind {parsed.drivername!r}") from None
    except ImportError:
        raise StudyError(f"--storage {shown}: the database driver for {parsed.drivername} is not installed") from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, OSError) as error:
        raise StudyError(f"cannot use the study storage {shown}: {_storage_fault(error)}") from None


def _regular_file(path: Path) -> bool:
    """SQLite would open a FIFO and wait on it for ever, or follow a link out of the checkpoints folder."""
    import stat

    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


@contextlib.contextmanager
def _creating(url) -> Iterator[None]:
    """Serialise first-time table creation between local processes sharing one SQLite file."""
    if url.get_backend_name() != "sqlite" or not url.database:
        yield
        return
    with _file_lock(Path(f"{url.database}.lock")):
        yield


def _storage_fault(error: BaseException) -> str:
    """One printable line for a storage fault; Optuna's StorageInternalError hides the database's reason inside."""
    inner = error.__cause__ if isinstance(error, optuna.exceptions.StorageInternalError) else None
    return printable(_first_line(inner or error), 200)


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__


@contextlib.contextmanager
def _storage_errors(url: str) -> Iterator[None]:
    """Report a database that goes away mid-study as one line, not a traceback."""
    try:
        yield
    except sqlalchemy.exc.OperationalError as error:
        raise StudyError(f"lost the study storage {describe_storage(url)}: {_first_line(error)}") from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, OSError) as error:
        # a damaged file ("file is not a database"), a value the database refuses (a name too long), a read-only
        # folder: Optuna wraps most of them in StorageInternalError
        raise StudyError(f"the study storage {describe_storage(url)} failed: {_storage_fault(error)}") from None


def _open_study(spec: SweepSpec | TuneSpec, name: str, url: str, heartbeat: int, sampler_seed: int | None):
    storage = open_storage(url, heartbeat)
    with _storage_errors(url):
        study = optuna.create_study(study_name=name, storage=storage, sampler=spec.sampler(sampler_seed),
                                    pruner=spec.pruner(), direction="minimize", load_if_exists=True)  # fmt: skip
        wanted = json.loads(json.dumps(spec.identity()))
        found = study.user_attrs.get(SPEC_ATTR)
        if found is not None and not isinstance(found, dict):
            raise StudyError(f"study {name!r} in {describe_storage(url)} was not made by aecore; pick another name")
        if found is None:
            if study.get_trials(deepcopy=False):
                raise StudyError(f"study {name!r} in {describe_storage(url)} was not made by aecore; pick another name")
            study.set_user_attr(SPEC_ATTR, wanted)
        elif found != wanted:
            raise StudyError(
                f"study {name!r} in {describe_storage(url)} explores other settings ({_differences(found, wanted)}); "
                "pick another --study name or leave it out"
            )
    return study, storage


def _differences(found: dict, wanted: dict) -> str:
    names = [name for name in sorted(set(found) | set(wanted)) if found.get(name) != wanted.get(name)]
    return ", ".join(f"{name} {found.get(name)} there, {wanted.get(name)} here" for name in names)


def _load_study(name: str, url: str) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    unknown = StudyError(f"no study named {name!r} in {describe_storage(url)}; `python -m aecore studies` lists them")
    if _missing_file(url):
        raise unknown
    storage = open_storage(url)
    with _storage_errors(url):
        try:
            return optuna.load_study(study_name=name, storage=storage), storage
        except KeyError:
            raise unknown from None


def _trials(name: str, url: str) -> list[FrozenTrial]:
    study, _ = _load_study(name, url)
    with _storage_errors(url):
        return study.get_trials(deepcopy=False)


def _resolve(storage: str | None, root: Path | None) -> str:
    return storage or default_storage(root)


def _missing_file(url: str) -> bool:
    """True for a SQLite URL whose file does not exist (reading it must not create it)."""
    with contextlib.suppress(sqlalchemy.exc.ArgumentError):
        parsed = sqlalchemy.engine.make_url(url)
        return parsed.get_backend_name() == "sqlite" and bool(parsed.database) and not Path(parsed.database).exists()
    return False


# --- reading studies back ------------------------------------------------------------------------


STUDY_COLUMNS = ["study", "kind", "trials", "complete", "pruned", "failed", "running", "best_value", "best_run_id"]


def list_studies(storage: str | None = None, root: Path | None = None) -> pd.DataFrame:
    """One row per study in the storage (default: beside `root`'s checkpoints), by name.

    Columns: study, kind ("sweep", "tune" or "" for a study aecore did not make), trials, complete, pruned,
    failed, running (counts of trials in that state), best_value (lowest validation loss), best_run_id.
    """
    url = _resolve(storage, root)
    if _missing_file(url):
        return pd.DataFrame(columns=STUDY_COLUMNS)
    handle = open_storage(url)
    rows = []
    with _storage_errors(url):
        for summary in optuna.get_all_study_summaries(handle, include_best_trial=False):
            study = optuna.load_study(study_name=summary.study_name, storage=handle)
            trials = study.get_trials(deepcopy=False)
            counts = {state: sum(t.state == state for t in trials) for state in TrialState}
            best = min((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value, default=None)
            rows.append({
                "study": summary.study_name,
                "kind": _attr(_attr(summary.user_attrs, SPEC_ATTR, dict) or {}, "kind", str) or "",
                "trials": len(trials),
                "complete": counts[TrialState.COMPLETE],
                "pruned": counts[TrialState.PRUNED],
                "failed": counts[TrialState.FAIL],
                "running": counts[TrialState.RUNNING],
                "best_value": best.value if best else math.nan,
                "best_run_id": _attr(best.user_attrs, "run_id", str) if best else None,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=STUDY_COLUMNS).sort_values("study", ignore_index=True)


def trials_frame(study_name: str, storage: str | None = None, root: Path | None = None) -> pd.DataFrame:
    """One row per trial of a study, by trial number.

    Columns: number, state (COMPLETE, PRUNED, FAIL, RUNNING, WAITING), value (the run's best validation
    loss; for a pruned trial its last reported one), one column per parameter (model, bottleneck, seed for a
    sweep; learning_rate, epochs, batch_size for tuning), run_id (None unless the trial has a run), reused
    (the run existed before the trial), error (why a trial failed for good), duplicate_of (the trial that
    had the same config when this one started: it trained nothing), host, started, seconds.
    StudyError when there is no such study.
    """
    trials = _trials(study_name, _resolve(storage, root))
    names = list(dict.fromkeys(name for t in trials for name in _params(t)))
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value if t.value is not None else math.nan,
            **{name: _params(t).get(name) for name in names},
            "run_id": _attr(t.user_attrs, "run_id", str),
            "reused": _attr(t.user_attrs, "reused", bool),
            "error": _attr(t.user_attrs, "error", str),
            "duplicate_of": _attr(t.user_attrs, "duplicate_of", int),
            "host": _attr(_attr(t.user_attrs, "worker", dict) or {}, "host", str),
            "started": t.datetime_start,
            "seconds": t.duration.total_seconds() if t.duration is not None else math.nan,
        }
        for t in trials
    ]
    columns = ["number", "state", "value", *names, "run_id", "reused", "error", "duplicate_of", "host", "started",
               "seconds"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def frozen_trials(study_name: str, storage: str | None = None, root: Path | None = None) -> list[FrozenTrial]:
    """The study's trials as Optuna FrozenTrials (for Optuna's own plots); StudyError on any storage fault."""
    return _trials(study_name, _resolve(storage, root))


def trial_curves(study_name: str, storage: str | None = None, root: Path | None = None) -> pd.DataFrame:
    """The validation loss every trial reported after each epoch: columns number, state, epoch, val_loss."""
    trials = _trials(study_name, _resolve(storage, root))
    rows = [
        {"number": t.number, "state": t.state.name, "epoch": epoch, "val_loss": value}
        for t in trials
        for epoch, value in sorted(t.intermediate_values.items())
    ]
    return pd.DataFrame(rows, columns=["number", "state", "epoch", "val_loss"])


def study_runs(study_name: str, storage: str | None = None, root: Path | None = None) -> list[RunInfo]:
    """The runs the study's finished trials produced that exist under `root`, once each, by trial number.

    A run trained on another machine is missing here unless both share the checkpoints folder.
    """
    root = Path(root) if root else default_checkpoint_root()
    frame = trials_frame(study_name, storage, root)
    runs = []
    for run_id in dict.fromkeys(frame.loc[frame["state"] == "COMPLETE", "run_id"].dropna()):
        with contextlib.suppress(CheckpointError):
            runs.append(read_run(root / run_id))
    return runs


def delete_study(study_name: str, storage: str | None = None, root: Path | None = None) -> None:
    """Delete the study's record (trials, values); its runs stay in the checkpoints folder."""
    url = _resolve(storage, root)
    _, handle = _load_study(study_name, url)
    with _storage_errors(url):
        optuna.delete_study(study_name=study_name, storage=handle)


# --- running a study -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrialOutcome:
    """How one trial ended, for progress displays."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    config: RunConfig
    value: float | None = None  # best validation loss (COMPLETE), last reported one (PRUNED)
    run_id: str | None = None
    reused: bool = False  # the run existed already: nothing was trained
    message: str = ""  # why it was pruned or failed


@dataclasses.dataclass(frozen=True)
class StudyReport:
    """Where a study lives and its trials when `run_study` returned."""

    name: str
    storage: str  # with any password masked
    trials: pd.DataFrame = dataclasses.field(repr=False)


def run_study(
    spec: SweepSpec | TuneSpec,
    *,
    study_name: str | None = None,
    storage: str | None = None,
    root: Path | None = None,
    data_root: str | None = None,
    device: str = "auto",
    workers: int = 1,
    heartbeat: int = HEARTBEAT_SECONDS,
    sampler_seed: int | None = None,
    on_trial_start: Callable[[int, int, RunConfig], None] | None = None,
    on_trial_end: Callable[[TrialOutcome], None] | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> StudyReport:
    """Create or resume the study and work on it until it is done; return its trials.

    Parameters
    ----------
    spec : the grid or the tuning space; a study of that name must have been made from the same one
    study_name : default `spec.default_name()`, so rerunning the same command resumes the same study
    storage : an Optuna RDB URL; default `sqlite:///<root>/studies.db`
    workers : local worker processes (1: work in this process). Other processes or machines running the
        same study at the same time share the work.
    heartbeat : seconds between a worker's heartbeats; a trial silent for 3x this long is retried
    sampler_seed : seeds the sampler (each worker process gets seed + its index), None for random
    on_trial_start : called with (i, n, config) as a trial starts: i of the study's n trials are started or
        done, this one included
    on_trial_end : called with each trial's outcome
    progress : the trainer's per-batch callback; with workers > 1 it is not called
    should_stop : polled between batches and trials; when it turns true the current trial is cancelled (and
        queued again for the next run) and TrainingCancelled is raised
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1; got {workers!r}")
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
        raise ConfigError(f"heartbeat must be a whole number of seconds >= 1; got {heartbeat!r}")
    root = Path(root) if root else default_checkpoint_root()
    name = study_name or spec.default_name()
    url = _resolve(storage, root)
    job = _Job(spec, name, url, root, data_root, device, heartbeat, sampler_seed)
    if workers == 1:
        _Worker(job, on_trial_start, on_trial_end, progress, should_stop).run()
    else:
        _open_study(spec, name, url, heartbeat, sampler_seed)  # one clear error here, not one per process
        _run_processes(job, workers, on_trial_start, on_trial_end, should_stop)
    return StudyReport(name, describe_storage(url), trials_frame(name, url))


@dataclasses.dataclass(frozen=True)
class _Job:
    """Everything a worker process needs to join a study (picklable)."""

    spec: SweepSpec | TuneSpec
    name: str
    url: str
    root: Path
    data_root: str | None
    device: str
    heartbeat: int
    sampler_seed: int | None


class _Worker:
    """Takes trials from one study until it is done."""

    def __init__(self, job: _Job, on_trial_start=None, on_trial_end=None, progress=None, should_stop=None) -> None:
        self.job = job
        self.on_trial_start = on_trial_start
        self.on_trial_end = on_trial_end
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)

    def run(self) -> None:
        job = self.job
        self.study, self.storage = _open_study(job.spec, job.name, job.url, job.heartbeat, job.sampler_seed)
        self.study_id = self.storage.get_study_id_from_name(job.name)
        with _storage_errors(job.url):
            while True:
                if self.should_stop():
                    raise TrainingCancelled("the study was cancelled between trials")
                self._fail_dead_trials()
                action, retry, started = job.spec.plan(self.study.get_trials(deepcopy=False))
                if action == "done":
                    return
                if action == "wait":
                    time.sleep(POLL_SECONDS)
                    continue
                for params in retry:
                    self.study.enqueue_trial(params)
                self._trial(min(started + 1, job.spec.size))

    def _fail_dead_trials(self) -> None:
        """Fail running trials whose worker is gone: a dead process on this machine, a worker silent past the
        grace period, or a trial that never got as far as naming its worker within that period."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        grace = datetime.timedelta(seconds=STALE_BEATS * self.job.heartbeat)
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = trial.user_attrs.get("worker")
            orphan = worker is None and datetime.datetime.now() - trial.datetime_start > grace
            if orphan or _is_dead_here(worker):
                trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                    self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                    log.info("trial %d: its worker %s is gone; it will be retried", trial.number, worker)

    def _trial(self, position: int) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
            trial = self.study.ask()
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        config = None
        with _beating(self.storage, trial_id, self.job.heartbeat):
            try:
                trial.set_user_attr("worker", _identity())  # first: lets others tell whether this worker lives
                config = self.job.spec.config(trial)
                trial.set_user_attr("config", config.to_dict())
                twin = self._twin(trial) if self.job.spec.one_trial_per_config else None
                if twin is not None:
                    trial.set_user_attr("duplicate_of", twin)
                    raise optuna.TrialPruned(f"trial {twin} has the same config")
                if self.on_trial_start is not None:
                    self.on_trial_start(position, self.job.spec.size, config)
                info, reused = self._fit(trial, config)
                trial.set_user_attr("run_id", info.run_id)
                trial.set_user_attr("reused", reused)
                value = min(epoch.val_loss for epoch in info.history)
            except optuna.TrialPruned as pruned:
                self.study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
                value = self.storage.get_trial(trial_id).value
                self._ended(TrialOutcome(trial.number, "PRUNED", config, value, message=str(pruned)))
            except TrainingDiverged as error:
                trial.set_user_attr("error", str(error))
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                self._ended(TrialOutcome(trial.number, "FAIL", config, message=str(error)))
            except optuna.exceptions.UpdateFinishedTrialError:
                # Another worker failed this trial after missing heartbeats and queued it again; the run lock
                # makes the retry reuse whatever this worker saved.
                log.warning("trial %d was taken over by another worker; moving on", trial.number)
            except BaseException:
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)  # retried by the next plan
                raise
            else:
                self.study.tell(trial, value, skip_if_finished=True)
                self._ended(TrialOutcome(trial.number, "COMPLETE", config, value, info.run_id, reused))

    def _twin(self, trial: optuna.Trial) -> int | None:
        """A trial that has these exact parameters and a result, or runs them and started first: two workers
        (on machines that share no checkpoints folder) can draw the same grid point in the same instant."""
        for other in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE)):
            first = other.state == TrialState.COMPLETE or other.number < trial.number
            if first and other.number != trial.number and other.params == trial.params:
                return other.number
        return None

    def _ended(self, outcome: TrialOutcome) -> None:
        if self.on_trial_end is not None:
            self.on_trial_end(outcome)

    def _fit(self, trial: optuna.Trial, config: RunConfig) -> tuple[RunInfo, bool]:
        """Load or train the trial's run, reporting each epoch's validation loss and pruning on it."""
        reported = 0
        trained = False

        def report(history) -> None:
            nonlocal reported
            for epoch in history[reported:]:
                trial.report(epoch.val_loss, epoch.epoch)
            reported = len(history)

        def on_batch(p: Progress) -> None:
            nonlocal trained
            trained = True
            if len(p.history) > reported:
                report(p.history)
                if trial.should_prune():
                    last = p.history[-1]
                    raise optuna.TrialPruned(f"validation loss {last.val_loss:.5f} after epoch {last.epoch}")
            if self.progress is not None:
                self.progress(p)

        info = train_once(config, root=self.job.root, data_root=self.job.data_root, device=self.job.device,
                          progress=on_batch, should_stop=self.should_stop)  # fmt: skip
        report(info.history)  # the last epoch (never pruned: its run is saved), or all of a reused run's
        return info, not trained


@contextlib.contextmanager
def _beating(storage: optuna.storages.RDBStorage, trial_id: int, interval: int) -> Iterator[None]:
    """Record the trial's heartbeat now and every `interval` seconds until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception as error:  # a missed beat is retried; the grace period spans several
                log.warning("heartbeat of trial %d failed: %s", trial_id, _first_line(error))
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"aecore-heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- one training per run, however many workers ask for it -------------------------------------


def train_once(
    config: RunConfig,
    *,
    root: Path | None = None,
    data_root: str | None = None,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunInfo:
    """The run of `config`, trained at most once however many workers ask: `load_or_train` holds the run
    store's per-run lock, so a second process asking for the same run waits, then loads it."""
    info, _ = load_or_train(config, root=root, data_root=data_root, device=device, progress=progress,
                            should_stop=should_stop)  # fmt: skip
    return info


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (released by the kernel if the process dies); none on a read-only folder."""
    with contextlib.ExitStack() as stack:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(safe_io.file_lock(path))  # never a FIFO (which would hang) nor through a link
        except OSError:
            pass  # nothing can be created here anyway
        except safe_io.UnsafeFile as error:
            raise StudyError(str(error)) from None
        yield


# --- which worker runs a trial, and whether it is still alive ------------------------------------


@functools.cache
def _machine() -> str:
    """This kernel and PID namespace: process ids are only comparable within it ('' where unknown)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot), None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _identity() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "machine": _machine(),
        "pid": os.getpid(),
        "started": _process_start(os.getpid()),
    }


def _is_dead_here(worker: Any) -> bool:
    """True when `worker` ran on this machine and its process has exited (or its pid was reused)."""
    if not isinstance(worker, dict) or not worker.get("machine") or not worker.get("started"):
        return False
    if worker.get("machine") != _machine() or worker.get("host") != socket.gethostname():
        return False
    return _process_start(worker.get("pid", -1)) != worker["started"]


# --- several worker processes --------------------------------------------------------------------


def _run_processes(job: _Job, workers: int, on_trial_start, on_trial_end, should_stop) -> None:
    """Run `workers` worker processes on the study, relaying their trial events; re-raise the first error."""
    import multiprocessing
    import queue as queues

    context = multiprocessing.get_context("spawn")  # fork after torch or SQLAlchemy threads is unsafe
    events = context.Queue()
    stop = context.Event()
    processes = []
    for index in range(workers):
        seed = None if job.sampler_seed is None else job.sampler_seed + index
        worker_job = _Job(**{**job.__dict__, "sampler_seed": seed})
        process = context.Process(target=_process_main, args=(worker_job, events, stop), name=f"aecore-worker-{index}")
        process.start()
        processes.append(process)
    error: BaseException | None = None

    def relay(kind: str, *payload) -> None:
        nonlocal error
        if kind == "start" and on_trial_start is not None:
            on_trial_start(*payload)
        elif kind == "end" and on_trial_end is not None:
            on_trial_end(*payload)
        elif kind == "error" and error is None:
            error = payload[0]
            stop.set()  # the others stop too; their current trials are queued again

    try:
        while any(p.is_alive() for p in processes):
            if should_stop is not None and should_stop():
                stop.set()
            with contextlib.suppress(queues.Empty):
                relay(*events.get(timeout=0.2))
        with contextlib.suppress(queues.Empty):
            while True:
                relay(*events.get(timeout=0.1))
    except BaseException:
        stop.set()
        raise
    finally:
        for process in processes:
            process.join()
    if error is not None:
        raise error
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise StudyError(f"worker process(es) {', '.join(failed)} died; run the same command again to resume")


def _process_main(job: _Job, events, stop) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    worker = _Worker(
        job,
        on_trial_start=lambda i, n, config: events.put(("start", i, n, config)),
        on_trial_end=lambda outcome: events.put(("end", outcome)),
        should_stop=stop.is_set,
    )
    try:
        worker.run()
    except KeyboardInterrupt:
        events.put(("error", TrainingCancelled("interrupted")))
    except USER_ERRORS as error:
        events.put(("error", error))
    except Exception as error:  # a bug: its traceback goes to this process's stderr, one line to the parent
        traceback.print_exc()
        events.put(("error", StudyError(f"a worker process failed: {type(error).__name__}: {error}")))
