"""Runs of one config under several training seeds: grouping runs by their config without its seed, the spread of
their test errors across seeds, and whether two configs differ by more than that spread.

Every number comes from the runs' stored metrics (test MSE overall and per digit). Nothing here picks a seed:
a group holds every seed of its config that the registry has, and each statistic uses all of them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from aecore.runstore import RunInfo

DIGITS = tuple(str(d) for d in range(10)) + ("all",)
SPREAD_COLUMNS = ["n_seeds", "seeds", "mean", "sd", "min", "max"]


def config_key(run: RunInfo) -> str:
    """10 hex digits naming the run's config without its seed, on its exact test set: runs that share it are the
    same recipe trained from different seeds."""
    values = {name: value for name, value in run.config.to_dict().items() if name != "seed"}
    values["test_set"] = run.dataset.fingerprint
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


def seed_siblings(run: RunInfo, runs: Iterable[RunInfo]) -> list[RunInfo]:
    """Every run of `run`'s config under any seed (`run` included, even when `runs` lacks it), by seed."""
    key = config_key(run)
    found = {r.config.seed: r for r in runs if config_key(r) == key}
    found[run.config.seed] = run
    return [found[seed] for seed in sorted(found)]


@dataclasses.dataclass(frozen=True)
class Spread:
    """Values of one quantity across n training seeds: mean, sample sd (n − 1; NaN for one seed), min and max."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        array = np.asarray(values, dtype=np.float64)
        if array.size == 0:
            raise ValueError("a spread needs at least one value")
        sd = float(array.std(ddof=1)) if array.size > 1 else math.nan
        return cls(int(array.size), float(array.mean()), sd, float(array.min()), float(array.max()))


def seed_spread(runs: Iterable[RunInfo]) -> pd.DataFrame:
    """One row per config (runs grouped by `config_key`), in order of first appearance.

    Columns: config, model, bottleneck, n_seeds, seeds (tuple), mean, sd, min, max (of the test MSE across the
    seeds), run_ids (tuple, by seed).
    """
    groups: dict[str, dict[int, RunInfo]] = {}
    for run in runs:
        groups.setdefault(config_key(run), {})[run.config.seed] = run
    rows = []
    for key, by_seed in groups.items():
        seeds = sorted(by_seed)
        spread = Spread.of([by_seed[s].test_mse for s in seeds])
        first = by_seed[seeds[0]].config
        rows.append({"config": key, "model": first.model, "bottleneck": first.bottleneck, "n_seeds": spread.n,
                     "seeds": tuple(seeds), "mean": spread.mean, "sd": spread.sd, "min": spread.low,
                     "max": spread.high, "run_ids": tuple(by_seed[s].run_id for s in seeds)})  # fmt: skip
    return pd.DataFrame(rows, columns=["config", "model", "bottleneck", *SPREAD_COLUMNS, "run_ids"])


def per_digit_values(runs: Sequence[RunInfo]) -> pd.DataFrame:
    """Stored test MSE per digit ("0".."9") and overall ("all") of each run: one row per digit, one column per run
    (its seed)."""
    columns = {}
    for run in runs:
        stored = {str(row.digit): row.mse for row in run.metrics.test.per_digit}
        columns[run.config.seed] = [stored.get(d, math.nan) for d in DIGITS[:-1]] + [run.test_mse]
    return pd.DataFrame(columns, index=pd.Index(DIGITS, name="digit"))


def per_digit_spread(runs: Sequence[RunInfo]) -> pd.DataFrame:
    """Test MSE per digit and overall across the runs (the seeds of one config).

    Columns: digit ("0".."9", "all"), n_seeds, seeds, mean, sd, min, max.
    """
    values = per_digit_values(runs)
    seeds = tuple(sorted(values.columns))
    rows = []
    for digit, row in values.iterrows():
        spread = Spread.of(row.to_numpy())
        rows.append({"digit": digit, "n_seeds": spread.n, "seeds": seeds, "mean": spread.mean, "sd": spread.sd,
                     "min": spread.low, "max": spread.high})  # fmt: skip
    return pd.DataFrame(rows, columns=["digit", *SPREAD_COLUMNS])


# --- is a difference between two configs bigger than the seed-to-seed spread? -------------------------


@dataclasses.dataclass(frozen=True)
class SeedComparison:
    """Two configs' test MSE across their seeds, and whether the difference exceeds the seed-to-seed spread.

    `exceeds` is True when the seeds separate completely: every seed of one config scored below every seed of the
    other. `chance` is how often a separation that complete would happen if the config made no difference and
    the n_a + n_b scores were shuffled between the two configs: 2 / C(n_a + n_b, n_a) (0.1 for 3 seeds each), the
    smallest p-value these seeds can give. `better` names the config with the lower mean when `exceeds`.
    """

    names: tuple[str, str]
    a: Spread
    b: Spread
    exceeds: bool
    better: str | None
    chance: float
    same_config: bool = False
    quantity: str = "test MSE"  # what the scores are, for the sentence

    @property
    def difference(self) -> float:
        """Mean of a's seeds minus mean of b's seeds (negative: a lower, better)."""
        return self.a.mean - self.b.mean

    @property
    def enough_seeds(self) -> bool:
        return self.a.n >= 2 and self.b.n >= 2 and not self.same_config

    @property
    def verdict(self) -> str:
        """A short verdict for a table cell."""
        if self.same_config:
            return "same config"
        if not self.enough_seeds:
            return "needs 2+ seeds each"
        return f"{self.better} better, beyond seed spread" if self.exceeds else "within seed spread"

    def sentence(self) -> str:
        """What was compared and what came out, in one paragraph of plain text."""
        first, second = self.names
        if self.same_config:
            return (f"{first} and {second} are the same config trained from different seeds, so their difference is "
                    "itself a sample of the seed-to-seed spread.")  # fmt: skip
        if not self.enough_seeds:
            return (
                f"Comparing configs across seeds needs at least 2 training seeds of each ({first} has "
                f"{self.a.n}, {second} has {self.b.n}); train more seeds of the same settings to see it."
            )
        ratio = abs(self.difference) / max(self.a.sd, self.b.sd) if max(self.a.sd, self.b.sd) > 0 else math.inf
        compared = (
            f"Mean {self.quantity} across seeds: {first} {self.a.mean:.5f} ({self.a.n} seeds, min–max "
            f"{self.a.low:.5f}–{self.a.high:.5f}), {second} {self.b.mean:.5f} ({self.b.n} seeds, "
            f"{self.b.low:.5f}–{self.b.high:.5f}); the difference {first} − {second} is {self.difference:+.5f}, "
            f"{ratio:.1f}× the larger seed sd."
        )
        if self.exceeds:
            other = second if self.better == first else first
            n_better, n_other = (self.a.n, self.b.n) if self.better == first else (self.b.n, self.a.n)
            return (
                f"{compared} Every one of {self.better}'s {n_better} seeds scored below every one of "
                f"{other}'s {n_other}: the difference between the configs exceeds the seed-to-seed spread. "
                f"With this few seeds, a separation this complete would still happen by chance "
                f"{self.chance:.0%} of the time if the configs were equal, so read it as a hint, not proof."
            )
        return (f"{compared} Their seeds' ranges overlap: the difference is within the seed-to-seed spread, so these "
                "seeds do not show that one config is better.")  # fmt: skip


def compare_seeds(
    a: Sequence[float],
    b: Sequence[float],
    names: tuple[str, str] = ("A", "B"),
    same_config: bool = False,
    quantity: str = "test MSE",
) -> SeedComparison:
    """Compare two configs by their seeds' scores `a` and `b` (lower is better); see SeedComparison."""
    first, second = Spread.of(a), Spread.of(b)
    exceeds = first.n >= 2 and second.n >= 2 and not same_config and (
        first.high < second.low or second.high < first.low
    )  # fmt: skip
    better = (names[0] if first.mean < second.mean else names[1]) if exceeds else None
    chance = 2 / math.comb(first.n + second.n, first.n)
    return SeedComparison(names, first, second, exceeds, better, chance, same_config, quantity)


