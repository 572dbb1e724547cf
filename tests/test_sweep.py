"""Bottleneck sweeps train only what is missing and summarise one family of runs."""

from __future__ import annotations

import pytest

import aecore.pipeline
from aecore.__main__ import main
from aecore.config import ConfigError, RunConfig
from aecore.runstore import list_runs
from aecore.studies import SweepSpec, run_study, study_runs
from aecore.sweep import describe_family, families, family, sweep_configs, sweep_table

QUICK = {"epochs": 1, "train_limit": 100}


def counted_trainings(monkeypatch) -> list[str]:
    """Wrap the real trainer in this process; the list it returns fills with the run ids it trains."""
    calls = []
    real = aecore.pipeline.train

    def counted(config, *args, **kwargs):
        calls.append(config.run_id)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(aecore.pipeline, "train", counted)  # the name load_or_train calls
    return calls


@pytest.fixture
def count_trainings(monkeypatch):
    return counted_trainings(monkeypatch)


def test_configs_cover_every_point_with_shared_settings():
    configs = sweep_configs(["mlp", "conv"], [1, 2, 2], epochs=3)
    assert [(c.model, c.bottleneck) for c in configs] == [("mlp", 1), ("mlp", 2), ("conv", 1), ("conv", 2)]
    assert {c.epochs for c in configs} == {3} and {c.seed for c in configs} == {0}
    assert configs[1] == RunConfig.for_recipe("mlp", bottleneck=2, epochs=3)
    seeded = sweep_configs(["mlp"], [4], seeds=[2, 0, 2])
    assert [c.seed for c in seeded] == [2, 0] and seeded[0] == RunConfig.for_recipe("mlp", bottleneck=4, seed=2)


@pytest.mark.parametrize(
    ("models", "bottlenecks", "overrides", "message"),
    [
        ([], [1], {}, "at least one model"),
        (["mlp"], [], {}, "at least one bottleneck"),
        (["mlp"], [0], {}, "bottleneck"),
        (["mlp"], [1], {"bottleneck": 4}, "set by the sweep"),
        (["mlp"], [1], {"seed": 4}, "set by the sweep"),
        (["mlp"], [1], {"seeds": []}, "at least one seed"),
    ],
)
def test_invalid_sweeps_are_refused(models, bottlenecks, overrides, message):
    with pytest.raises(ConfigError, match=message):
        sweep_configs(models, bottlenecks, **overrides)


def sweep(root, bottlenecks):
    report = run_study(SweepSpec(models=("mlp",), bottlenecks=bottlenecks, **QUICK), root=root, device="cpu")
    return study_runs(report.name, root=root)


def test_sweep_reuses_cached_runs(checkpoint_root, count_trainings):
    first = sweep(checkpoint_root, (1, 2))
    assert len(count_trainings) == 2
    again = sweep(checkpoint_root, (1, 2))
    assert len(count_trainings) == 2, "a repeated sweep must not train again"
    assert sorted(r.run_id for r in again) == sorted(r.run_id for r in first)
    sweep(checkpoint_root, (1, 2, 3))  # another study over a wider grid: its first two points are cached runs
    assert count_trainings[2:] == [RunConfig.for_recipe("mlp", bottleneck=3, **QUICK).run_id], "only the new run"

    runs, _ = list_runs(checkpoint_root)
    table = sweep_table(runs, first[0].config)
    assert list(table["latent_dims"]) == [1, 2, 3]
    assert (table["test_mse"] > 0).all() and (table["pca_mse"] > 0).all()
    budget = first[0].config
    assert list(families(runs)) == [
        f"onecycle · 1 epochs · batch {budget.batch_size} · lr {budget.learning_rate:g} · seed 0 · mnist · "
        "first 100 training images"
    ]


def test_runs_on_each_models_default_budget_form_one_family():
    mlp, conv = RunConfig.for_recipe("mlp", bottleneck=4), RunConfig.for_recipe("conv", bottleneck=1)
    assert family(mlp) == family(conv)
    assert describe_family(conv) == "onecycle (recipe defaults) · seed 0 · mnist"
    assert family(mlp) != family(RunConfig.for_recipe("mlp", bottleneck=4, epochs=mlp.epochs + 1))
    assert family(mlp) != family(RunConfig.for_recipe("mlp", bottleneck=4, seed=1))


def test_cli_sweep_trains_then_reuses(checkpoint_root, count_trainings, capsys):
    argv = [
        "--checkpoints",
        str(checkpoint_root),
        "sweep",
        "--bottlenecks",
        "1",
        "--models",
        "mlp",
        "conv",
        "--epochs",
        "1",
        "--train-limit",
        "100",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    assert main(argv) == 0
    assert len(count_trainings) == 2, "the second sweep must reuse both runs"
    lines = [line for line in capsys.readouterr().out.splitlines() if "test MSE" in line]
    assert len(lines) == 4 and lines[:2] == lines[2:]


def test_cli_sweep_over_seeds_trains_one_run_per_seed(checkpoint_root, count_trainings, capsys):
    argv = ["--checkpoints", str(checkpoint_root), "sweep", "--bottlenecks", "1", "--models", "mlp", "--seeds", "0",
            "1", "--epochs", "1", "--train-limit", "100", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 of 2 grid points have a run" in out and "seed 0," in out and "seed 1," in out
    assert sorted(count_trainings) == sorted(
        RunConfig.for_recipe("mlp", bottleneck=1, seed=seed, **QUICK).run_id for seed in (0, 1)
    )


def test_cli_sweep_bad_bottleneck_is_one_line_error(checkpoint_root, capsys):
    assert main(["--checkpoints", str(checkpoint_root), "sweep", "--bottlenecks", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aecore: error: bottleneck") and len(err.strip().splitlines()) == 1
