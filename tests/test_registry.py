"""The architecture registry: every entry is complete and consistent, and adding an ArchSpec is all it takes
for an architecture to be configurable, trainable from the CLI and the pipeline, and stored as a valid run."""

import re
from dataclasses import replace

import pytest

from aecore import architectures
from aecore.__main__ import UsageError, build_parser, configs_from_args, main
from aecore.architectures import ARCHITECTURES, DEFAULT_PAIR, get, names
from aecore.compare import distinguishing_labels
from aecore.config import RECIPES, ConfigError, RunConfig
from aecore.pipeline import load_or_train
from aecore.runstore import list_runs, load_evaluation, load_model, load_timeline
from tests.tiny_architecture import TinyAutoencoder

SPECS = pytest.mark.parametrize("spec", ARCHITECTURES, ids=lambda spec: spec.name)


def test_names_are_unique_and_safe_in_folder_names():
    assert len(set(names())) == len(names()) == len(ARCHITECTURES)
    for name in names():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"{name!r} cannot be part of a run folder's name"
    assert set(DEFAULT_PAIR) <= set(names())


def test_get_returns_the_spec_or_names_the_registered_ones():
    assert get("conv") is next(spec for spec in ARCHITECTURES if spec.name == "conv")
    with pytest.raises(ValueError, match="architecture must be one of mlp, conv, vae, dae; got 'rnn'"):
        get("rnn")


@SPECS
def test_every_spec_has_a_budget_per_recipe_and_sane_bounds(spec):
    assert set(spec.budgets) == set(RECIPES), f"{spec.name} lacks a budget for some recipe"
    assert 1 <= spec.default_bottleneck <= spec.widest_useful <= spec.max_bottleneck
    assert spec.code_cells >= 1 and spec.title and spec.summary and spec.bottleneck_help
    for option in spec.options:
        assert option.low <= option.default <= option.high, f"{spec.name}.{option.name} default out of range"
        assert option.name.isidentifier() and option.short
    assert spec.option_defaults == {o.name: o.default for o in spec.options}


@SPECS
def test_bottleneck_warning_only_beyond_the_widest_useful(spec):
    assert spec.bottleneck_warning(spec.default_bottleneck) is None
    assert spec.bottleneck_warning(spec.widest_useful) is None
    warning = spec.bottleneck_warning(spec.widest_useful + 1)
    assert warning is not None and spec.title in warning and str(spec.widest_useful) in warning


@SPECS
def test_time_estimates_grow_with_the_work(spec):
    one = spec.estimate_seconds(epochs=1, batch_size=64, images=4500)
    assert one > 0
    assert spec.estimate_seconds(epochs=2, batch_size=64, images=4500) == pytest.approx(2 * one)
    assert spec.estimate_seconds(epochs=1, batch_size=64, images=9000) > one


def test_the_default_pair_is_compared_at_equal_latent_dims():
    dims = {RunConfig.for_recipe(name).latent_dim for name in DEFAULT_PAIR}
    assert dims == {32}


# --- adding a spec is all it takes ------------------------------------------------------------------


def test_an_unregistered_architecture_is_refused_everywhere():
    with pytest.raises(ConfigError, match="model must be one of"):
        RunConfig.for_recipe("tiny")
    with pytest.raises(UsageError, match="invalid choice: 'tiny'"):
        build_parser().parse_args(["train", "--model", "tiny"])


def test_a_registered_architecture_is_configurable_and_a_cli_choice(tiny_architecture):
    assert "tiny" in architectures.names()
    config = RunConfig.for_recipe("tiny", options={"temperature": 2.0})
    assert (config.bottleneck, config.epochs, config.latent_dim) == (3, 1, 3)
    with pytest.raises(ConfigError, match="temperature must be from 0.5 to 4; got 9"):
        RunConfig.for_recipe("tiny", options={"temperature": 9})
    with pytest.raises(ConfigError, match="bottleneck must be from 1 to 16"):
        RunConfig.for_recipe("tiny", bottleneck=17)
    args = build_parser().parse_args(["train", "--model", "tiny", "--temperature", "2", "--seeds", "1"])
    assert configs_from_args(args) == [replace(config, seed=1)]
    assert distinguishing_labels([config, RunConfig.for_recipe("mlp")]) == ["Tiny", "MLP"]


def test_a_registered_architecture_trains_into_a_valid_run(tiny_architecture, checkpoint_root, capsys):
    config = RunConfig.for_recipe("tiny", train_limit=50)
    info, model = load_or_train(config, root=checkpoint_root, device="cpu")
    assert isinstance(model, TinyAutoencoder)
    runs, broken = list_runs(checkpoint_root)
    assert [r.run_id for r in runs] == [config.run_id] and not broken
    assert runs[0].spec is tiny_architecture and runs[0].latent_dim == 3
    assert isinstance(load_model(runs[0]), TinyAutoencoder)
    assert load_evaluation(runs[0]) is not None and load_timeline(runs[0]) is not None
    assert info.n_test == 10_000 and info.test_mse > 0

    argv = ["train", "--model", "tiny", "--temperature", "2", "--train-limit", "50"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("tiny-mnist-")
    assert len(list_runs(checkpoint_root)[0]) == 2


def test_a_plugin_module_that_is_missing_is_named(monkeypatch):
    monkeypatch.setenv(architectures.PLUGINS_ENV, "tests.no_such_plugin")
    monkeypatch.delattr(architectures, "ARCHITECTURES", raising=False)
    with pytest.raises(ImportError, match="AECORE_PLUGINS names 'tests.no_such_plugin'"):
        architectures.names()


def test_a_plugin_cannot_take_a_registered_name(monkeypatch):
    monkeypatch.setenv(architectures.PLUGINS_ENV, "tests.tiny_architecture, tests.tiny_architecture")
    monkeypatch.delattr(architectures, "ARCHITECTURES", raising=False)
    with pytest.raises(ValueError, match="tiny is registered twice"):
        architectures.get("tiny")
