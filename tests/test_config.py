"""Run configs validate every value with a message naming it, take architecture options from the registry,
and hash stably (the hash names run folders on disk)."""

import dataclasses

import pytest

from aecore.architectures import ARCHITECTURES
from aecore.config import RECIPES, ConfigError, RunConfig


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model", "transformer", "model must be one of mlp, conv, vae, dae; got 'transformer'"),
        ("model", None, "model must be one of"),
        ("recipe", "sgd", "recipe must be one of onecycle, seed; got 'sgd'"),
        ("dataset", "cifar", "dataset must be one of mnist, mnist-sample, fashion-mnist; got 'cifar'"),
        ("bottleneck", 0, "bottleneck must be from 1 to 1024; got 0"),
        ("bottleneck", -3, "bottleneck must be from 1"),
        ("bottleneck", 1025, "bottleneck must be from 1 to 1024; got 1025"),
        ("bottleneck", 2.5, "bottleneck must be a whole number"),
        ("epochs", 0, "epochs must be from 1 to 1000"),
        ("epochs", 10**6, "epochs must be from 1 to 1000"),
        ("epochs", "ten", "epochs must be a whole number"),
        ("batch_size", 0, "batch_size must be from 1"),
        ("batch_size", True, "batch_size must be a whole number"),
        ("learning_rate", 0.0, "learning_rate must be from"),
        ("learning_rate", -1e-3, "learning_rate must be from"),
        ("learning_rate", 50.0, "learning_rate must be from"),
        ("learning_rate", float("nan"), "learning_rate must be a number"),
        ("learning_rate", float("inf"), "learning_rate must be a number"),
        ("learning_rate", "fast", "learning_rate must be a number"),
        ("seed", -1, "seed must be from 0"),
        ("seed", 2**31, "seed must be from 0"),
        ("train_limit", 1, "train_limit must be from 10"),
        ("train_limit", 5.0, "train_limit must be a whole number"),
        ("options", 5, "options must be name/value pairs; got 5"),
        ("options", {"beta": 1.0}, "mlp has no option beta \\(its options: none\\)"),
    ],
)
def test_invalid_values_are_named(field, value, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**{field: value})


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        ("vae", {"noise": 0.1}, "vae has no option noise \\(its options: beta\\)"),
        ("dae", {"beta": 1.0}, "dae has no option beta \\(its options: noise\\)"),
        ("conv", {"noise": 0.1}, "conv has no option noise \\(its options: none\\)"),
        ("vae", {"beta": -0.5}, "beta must be from 0 to 100; got -0.5"),
        ("vae", {"beta": 101}, "beta must be from 0 to 100; got 101"),
        ("vae", {"beta": float("nan")}, "beta must be a number from 0 to 100; got nan"),
        ("vae", {"beta": "high"}, "beta must be a number"),
        ("vae", {"beta": True}, "beta must be a number"),
        ("dae", {"noise": 1.5}, "noise must be from 0 to 1; got 1.5"),
        ("dae", {"noise": float("inf")}, "noise must be a number"),
        ("vae", [("beta", 1.0, 2.0)], "options must be name/value pairs"),
    ],
)
def test_invalid_architecture_options_are_named(model, options, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(model=model, options=options)


@pytest.mark.parametrize(("model", "too_wide"), [("mlp", 1025), ("conv", 257), ("vae", 1025), ("dae", 257)])
def test_the_bottleneck_bound_is_the_architectures(model, too_wide):
    RunConfig(model=model, bottleneck=too_wide - 1)
    with pytest.raises(ConfigError, match=f"bottleneck must be from 1 to {too_wide - 1}; got {too_wide}"):
        RunConfig(model=model, bottleneck=too_wide)


def test_the_shipped_runs_hashes_do_not_drift():
    # The key names folders on disk: a change here orphans every saved run (the shipped defaults included),
    # so it must be deliberate. Options must not enter the hash of architectures without options.
    assert RunConfig.for_recipe("mlp").run_id == "mlp-mnist-8c87a3f7b8"
    assert RunConfig.for_recipe("conv").run_id == "conv-mnist-a330f631e4"
    assert RunConfig.for_recipe("mlp", "seed").key == "8695f60fe2"
    # The data-size comparison shipped beside them: the same recipes on the 4,500-image sample.
    assert RunConfig.for_recipe("mlp", dataset="mnist-sample").run_id == "mlp-mnist-sample-39dd264093"
    assert RunConfig.for_recipe("conv", dataset="mnist-sample").run_id == "conv-mnist-sample-4b241fe02c"
    assert "options" not in RunConfig.for_recipe("mlp").to_dict()


def test_hash_is_stable_and_covers_every_field():
    a = RunConfig(model="conv", bottleneck=2)
    assert a.key == RunConfig(model="conv", bottleneck=2).key
    assert len(a.key) == 10 and a.run_id == f"conv-mnist-{a.key}"
    changes = {
        "model": "mlp", "bottleneck": 3, "epochs": 61, "batch_size": 65, "learning_rate": 0.02, "recipe": "seed",
        "seed": 1, "dataset": "mnist-sample", "train_limit": 100,
    }  # fmt: skip
    assert set(changes) | {"options"} == {f.name for f in dataclasses.fields(RunConfig)}
    for field, value in changes.items():
        assert dataclasses.replace(a, **{field: value}).key != a.key, f"{field} is not in the hash"
    vae = RunConfig.for_recipe("vae")
    assert RunConfig.for_recipe("vae", options={"beta": 2.0}).key != vae.key, "options are not in the hash"
    # the same number written as int or float is the same run
    assert RunConfig(learning_rate=1).key == RunConfig(learning_rate=1.0).key
    assert RunConfig.for_recipe("vae", options={"beta": 1}).key == vae.key


@pytest.mark.parametrize("spec", ARCHITECTURES, ids=lambda spec: spec.name)
def test_options_are_default_filled(spec):
    given = {o.name: o.default for o in spec.options}
    assert RunConfig.for_recipe(spec.name) == RunConfig.for_recipe(spec.name, options=given)
    assert RunConfig.for_recipe(spec.name).run_id == RunConfig.for_recipe(spec.name, options=given).run_id
    assert dict(RunConfig.for_recipe(spec.name).options) == given


def test_the_vae_default_is_beta_1_and_options_are_sorted_float_pairs():
    assert RunConfig.for_recipe("vae") == RunConfig.for_recipe("vae", options={"beta": 1.0})
    assert RunConfig.for_recipe("vae").options == (("beta", 1.0),)
    assert RunConfig.for_recipe("vae").option("beta") == 1.0
    assert RunConfig.for_recipe("dae", options=[("noise", 0)]).options == (("noise", 0.0),)
    assert RunConfig.for_recipe("mlp").options == ()


@pytest.mark.parametrize("spec", ARCHITECTURES, ids=lambda spec: spec.name)
@pytest.mark.parametrize("recipe", RECIPES)
def test_to_dict_and_from_dict_round_trip(spec, recipe):
    options = {o.name: o.high for o in spec.options}
    config = RunConfig.for_recipe(spec.name, recipe, seed=3, train_limit=500, options=options)
    again = RunConfig.from_dict(config.to_dict())
    assert again == config and again.key == config.key
    assert RunConfig.from_dict(RunConfig.for_recipe(spec.name, recipe).to_dict()) == RunConfig.for_recipe(
        spec.name, recipe
    )


def test_from_dict_names_unknown_and_missing_fields():
    values = RunConfig().to_dict()
    with pytest.raises(ConfigError, match="unknown config field.*colour"):
        RunConfig.from_dict({**values, "colour": "red"})
    with pytest.raises(ConfigError, match="options must be a JSON object, got list"):
        RunConfig.from_dict({**values, "options": [["beta", 1]]})
    del values["epochs"]
    with pytest.raises(ConfigError, match="missing field.*epochs"):
        RunConfig.from_dict(values)
    with pytest.raises(ConfigError, match="must be a JSON object"):
        RunConfig.from_dict([1, 2])


def test_recipe_defaults_and_latent_dims():
    seed = RunConfig.for_recipe("mlp", "seed")
    assert (seed.epochs, seed.batch_size, seed.learning_rate) == (20, 64, 1e-3)
    conv = RunConfig.for_recipe("conv")
    assert (conv.epochs, conv.batch_size, conv.learning_rate) == (44, 256, 0.065)
    assert RunConfig.for_recipe("mlp").latent_dim == 32
    assert RunConfig.for_recipe("conv").latent_dim == 32  # 2 channels x 4 x 4
    assert RunConfig.for_recipe("dae", bottleneck=3).latent_dim == 48
    assert RunConfig.for_recipe("conv", epochs=3).epochs == 3


def test_for_recipe_names_a_bad_model_or_recipe():
    with pytest.raises(ConfigError, match="model must be one of"):
        RunConfig.for_recipe("transformer")
    with pytest.raises(ConfigError, match="recipe must be one of"):
        RunConfig.for_recipe("mlp", "adamw")
