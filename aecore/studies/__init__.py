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

from aecore.studies.runner import USER_ERRORS, StudyReport, TrialOutcome, run_study
from aecore.studies.specs import BATCH_SIZES, SPEC_ATTR, StudyError, SweepSpec, TuneSpec
from aecore.studies.storage import (
    NOT_SHIPPED,
    SHIPPED_STORAGE_FILE,
    STORAGE_FILE,
    STUDY_COLUMNS,
    default_storage,
    delete_study,
    describe_storage,
    frozen_trials,
    list_studies,
    open_storage,
    run_presence,
    seed_from_shipped,
    study_runs,
    trials_frame,
)

__all__ = [
    "BATCH_SIZES",
    "NOT_SHIPPED",
    "SHIPPED_STORAGE_FILE",
    "SPEC_ATTR",
    "STORAGE_FILE",
    "STUDY_COLUMNS",
    "USER_ERRORS",
    "StudyError",
    "StudyReport",
    "SweepSpec",
    "TrialOutcome",
    "TuneSpec",
    "default_storage",
    "delete_study",
    "describe_storage",
    "frozen_trials",
    "list_studies",
    "open_storage",
    "run_presence",
    "run_study",
    "seed_from_shipped",
    "study_runs",
    "trials_frame",
]
