"""Load or train: the run for a config from the store when it exists, otherwise train, evaluate and save it.

Evaluation happens once, when a run is saved: test metrics, the PCA baseline fit on the run's own training
images, and the artefacts pages read instead of running the model over the test set again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aecore.baselines import baseline_key, fit_baseline
from aecore.config import RunConfig
from aecore.data import Dataset, display_indices, load_dataset, training_subset
from aecore.inference import reconstruct_and_errors
from aecore.metrics import Evaluation, summary
from aecore.models import Autoencoder
from aecore.run_schema import DatasetRecord, EvalMetrics, PcaMetrics, RunMetrics
from aecore.runstore import (
    CheckpointError,
    EvaluationArtefacts,
    RunInfo,
    default_checkpoint_root,
    ensure_writable,
    load_evaluation,
    load_model,
    load_timeline,
    read_run,
    run_lock,
    save_run,
)
from aecore.train import Progress, to_uint8, train

log = logging.getLogger(__name__)


Scores = tuple[EvalMetrics, PcaMetrics]  # test figures of the model and of its PCA baseline


def evaluate_run(model: Autoencoder, config: RunConfig, data: Dataset) -> tuple[Scores, EvaluationArtefacts]:
    """Test metrics of the model and of its PCA baseline (run.json's `metrics` but the validation MSE), and the
    evaluation artefacts."""
    return _evaluate(model, config, data)[:2]


def _evaluate(model: Autoencoder, config: RunConfig, data: Dataset) -> tuple[Scores, EvaluationArtefacts, np.ndarray]:
    """`evaluate_run`, and the PCA baseline's (n_test,) per-image test errors (aecore.precompute stores them)."""
    test = data.test
    recon, errors = reconstruct_and_errors(model, test.images)
    key = baseline_key(data.name, data.fingerprint, config.latent_dim, config.train_limit, config.seed)
    pca = fit_baseline(data, key)
    labels = test.labels.numpy()
    shown = display_indices(labels)
    pca_errors = pca.errors(test.images)
    pca_scores = summary(Evaluation(pca_errors, labels))
    scores = summary(Evaluation(errors, labels)), PcaMetrics(
        pca_scores.mse, pca_scores.per_digit,
        train_images=len(training_subset(data.train, config.train_limit)),
        val_mse=float(pca.errors(data.val.images).mean()),  # beside the run's validation curve
        clipped=True,
    )  # fmt: skip
    artefacts = EvaluationArtefacts(
        test_errors=errors.astype(np.float32),
        display_indices=shown.astype(np.int64),
        display_images=to_uint8(test.images[shown]),
        display_recon=to_uint8(recon[shown]),
    )
    return scores, artefacts, pca_errors


def load_or_train(
    config: RunConfig,
    *,
    root: Path | None = None,
    data_root: str | None = None,
    device: str = "auto",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    retrain: bool = False,
    precompute: bool = False,
) -> tuple[RunInfo, Autoencoder]:
    """The stored run for `config` when one exists and loads; otherwise train, evaluate and save it.

    Holds the run's lock throughout, so a second process asking for the same config waits and then loads
    the run the first one saved instead of training it again. `precompute`: also store what the dashboard's pages
    show of this run alone (aecore.precompute: PCA errors, per-digit intervals, default maps), for a run trained
    now or a stored one that lacks it (the job worker asks; sweeps and tests, which never show their runs at once,
    leave it to `migrate` or the dashboard's warm-up).
    """
    from aecore.devices import resolve_device

    resolve_device(device)  # a bad device is an error even when the run is cached
    root = Path(root) if root else default_checkpoint_root()
    folder = root / config.run_id
    if not retrain:
        cached = _load_cached(folder)
        if cached is not None:
            if precompute:
                _precompute(cached[0], None, cached[1], None, None, data_root)
            return cached
    ensure_writable(root, config.run_id)  # fail before a long training run, not after it
    with run_lock(root, config.run_id):
        if not retrain:
            cached = _load_cached(folder)  # another process may have saved it while we waited
            if cached is not None:
                if precompute:
                    _precompute(cached[0], None, cached[1], None, None, data_root)
                return cached
        data = load_dataset(config.dataset, data_root)
        started = time.perf_counter()
        result = train(config, data, device=device, progress=progress, should_stop=should_stop)
        train_seconds = time.perf_counter() - started
        model = result.model.cpu()
        (test, pca), artefacts, pca_errors = _evaluate(model, config, data)
        metrics = RunMetrics(test, pca, val_mse=result.history[result.best_epoch - 1].val_loss)
        info = save_run(
            root, config, model, history=result.history, best_epoch=result.best_epoch, metrics=metrics,
            dataset=DatasetRecord(data.name, data.fingerprint, data.description),
            train_seconds=train_seconds, evaluation=artefacts, timeline=result.timeline,
        )  # fmt: skip
    if precompute:
        _precompute(info, data, model, artefacts.test_errors, pca_errors, data_root)
    return info, model


def _precompute(
    info: RunInfo, data: Dataset | None, model: Autoencoder, errors: np.ndarray | None,
    pca_errors: np.ndarray | None, data_root: str | None,
) -> None:  # fmt: skip
    """aecore.precompute for a saved run; a failure is logged, never raised: the run is saved, and a page computes
    what is missing itself."""
    from aecore import precompute

    try:
        if not precompute.missing(info):
            return
        data = data or load_dataset(info.config.dataset, data_root)
        if errors is None:
            errors = evaluation_of(info, data).test_errors  # stored, or computed for a format-1 run
        precompute.precompute_run(info, data, model, errors=errors, pca_errors=pca_errors)
    except Exception:
        log.warning("could not precompute the dashboard's values for %s", info.run_id, exc_info=True)


def _load_cached(folder: Path) -> tuple[RunInfo, Autoencoder] | None:
    if not folder.is_dir():
        return None
    try:
        info = read_run(folder)
        model = load_model(info)
        load_evaluation(info)  # checked as deeply as list_runs checks, so a reused run is always listed
        load_timeline(info)
        return info, model
    except CheckpointError:
        return None  # an unreadable stored run is replaced by a fresh one


def evaluation_of(info: RunInfo, data: Dataset) -> EvaluationArtefacts:
    """The run's stored evaluation artefacts, or (format-1 runs) the same artefacts computed now."""
    stored = load_evaluation(info)
    if stored is not None:
        return stored
    return evaluate_run(load_model(info), info.config, data)[1]


def upgrade_run(info: RunInfo, data_root: str | None = None) -> RunInfo:
    """Rewrite a format-1 run in the current format: safetensors weights, evaluation artefacts and the PCA
    baseline re-scored (fit on the run's own training images, clipped). History and creation time are kept;
    there is no timeline, which would need the training itself."""
    model = load_model(info)
    data = load_dataset(info.config.dataset, data_root)
    (test, pca), artefacts = evaluate_run(model, info.config, data)
    metrics = RunMetrics(test, pca, val_mse=info.metrics.val_mse)
    return save_run(
        info.path.parent, info.config, model, history=info.history, best_epoch=info.best_epoch, metrics=metrics,
        dataset=info.dataset, train_seconds=info.train_seconds, evaluation=artefacts, timeline=None,
        created=info.created,
    )  # fmt: skip
