"""Where studies live and how they are read back: the Optuna RDB storage (SQLite beside the checkpoints, seeded
from the shipped studies, or any database URL), opening and checking a study against its spec, and the tables
the CLI and the Studies page show. Every storage fault is a StudyError of one line."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from aecore import safe_io
from aecore.runstore import CheckpointError, RunInfo, default_checkpoint_root, read_run
from aecore.studies.specs import SPEC_ATTR, StudyError, SweepSpec, TuneSpec, trial_params
from aecore.text import printable

STORAGE_FILE = "studies.db"
HEARTBEAT_SECONDS = 10
STALE_BEATS = 3  # a trial whose worker missed this many heartbeats in a row is failed and retried
CREATE_ATTEMPTS = 5

log = logging.getLogger(__name__)


def _attr(attrs: Any, key: str, kind: type) -> Any:
    """`attrs[key]` when attrs is a dict and the value has the type aecore writes, else None: a study made by another
    tool may hold anything under the same names."""
    value = attrs.get(key) if isinstance(attrs, dict) else None
    if kind is int and isinstance(value, bool):
        return None
    return value if isinstance(value, kind) else None


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
    return printable(first_line(inner or error), 200)


def first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Report a database that goes away mid-study as one line, not a traceback."""
    try:
        yield
    except sqlalchemy.exc.OperationalError as error:
        raise StudyError(f"lost the study storage {describe_storage(url)}: {first_line(error)}") from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, OSError) as error:
        # a damaged file ("file is not a database"), a value the database refuses (a name too long), a read-only
        # folder: Optuna wraps most of them in StorageInternalError
        raise StudyError(f"the study storage {describe_storage(url)} failed: {_storage_fault(error)}") from None


def open_study(spec: SweepSpec | TuneSpec, name: str, url: str, heartbeat: int, sampler_seed: int | None):
    storage = open_storage(url, heartbeat)
    with storage_errors(url):
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
    with storage_errors(url):
        try:
            return optuna.load_study(study_name=name, storage=storage), storage
        except KeyError:
            raise unknown from None


def _trials(name: str, url: str) -> list[FrozenTrial]:
    study, _ = _load_study(name, url)
    with storage_errors(url):
        return study.get_trials(deepcopy=False)


def resolve_storage(storage: str | None, root: Path | None) -> str:
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
    url = resolve_storage(storage, root)
    if _missing_file(url):
        return pd.DataFrame(columns=STUDY_COLUMNS)
    handle = open_storage(url)
    rows = []
    with storage_errors(url):
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
    trials = _trials(study_name, resolve_storage(storage, root))
    names = list(dict.fromkeys(name for t in trials for name in trial_params(t)))
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value if t.value is not None else math.nan,
            **{name: trial_params(t).get(name) for name in names},
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
    return _trials(study_name, resolve_storage(storage, root))


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
    url = resolve_storage(storage, root)
    _, handle = _load_study(study_name, url)
    with storage_errors(url):
        optuna.delete_study(study_name=study_name, storage=handle)


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
