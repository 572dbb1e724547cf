"""What the dashboard shows of one run that depends on that run alone, computed once and stored in its folder.

Right after training (aecore.pipeline), or later by `python -m aecore migrate`, a run gets in `derived/`: its PCA
baseline's per-image test errors, the per-digit bootstrap intervals of the run and of that baseline, and the paired
interval of run − baseline that the Overview's verdict quotes (aecore.verdicts.against_pca); and, through
aecore.projection's cache in `projections/`, its default UMAP and PCA maps of the whole test set. A page then
computes only what depends on the pair (paired differences, neighbourhood agreement). Every file is named by a
hash of what it depends on, so a stale file is never read: the page computes the value as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aecore.baselines import BaselineKey
from aecore.safe_io import write_atomic
from aecore.stats import BootstrapConfig, Interval

if TYPE_CHECKING:
    import pandas as pd

    from aecore.data import Dataset
    from aecore.models import Autoencoder
    from aecore.runstore import RunInfo

FOLDER = "derived"
FORMAT = 1
DEFAULT_MAPS = ("umap", "pca")  # the latent page's maps a visitor sees first (umap) or switches to (pca)


def _digest(material: dict) -> str:
    canonical = json.dumps({"format": FORMAT, **material}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _bootstrap_digest(weights_sha256: str, key: BaselineKey, config: BootstrapConfig) -> str:
    """The name of a bootstrap of the run's errors against its baseline's: it depends on all three."""
    material = {"weights": weights_sha256, "baseline": dataclasses.asdict(key), "bootstrap": dataclasses.asdict(config)}
    return _digest(material)


def pca_errors_path(run_path: Path, key: BaselineKey) -> Path:
    """Where the run stores its PCA baseline's (n_test,) per-image test errors (they depend on `key` only)."""
    return Path(run_path) / FOLDER / f"pca-test-errors-{_digest(dataclasses.asdict(key))}.npy"


def intervals_path(run_path: Path, weights_sha256: str, key: BaselineKey, config: BootstrapConfig) -> Path:
    """Where the run stores the per-digit intervals of its test errors and of its PCA baseline's."""
    return Path(run_path) / FOLDER / f"intervals-{_bootstrap_digest(weights_sha256, key, config)}.json"


def difference_path(run_path: Path, weights_sha256: str, key: BaselineKey, config: BootstrapConfig) -> Path:
    """Where the run stores the paired interval of its test errors minus its PCA baseline's, image by image."""
    return Path(run_path) / FOLDER / f"pca-difference-{_bootstrap_digest(weights_sha256, key, config)}.json"


def load_pca_test_errors(run_path: Path, key: BaselineKey) -> np.ndarray | None:
    """The stored (n_test,) float64 errors of baseline `key`, or None when the run has none (or unreadable)."""
    try:
        errors = np.load(pca_errors_path(run_path, key), allow_pickle=False)
    except (OSError, ValueError):
        return None
    return errors if errors.ndim == 1 else None


