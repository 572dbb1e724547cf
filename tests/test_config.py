"""Run configs validate every value with a message naming it, and hash stably."""

import pytest

from aecore.config import ConfigError, RunConfig


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model", "vae", "model must be one of mlp, conv"),
        ("recipe", "sgd", "recipe must be one of"),
        ("dataset", "cifar", "dataset must be one of"),
        ("bottleneck", 0, "bottleneck must be from 1"),
        ("bottleneck", -3, "bottleneck must be from 1"),
        ("bottleneck", 2.5, "bottleneck must be a whole number"),
        ("epochs", 0, "epochs must be from 1 to 1000"),
        ("epochs", 10**6, "epochs must be from 1 to 1000"),
        ("epochs", "ten", "epochs must be a whole number"),
        ("batch_size", 0, "batch_size must be from 1"),
        ("batch_size", True, "batch_size must be a whole number"),
        ("learning_rate", 0.0, "learning_rate must be from"),
        ("learning_rate", -1e-3, "learning_rate must be from"),
        ("learning_rate", 50.0, "learning_rate must be from"),
        ("learning_rate", float("nan"), "learning_rate must be from"),
        ("learning_rate", "fast", "learning_rate must be a number"),
        ("seed", -1, "seed must be from 0"),
        ("train_limit", 1, "train_limit must be from 10"),
    ],
)
def test_invalid_values_are_named(field, value, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**{field: value})


def test_hash_is_stable_and_covers_every_field():
    a = RunConfig(model="conv", bottleneck=2)
    assert a.key == RunConfig(model="conv", bottleneck=2).key
    assert len(a.key) == 10 and a.run_id == f"conv-mnist-sample-{a.key}"
    assert RunConfig(model="conv", bottleneck=2, seed=1).key != a.key
    assert RunConfig(model="conv", bottleneck=2, learning_rate=0.02).key != a.key
    # the same learning rate written as int or float is the same run
    assert RunConfig(learning_rate=1).key == RunConfig(learning_rate=1.0).key


def test_known_hash_does_not_drift():
    # The key names folders on disk: a change here orphans every saved run, so it must be deliberate.
    config = RunConfig(model="mlp", bottleneck=32, epochs=20, batch_size=64, learning_rate=1e-3, recipe="seed")
    assert config.key == RunConfig.from_dict(config.to_dict()).key
    assert config.key == "5edb7a4323"


def test_from_dict_names_unknown_and_missing_fields():
    values = RunConfig().to_dict()
    with pytest.raises(ConfigError, match="unknown config field.*colour"):
        RunConfig.from_dict({**values, "colour": "red"})
    del values["epochs"]
    with pytest.raises(ConfigError, match="missing field.*epochs"):
        RunConfig.from_dict(values)
    with pytest.raises(ConfigError, match="must be a JSON object"):
        RunConfig.from_dict([1, 2])


def test_recipe_defaults_and_latent_dims():
    seed = RunConfig.for_recipe("mlp", "seed")
    assert (seed.epochs, seed.batch_size, seed.learning_rate) == (20, 64, 1e-3)
    assert RunConfig.for_recipe("mlp").latent_dim == 32
    assert RunConfig.for_recipe("conv").latent_dim == 32  # 2 channels x 4 x 4
    assert RunConfig.for_recipe("conv", epochs=3).epochs == 3
