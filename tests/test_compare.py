"""Comparisons: labels that tell two runs apart, hashable run keys, and the PCA baselines a pair of slots needs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aecore.baselines import baseline_key
from aecore.compare import Comparison, RunKey, distinguishing_labels, full_label
from aecore.config import RunConfig
from aecore.run_schema import DatasetRecord, DigitScore, EvalMetrics, PcaMetrics, RunMetrics
from aecore.runstore import RunInfo, StoredFile, read_run
from tests.runs import make_run

SAMPLE = "1b1d06225ae632fb"  # the bundled sample's fingerprint


def fake_run(config: RunConfig, fingerprint: str = SAMPLE, weights: str = "a" * 64) -> RunInfo:
    """A RunInfo as the store would return it, without training: comparisons read only what is stored."""
    rows = tuple(DigitScore(d, 1000, 0.02) for d in range(10))
    return RunInfo(
        run_id=config.run_id, path=Path("/runs") / config.run_id, config=config, history=(), best_epoch=1,
        metrics=RunMetrics(EvalMetrics(0.02, rows), PcaMetrics(0.03, rows), val_mse=0.02),
        parameters=1, created="2026-01-01T00:00:00+00:00", train_seconds=1.0,
        dataset=DatasetRecord(config.dataset, fingerprint, "test"), versions={},
        files={"weights": StoredFile(f"weights-{weights[:12]}.safetensors", weights, 1)},
    )  # fmt: skip


def pair(a: RunConfig, b: RunConfig, **kwargs) -> Comparison:
    return Comparison.of({"A": fake_run(a, **kwargs), "B": fake_run(b, **kwargs)})


# --- labels ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "labels"),
    [
        (RunConfig.for_recipe("mlp", bottleneck=8), RunConfig.for_recipe("mlp"), ["MLP b=8", "MLP b=32"]),
        (RunConfig.for_recipe("mlp", "seed"), RunConfig.for_recipe("mlp"), ["MLP · seed recipe", "MLP · onecycle"]),
        (RunConfig.for_recipe("conv"), RunConfig.for_recipe("conv", seed=1), ["Conv · seed 0", "Conv · seed 1"]),
        (RunConfig.for_recipe("vae"), RunConfig.for_recipe("conv"), ["VAE", "Conv"]),
        (RunConfig.for_recipe("vae", options={"beta": 4}), RunConfig.for_recipe("vae"), ["VAE · β 4", "VAE · β 1"]),
        (RunConfig.for_recipe("dae", options={"noise": 0.5}), RunConfig.for_recipe("dae"),
         ["DAE · noise 0.5", "DAE · noise 0.3"]),
        (RunConfig.for_recipe("mlp", epochs=5), RunConfig.for_recipe("mlp"), ["MLP · 5 ep", "MLP · 60 ep"]),
        (RunConfig.for_recipe("mlp", train_limit=500), RunConfig.for_recipe("mlp"),
         ["MLP · 500 imgs", "MLP · all imgs"]),
        (RunConfig.for_recipe("mlp", bottleneck=8, seed=1), RunConfig.for_recipe("mlp"),
         ["MLP b=8 · seed 1", "MLP b=32 · seed 0"]),
        (RunConfig.for_recipe("mlp", bottleneck=8), RunConfig.for_recipe("conv"), ["MLP", "Conv"]),
    ],
)  # fmt: skip
def test_distinguishing_labels_name_only_what_differs(a, b, labels):
    assert distinguishing_labels([a, b]) == labels
    assert distinguishing_labels([b, a]) == labels[::-1]


def test_one_run_is_labelled_by_its_architecture_and_twins_by_their_slot():
    assert distinguishing_labels([RunConfig.for_recipe("dae")]) == ["DAE"]
    twins = pair(RunConfig.for_recipe("mlp"), RunConfig.for_recipe("mlp"))
    assert twins.labels == {"A": "MLP (A)", "B": "MLP (B)"}
    assert Comparison.of({"B": fake_run(RunConfig.for_recipe("conv"))}).labels == {"B": "Conv"}


def test_full_label_says_everything_that_matters():
    label = full_label(fake_run(RunConfig.for_recipe("vae", "seed", bottleneck=8, train_limit=500, seed=3)))
    assert label == "VAE b=8 (8-d) · seed recipe · 20 ep · β 1 · 500 imgs · seed 3 · test MSE 0.02000"


# --- run keys -------------------------------------------------------------------------------------------


def test_run_keys_are_hashable_and_change_when_the_weights_do(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    key = RunKey.of(info)
    assert key == RunKey.of(read_run(info.path)) and hash(key) == hash(RunKey.of(read_run(info.path)))
    assert {key: 1}[RunKey.of(read_run(info.path))] == 1
    assert (key.weights_sha256, key.latent_dim, key.dataset, key.n_test) == (
        info.weights_sha256,
        4,
        "mnist",
        200,
    )
    assert key.files == dict(info.files)
    retrained = fake_run(info.config, weights="b" * 64)
    assert RunKey.of(retrained) != RunKey.of(fake_run(info.config))


def test_runs_with_the_same_images_dims_and_seed_share_a_baseline_key():
    mlp, conv = RunKey.of(fake_run(RunConfig.for_recipe("mlp"))), RunKey.of(fake_run(RunConfig.for_recipe("conv")))
    assert mlp.baseline == conv.baseline == baseline_key("mnist", SAMPLE, 32, None, 0)
    limited = RunKey.of(fake_run(RunConfig.for_recipe("mlp", train_limit=500))).baseline
    other_limit = RunKey.of(fake_run(RunConfig.for_recipe("mlp", train_limit=1000))).baseline
    assert len({mlp.baseline, limited, other_limit}) == 3, "different training images need different baselines"
    everything = RunKey.of(fake_run(RunConfig.for_recipe("mlp", train_limit=54_000))).baseline
    assert everything == mlp.baseline, "a limit of at least the split's size is all images"
    copy = RunKey.of(fake_run(RunConfig.for_recipe("mlp"), fingerprint="0" * 16)).baseline
    assert copy != mlp.baseline, "another copy of the data is another baseline"


# --- baselines of a comparison --------------------------------------------------------------------------


def test_one_shared_baseline_when_the_keys_are_equal():
    comparison = pair(RunConfig.for_recipe("mlp"), RunConfig.for_recipe("conv"))
    [baseline] = comparison.baselines()
    assert (baseline.id, baseline.label, baseline.slots) == ("pca", "PCA-32", ("A", "B"))


def test_one_baseline_per_slot_when_the_training_images_differ():
    comparison = pair(RunConfig.for_recipe("mlp", train_limit=500), RunConfig.for_recipe("mlp"))
    baselines = comparison.baselines()
    assert [(b.id, b.label, b.slots) for b in baselines] == [
        ("pca-A", "PCA-32 (500 images)", ("A",)),
        ("pca-B", "PCA-32 (54,000 images)", ("B",)),
    ]
    assert baselines[0].key.train_limit == 500 and baselines[1].key.train_limit is None


def test_baselines_of_other_dims_are_told_apart_by_their_title():
    comparison = pair(RunConfig.for_recipe("mlp", bottleneck=8), RunConfig.for_recipe("mlp"))
    assert [(b.id, b.label) for b in comparison.baselines()] == [("pca-A", "PCA-8"), ("pca-B", "PCA-32")]
    assert len(Comparison.of({"A": fake_run(RunConfig.for_recipe("mlp"))}).baselines()) == 1


def test_runs_on_different_test_sets_are_not_paired():
    comparison = Comparison.of(
        {
            "A": fake_run(RunConfig.for_recipe("mlp", dataset="fashion-mnist"), fingerprint="f" * 16),
            "B": fake_run(RunConfig.for_recipe("mlp")),
        }
    )
    assert not comparison.same_test_set
    message = comparison.test_set_mismatch()
    assert "on Fashion-MNIST, 60k" in message and "on MNIST, 60k" in message
    same = pair(RunConfig.for_recipe("mlp"), RunConfig.for_recipe("vae"))
    assert same.same_test_set and same.test_set_mismatch() is None
    assert same.pair is not None and same.names == ("A", "B") and len(same) == 2


def test_a_budget_at_its_own_recipes_default_is_not_named():
    # Each budget is its recipe's default, so the recipe alone tells the runs apart.
    assert distinguishing_labels([RunConfig.for_recipe("mlp", "seed"), RunConfig.for_recipe("mlp")]) == [
        "MLP · seed recipe",
        "MLP · onecycle",
    ]
    # 60 epochs on both sides: the epochs tell nothing apart, even though one is not its recipe's default.
    assert distinguishing_labels([RunConfig.for_recipe("mlp", "seed", epochs=60), RunConfig.for_recipe("mlp")]) == [
        "MLP · seed recipe",
        "MLP · onecycle",
    ]


def test_baselines_that_differ_only_in_seed_say_so():
    a, b = (fake_run(RunConfig.for_recipe("conv", seed=seed)) for seed in (0, 1))
    labels = [baseline.label for baseline in Comparison.of({"A": a, "B": b}).baselines()]
    assert labels == ["PCA-32 (seed 0)", "PCA-32 (seed 1)"]


def test_baselines_of_two_copies_of_one_dataset_get_distinct_labels():
    a = fake_run(RunConfig.for_recipe("conv"))
    b = fake_run(RunConfig.for_recipe("conv"))
    b = replace(b, dataset=replace(b.dataset, fingerprint="0123456789abcdef"))
    labels = [baseline.label for baseline in Comparison.of({"A": a, "B": b}).baselines()]
    assert len(set(labels)) == 2, labels