def load_intervals(
    run_path: Path, weights_sha256: str, key: BaselineKey, config: BootstrapConfig = BootstrapConfig()
) -> dict[str, list[list]] | None:
    """{"run": rows, "pca": rows}, each row [digit, n, mean, low, high] for digits 0-9 then "all"; None when
    the run has none stored (or unreadable)."""
    try:
        stored = json.loads(intervals_path(run_path, weights_sha256, key, config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or not all(isinstance(stored.get(m), list) for m in ("run", "pca")):
        return None
    return stored


def load_pca_difference(
    run_path: Path, weights_sha256: str, key: BaselineKey, config: BootstrapConfig = BootstrapConfig()
) -> Interval | None:
    """The stored interval of mean(run − PCA) over the test images, as aecore.verdicts.paired_mean_interval gives
    it; None when the run has none stored (or unreadable)."""
    try:
        stored = json.loads(difference_path(run_path, weights_sha256, key, config).read_text(encoding="utf-8"))
        return Interval(*(float(stored[name]) for name in ("mean", "low", "high")), n=int(stored["n"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def interval_rows(errors: np.ndarray, pca_errors: np.ndarray, labels: np.ndarray, config: BootstrapConfig) -> dict:
    """What `load_intervals` returns, computed: the intervals stats.interval_table gives each of the two columns
    (every column of a paired bootstrap sees the same resamples, so a column's interval does not depend on which
    other methods share the table)."""
    from aecore.stats import interval_table

    table = interval_table({"run": errors, "pca": pca_errors}, labels, config)
    return {
        method: [[row["digit"], int(row["n"]), float(row[f"{method} MSE"]), float(row[f"{method} CI low"]),
                  float(row[f"{method} CI high"])] for row in table.to_dict("records")]
        for method in ("run", "pca")
    }  # fmt: skip


def interval_table(columns: dict[str, list[list]]) -> pd.DataFrame:
    """stats.interval_table's frame from stored rows: {method id: rows of `load_intervals`}."""
    import pandas as pd

    methods = list(columns)
    first = columns[methods[0]]
    rows = []
    for i, (digit, n, *_) in enumerate(first):
        row: dict = {"digit": digit, "n": n}
        for method in methods:
            _, _, mean, low, high = columns[method][i]
            row.update({f"{method} MSE": mean, f"{method} CI low": low, f"{method} CI high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, data)


def _stored_errors(info: RunInfo) -> np.ndarray:
    """The run's stored (n_test,) test errors; a format-1 run stores none (aecore.pipeline computes them)."""
    from aecore.runstore import load_evaluation

    stored = load_evaluation(info)
    if stored is None:
        raise ValueError(f"{info.run_id} stores no evaluation (format 1); `python -m aecore migrate` upgrades it")
    return stored.test_errors


def missing(info: RunInfo) -> list[str]:
    """What of the run's precomputed values is not stored: "pca errors", "intervals", "pca difference", "umap map",
    "pca map"."""
    from aecore.compare import RunKey
    from aecore.projection import ProjectionConfig, load_cached

    key = RunKey.of(info)
    absent = []
    if load_pca_test_errors(info.path, key.baseline) is None:
        absent.append("pca errors")
    if load_intervals(info.path, info.weights_sha256, key.baseline) is None:
        absent.append("intervals")
    if load_pca_difference(info.path, info.weights_sha256, key.baseline) is None:
        absent.append("pca difference")
    absent += [f"{m} map" for m in DEFAULT_MAPS if load_cached(info, ProjectionConfig(m, n_points=info.n_test)) is None]
    return absent


def precompute_run(
    info: RunInfo,
    data: Dataset,
    model: Autoencoder | None = None,
    *,
    errors: np.ndarray | None = None,
    pca_errors: np.ndarray | None = None,
) -> list[str]:
    """Compute and store what `missing` lists for the run (`data`: its dataset; `model`, `errors`, `pca_errors`: its
    model, its (n_test,) test errors and its PCA baseline's, when the caller has them). Returns what it stored.
    A read-only run folder is an OSError; a dataset whose test split is not the one the run was scored on, a
    ValueError, as is a format-1 run given no `errors`."""
    from aecore.baselines import fit_baseline
    from aecore.compare import RunKey
    from aecore.projection import ProjectionConfig, project_run

    if len(data.test.labels) != info.n_test:
        raise ValueError(f"{info.run_id} was scored on {info.n_test:,} test images, but {data.name} here has "
                         f"{len(data.test.labels):,}")  # fmt: skip
    key = RunKey.of(info)
    absent = missing(info)
    if not absent:
        return []
    if {"pca errors", "intervals", "pca difference"} & set(absent):
        if pca_errors is None:
            pca_errors = load_pca_test_errors(info.path, key.baseline)
        if pca_errors is None:
            pca_errors = fit_baseline(data, key.baseline).errors(data.test.images)
        if "pca errors" in absent:
            buffer = io.BytesIO()
            np.save(buffer, pca_errors, allow_pickle=False)
            _write(pca_errors_path(info.path, key.baseline), buffer.getvalue())
    if "intervals" in absent or "pca difference" in absent:
        errors = np.asarray(_stored_errors(info) if errors is None else errors, dtype=np.float64)
        config = BootstrapConfig()
        if "intervals" in absent:
            rows = interval_rows(errors, pca_errors, data.test.labels.numpy(), config)
            _write(intervals_path(info.path, info.weights_sha256, key.baseline, config), json.dumps(rows).encode())
        if "pca difference" in absent:
            from aecore.verdicts import paired_mean_interval

            difference = json.dumps(dataclasses.asdict(paired_mean_interval(errors, pca_errors, config)))
            _write(difference_path(info.path, info.weights_sha256, key.baseline, config), difference.encode())
    codes: list[np.ndarray] = []

    def latents() -> np.ndarray:
        if not codes:
            from aecore.inference import encode
            from aecore.runstore import load_model

            codes.append(encode(model if model is not None else load_model(info), data.test.images))
        return codes[0]

    for method in DEFAULT_MAPS:
        if f"{method} map" in absent:
            project_run(info, ProjectionConfig(method, n_points=len(data.test.labels)), latents)
    return absent