def compare_runs(a: Sequence[RunInfo], b: Sequence[RunInfo], names: tuple[str, str] = ("A", "B")) -> SeedComparison:
    """Overall test MSE of two configs' seeds (each a list of seed siblings)."""
    same = bool(a) and bool(b) and config_key(a[0]) == config_key(b[0])
    return compare_seeds([r.test_mse for r in a], [r.test_mse for r in b], names, same_config=same)


def per_digit_comparison(
    a: Sequence[RunInfo], b: Sequence[RunInfo], names: tuple[str, str] = ("A", "B")
) -> pd.DataFrame:
    """Per digit and overall: each config's mean and sd across its seeds, the difference of the means (a − b) and
    whether it exceeds the seed spread (complete separation of the seeds).

    Columns: digit, n_a, mean_a, sd_a, n_b, mean_b, sd_b, diff, exceeds, verdict.
    """
    values_a, values_b = per_digit_values(a), per_digit_values(b)
    same = bool(a) and bool(b) and config_key(a[0]) == config_key(b[0])
    rows = []
    for digit in DIGITS:
        result = compare_seeds(values_a.loc[digit].to_numpy(), values_b.loc[digit].to_numpy(), names, same)
        rows.append({"digit": digit, "n_a": result.a.n, "mean_a": result.a.mean, "sd_a": result.a.sd,
                     "n_b": result.b.n, "mean_b": result.b.mean, "sd_b": result.b.sd, "diff": result.difference,
                     "exceeds": result.exceeds, "verdict": result.verdict})  # fmt: skip
    return pd.DataFrame(rows)


