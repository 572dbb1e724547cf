"""Test-set reconstruction errors: per image, per digit and overall, and per-digit tables for any set of methods.

Methods (slot A's run, slot B's run, a PCA baseline) are identified by an id column, never by a display title
baked into a column name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aecore.run_schema import DigitScore, EvalMetrics


@dataclass(frozen=True)
class Evaluation:
    """Errors of one model (or baseline) on one split."""

    per_image: np.ndarray  # (N,) mean squared error of each image over its 1024 pixels
    labels: np.ndarray  # (N,) digit of each image

    @property
    def mse(self) -> float:
        return float(self.per_image.mean())

    def per_digit(self) -> pd.DataFrame:
        """One row per digit 0-9: digit, n, mse (NaN where a digit has no images)."""
        counts = np.bincount(self.labels, minlength=10)[:10]
        sums = np.bincount(self.labels, weights=self.per_image, minlength=10)[:10]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts
        return pd.DataFrame({"digit": np.arange(10), "n": counts, "mse": means})


def summary(evaluation: Evaluation) -> EvalMetrics:
    """Overall and per-digit figures, as stored beside a run's weights."""
    table = evaluation.per_digit()
    rows = tuple(DigitScore(int(r.digit), int(r.n), float(r.mse)) for r in table.itertuples())
    return EvalMetrics(evaluation.mse, rows)


def per_digit_table(per_image: Mapping[str, np.ndarray], labels: np.ndarray) -> pd.DataFrame:
    """Long table of mean test error per method and digit, with an "all" row per method.

    per_image : {method id: (N,) per-image errors on the same test images}
    Returns columns method, digit ("0".."9", "all"), n, mse.
    """
    labels = np.asarray(labels)
    rows = []
    for method, errors in per_image.items():
        errors = np.asarray(errors, dtype=np.float64)
        if errors.shape != labels.shape:
            raise ValueError(f"{method}: {errors.shape[0]} errors for {labels.shape[0]} labels")
        for digit in range(10):
            mask = labels == digit
            rows.append({"method": method, "digit": str(digit), "n": int(mask.sum()),
                         "mse": float(errors[mask].mean()) if mask.any() else float("nan")})  # fmt: skip
        rows.append({"method": method, "digit": "all", "n": len(errors), "mse": float(errors.mean())})
    return pd.DataFrame(rows, columns=["method", "digit", "n", "mse"])


def per_digit_wide(
    table: pd.DataFrame, methods: list[str], pair: tuple[str, str] | None = None, baselines: Sequence[str] = ()
) -> pd.DataFrame:
    """A `per_digit_table` as one row per digit ("0".."9", then "all"): digit, n, one column per method id and,
    for a pair (a, b), the difference "a − b" and "better": the id of the lowest error among a, b and the
    `baselines` (PCA ids), so a row where PCA beats both runs says so."""
    order = [*map(str, range(10)), "all"]
    wide = table.pivot(index="digit", columns="method", values="mse").reindex(order)
    counts = table.drop_duplicates("digit").set_index("digit")["n"].reindex(order)
    result = pd.DataFrame({"digit": order, "n": counts.to_numpy()})
    for method in methods:
        result[method] = wide[method].to_numpy()
    if pair is not None:
        a, b = pair
        result[f"{a} − {b}"] = result[a] - result[b]
        contenders = [a, b, *baselines]  # ties go to the first: a run before its baseline
        result["better"] = [contenders[i] for i in np.argmin(result[contenders].to_numpy(), axis=1)]
    return result


def ranked_indices(errors: np.ndarray, labels: np.ndarray, digit: int | None, worst: bool, k: int) -> np.ndarray:
    """Test positions of the k highest (worst) or lowest (best) errors, among one digit or all (for display
    only: nothing is chosen or tuned by it)."""
    pool = np.arange(len(errors)) if digit is None else np.flatnonzero(np.asarray(labels) == digit)
    order = np.argsort(np.asarray(errors)[pool], kind="stable")
    chosen = order[::-1][:k] if worst else order[:k]
    return pool[chosen]
