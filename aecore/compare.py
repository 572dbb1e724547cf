"""Comparisons of runs: hashable run keys, slots A and B, labels that tell runs apart, and shared baselines.

A comparison is a set of slots, each holding one run of any architecture; nothing here is keyed by an
architecture's name. Methods in tables are identified by ids ("A", "B", "pca", "pca-A", ...), never by their
display titles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aecore import datasets
from aecore.baselines import EXACT_MSE, BaselineKey, baseline_key
from aecore.config import BUDGET_FIELDS, RECIPE_DEFAULTS, RunConfig
from aecore.run_schema import RunInfo, StoredFile

if TYPE_CHECKING:  # the run pickers read this module: pandas (and torch, with aecore.data) load only when used
    import pandas as pd

SLOTS = ("A", "B")


@dataclass(frozen=True)
class RunKey:
    """Everything a cache needs to load a run's model and artefacts without re-reading its run.json.

    Hashable; a retrained run has new file checksums, so it is a new key.
    """

    run_id: str
    path: Path
    config: RunConfig
    parameters: int
    format: int
    files_: tuple[tuple[str, StoredFile], ...]
    n_test: int
    epochs_trained: int
    dataset_fingerprint: str

    @classmethod
    def of(cls, info: RunInfo) -> RunKey:
        return cls(
            run_id=info.run_id, path=info.path, config=info.config, parameters=info.parameters, format=info.format,
            files_=tuple(sorted(info.files.items())), n_test=info.n_test, epochs_trained=info.epochs_trained,
            dataset_fingerprint=info.dataset.fingerprint,
        )  # fmt: skip

    @property
    def files(self) -> dict[str, StoredFile]:
        return dict(self.files_)

    @property
    def weights_sha256(self) -> str:
        return self.files["weights"].sha256

    @property
    def dataset(self) -> str:
        return self.config.dataset

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def baseline(self) -> BaselineKey:
        """The PCA baseline this run is measured against."""
        c = self.config
        return baseline_key(c.dataset, self.dataset_fingerprint, c.latent_dim, c.train_limit, c.seed)


# --- labels --------------------------------------------------------------------------------------------


def _fields(config: RunConfig) -> list[tuple[str, str, object]]:
    """(field, how it reads in a label, what is compared) for everything that can tell two configs of one
    architecture apart. A budget field compares as (its value, whether it is its recipe's default)."""
    options = {o.name: o for o in config.spec.options}
    budget = config.spec.budgets[config.recipe]
    described = [
        ("bottleneck", f"b={config.bottleneck}", config.bottleneck),
        ("recipe", RECIPE_DEFAULTS[config.recipe].title, config.recipe),
    ]
    for field, text in zip(
        BUDGET_FIELDS,
        (f"{config.epochs} ep", f"batch {config.batch_size}", f"lr {config.learning_rate:g}"),
        strict=True,
    ):
        value = getattr(config, field)
        described.append((field, text, (value, value == getattr(budget, field))))
    for name, value in config.options:
        described.append((f"option:{name}", f"{options[name].short} {value:g}", value))
    described += [
        ("train_limit", f"{config.train_limit:,} imgs" if config.train_limit else "all imgs", config.train_limit),
        ("dataset", datasets.get(config.dataset).title, config.dataset),
        ("seed", f"seed {config.seed}", config.seed),
    ]
    return described


def distinguishing_labels(configs: Sequence[RunConfig]) -> list[str]:
    """Short labels that tell these configs apart: the architecture, plus what differs among runs of it.

    ["MLP b=8", "MLP b=32"], ["MLP · seed recipe", "MLP · onecycle"], ["Conv · seed 0", "Conv · seed 1"],
    ["VAE", "Conv"]. Identical configs get the same label (callers add the slot).
    """
    compared = [{field: value for field, _, value in _fields(c)} for c in configs]

    def differs(field: str, mine: object, theirs: object) -> bool:
        if field in BUDGET_FIELDS:  # two budgets that are each their own recipe's default are said by the recipe
            return mine[0] != theirs[0] and not (mine[1] and theirs[1])
        return mine != theirs

    labels = []
    for config, own in zip(configs, compared, strict=True):
        same_arch = [other for c, other in zip(configs, compared, strict=True) if c.model == config.model]
        parts = [
            text for field, text, _ in _fields(config)
            if any(field in o and differs(field, own[field], o[field]) for o in same_arch)
        ]  # fmt: skip
        title = config.spec.title
        if parts and parts[0].startswith("b="):
            title, parts = f"{title} {parts[0]}", parts[1:]
        labels.append(" · ".join([title, *parts]))
    return labels


def full_label(info: RunInfo) -> str:
    """Everything that matters about a run on one line: for pickers, legends and tables."""
    c = info.config
    options = "".join(f" · {o.short} {value:g}" for o, (_, value) in zip(c.spec.options, c.options, strict=True))
    limit = f" · {c.train_limit:,} imgs" if c.train_limit else ""
    return (
        f"{c.spec.title} b={c.bottleneck} ({c.latent_dim}-d) · {RECIPE_DEFAULTS[c.recipe].title} · {c.epochs} ep"
        f"{options}{limit} · seed {c.seed} · test MSE {info.test_mse:.5f}"
    )


def picker_label(info: RunInfo) -> str:
    """What a closed run picker shows: architecture, bottleneck, recipe, seed and test MSE, in ~40 characters."""
    c = info.config
    options = "".join(f" · {o.short} {value:g}" for o, (_, value) in zip(c.spec.options, c.options, strict=True))
    return (f"{c.spec.title} b={c.bottleneck}{options} · {RECIPE_DEFAULTS[c.recipe].title} · seed {c.seed} · "
            f"MSE {info.test_mse:.4f}")  # fmt: skip


def details_line(info: RunInfo) -> str:
    """The rest of what defines a run, for a caption under its picker."""
    c = info.config
    images = f"{info.train_images:,}" if info.train_images else "all"
    return (f"{c.latent_dim}-d code · {c.epochs} epochs · batch {c.batch_size} · lr {c.learning_rate:g} · "
            f"{images} training images of {c.dataset}")  # fmt: skip


# --- slots ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One side of a comparison: a slot name ("A"), the run in it, the label that tells it apart and the run's key
    (what every cache and the projection code take)."""

    name: str
    run: RunInfo
    label: str
    key: RunKey


@dataclass(frozen=True)
class Baseline:
    """A PCA baseline in a comparison: its method id, its key, its label and the slots measured against it."""

    id: str
    key: BaselineKey
    label: str
    slots: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    """The runs in the slots, with labels that tell them apart and the PCA baselines they need."""

    slots: tuple[Slot, ...]

    @classmethod
    def of(cls, runs: Mapping[str, RunInfo]) -> Comparison:
        """{"A": run, "B": run} (either may be missing) -> a comparison with distinguishing labels."""
        names = [name for name in SLOTS if name in runs]
        labels = distinguishing_labels([runs[name].config for name in names])
        if len(names) == 2 and labels[0] == labels[1]:
            labels = [f"{label} ({name})" for label, name in zip(labels, names, strict=True)]
        return cls(
            tuple(
                Slot(name, runs[name], label, RunKey.of(runs[name])) for name, label in zip(names, labels, strict=True)
            )
        )

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(slot.name for slot in self.slots)

    def slot(self, name: str) -> Slot:
        return next(slot for slot in self.slots if slot.name == name)

    @property
    def labels(self) -> dict[str, str]:
        return {slot.name: slot.label for slot in self.slots}

    @property
    def pair(self) -> tuple[Slot, Slot] | None:
        """Both slots, when there are two."""
        return (self.slots[0], self.slots[1]) if len(self.slots) == 2 else None

    @property
    def same_test_set(self) -> bool:
        """Whether every slot was scored on the same test images (so images can be paired across slots)."""
        # Datasets that share a test set (mnist and its sample) pair image by image; two copies of one dataset
        # with different content (another data root) do not.
        test_sets = {datasets.get(s.run.config.dataset).test_set for s in self.slots}
        copies: dict[str, set[str]] = {}
        for s in self.slots:
            copies.setdefault(s.run.config.dataset, set()).add(s.run.dataset.fingerprint)
        return len(test_sets) <= 1 and all(len(prints) == 1 for prints in copies.values())

    def test_set_mismatch(self) -> str | None:
        """A sentence for the page when the slots cannot be compared image by image, else None."""
        if self.same_test_set:
            return None
        sets = ", ".join(f"{s.label} on {datasets.get(s.run.config.dataset).title}" for s in self.slots)
        return (
            f"The runs were scored on different test sets ({sets}), so they cannot be compared image by image; "
            "put two runs with the same test set into A and B (the Run A and Run B pickers in the sidebar)."
        )

    def baselines(self) -> list[Baseline]:
        """One PCA baseline per distinct key among the slots: shared ("pca") or one per slot ("pca-A"). When two
        baselines keep the same dims, their labels say what differs: the training images, the seed, the data."""
        from aecore.datasets import estimate_train_images

        by_key: dict[BaselineKey, list[str]] = {}
        for slot in self.slots:
            by_key.setdefault(slot.key.baseline, []).append(slot.name)
        shared = len(by_key) == 1
        result = []
        for key, names in by_key.items():
            twins = [other for other in by_key if other != key and other.dims == key.dims]
            parts = []
            if any(other.train_limit != key.train_limit for other in twins):
                parts.append(f"{estimate_train_images(key.dataset, key.train_limit):,} images")
            if any(other.seed != key.seed for other in twins):
                parts.append(f"seed {key.seed}")
            if any(other.dataset != key.dataset for other in twins):
                parts.append(key.dataset)
            elif any(other.fingerprint != key.fingerprint for other in twins):  # two copies of one dataset
                parts.append(f"{key.dataset} {key.fingerprint[:8]}")
            label = f"{key.title} ({', '.join(parts)})" if parts else key.title
            result.append(Baseline("pca" if shared else f"pca-{'-'.join(names)}", key, label, tuple(names)))
        labels = [b.label for b in result]
        if len(set(labels)) < len(labels):  # a key difference no label says: name whose baseline each is
            result = [dataclasses.replace(b, label=f"{b.label} for {' & '.join(b.slots)}") for b in result]
        return result


def run_table(runs: Sequence[RunInfo]) -> pd.DataFrame:
    """One row per run with everything that tells runs apart and how they scored (the Runs page, `list`)."""
    import pandas as pd

    rows = []
    for r in runs:
        c = r.config
        rows.append({
            "run": r.run_id,
            "architecture": c.spec.title,
            "bottleneck": c.bottleneck,
            "latent dims": r.latent_dim,
            "options": ", ".join(f"{name} {value:g}" for name, value in c.options),
            "recipe": c.recipe,
            "epochs": c.epochs,
            "batch": c.batch_size,
            "lr": c.learning_rate,
            "seed": c.seed,
            "dataset": c.dataset,
            "training images": r.train_images,
            "parameters": r.parameters,
            "test MSE": r.test_mse,
            "PCA MSE": r.pca_mse if r.metrics.pca.is_baseline else None,
            "vs PCA": r.test_mse / r.pca_mse if r.metrics.pca.is_baseline and r.pca_mse > EXACT_MSE else None,
            "created": r.created_at,
            "training s": r.train_seconds,
        })  # fmt: skip
    return pd.DataFrame(rows)