# --- sweep curves with seeds ---------------------------------------------------------------------------


def sweep_points(chosen: Sequence[RunInfo], every: Iterable[RunInfo]) -> pd.DataFrame:
    """One point per config among `chosen` runs (a sweep family or a study's runs), with the seed spread of that
    config over `every` run (the registry; `chosen` is included).

    Columns: config, model, bottleneck, latent_dims, parameters, runs (how many chosen runs the point averages),
    test_mse and pca_mse (means over those chosen runs), run_ids (theirs), then n_seeds, seeds, mean, sd, min,
    max of the test MSE over every seed of the config. Sorted by model, then latent dims.
    """
    chosen = list(chosen)
    pool = {r.run_id: r for r in [*every, *chosen]}
    spread = seed_spread(pool.values()).set_index("config")
    groups: dict[str, list[RunInfo]] = {}
    for run in chosen:
        groups.setdefault(config_key(run), []).append(run)
    rows = []
    for key, members in groups.items():
        members.sort(key=lambda r: r.config.seed)
        first = members[0]
        seeds = spread.loc[key]
        rows.append({
            "config": key, "model": first.config.model, "bottleneck": first.config.bottleneck,
            "latent_dims": first.latent_dim, "parameters": first.parameters, "runs": len(members),
            "test_mse": float(np.mean([r.test_mse for r in members])),
            "pca_mse": float(np.mean([r.pca_mse for r in members])),
            "run_ids": tuple(r.run_id for r in members),
            "n_seeds": int(seeds["n_seeds"]), "seeds": seeds["seeds"],
            **{column: float(seeds[column]) for column in ("mean", "sd", "min", "max")},
        })  # fmt: skip
    columns = ["config", "model", "bottleneck", "latent_dims", "parameters", "runs", "test_mse", "pca_mse", "run_ids",
               *SPREAD_COLUMNS]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "latent_dims"], ignore_index=True)
