"""The training loop learns, is deterministic, reports progress, stops on request and on NaN."""

import math

import pytest
import torch

from aecore.models import build_model
from aecore.train import TrainingCancelled, TrainingDiverged, evaluate_loss, train
from tests.runs import tiny_config


def tiny(model="mlp", **overrides):
    """A 3-epoch run on 200 images, bigger than tests.runs.tiny_config so the loss has room to fall."""
    values = {"bottleneck": 4 if model == "mlp" else 2, "epochs": 3, "batch_size": 32, "train_limit": 200}
    return tiny_config(model, **{**values, **overrides})


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_training_lowers_the_loss(tiny_dataset, model):
    config = tiny(model, epochs=4)
    torch.manual_seed(config.seed)
    untrained = evaluate_loss(build_model(config.model, config.bottleneck), tiny_dataset.val.images)
    result = train(config, tiny_dataset, device="cpu")
    assert len(result.history) == 4
    assert result.history[-1].train_loss < result.history[0].train_loss
    best = min(e.val_loss for e in result.history)
    assert best < 0.8 * untrained, f"validation loss {best:.4f} did not fall from {untrained:.4f}"
    assert evaluate_loss(result.model, tiny_dataset.val.images) == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_same_config_gives_identical_history(tiny_dataset, model):
    config = tiny(model, epochs=2)
    first = train(config, tiny_dataset, device="cpu")
    second = train(config, tiny_dataset, device="cpu")
    losses = [(e.train_loss, e.val_loss) for e in first.history]
    assert losses == [(e.train_loss, e.val_loss) for e in second.history]
    other = train(tiny(model, epochs=2, seed=1), tiny_dataset, device="cpu")
    assert [(e.train_loss, e.val_loss) for e in other.history] != losses


def test_seed_recipe_keeps_a_constant_rate_and_onecycle_anneals(tiny_dataset):
    seed = train(tiny(recipe="seed", learning_rate=1e-3), tiny_dataset, device="cpu")
    assert {e.learning_rate for e in seed.history} == {1e-3}
    cycle = train(tiny(epochs=3), tiny_dataset, device="cpu")
    assert cycle.history[-1].learning_rate < 1e-2 / 20 < cycle.history[0].learning_rate


def test_progress_reports_every_batch(tiny_dataset):
    events = []
    train(tiny(epochs=2), tiny_dataset, device="cpu", progress=events.append)
    assert len(events) == 2 * math.ceil(200 / 32)
    assert events[-1].fraction == 1.0 and events[0].epoch == 1 and events[-1].epoch == 2
    assert len(events[-1].history) == 1  # the first epoch had finished when the last batch ran


def test_cancel_stops_the_run(tiny_dataset):
    calls = []

    def stop_after_three() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(TrainingCancelled, match="epoch 1, batch 4"):
        train(tiny(), tiny_dataset, device="cpu", should_stop=stop_after_three)


def test_nan_loss_stops_with_a_clear_message(tiny_dataset, monkeypatch):
    import aecore.train as train_module

    real_loss = train_module.reconstruction_loss
    calls = []

    def poisoned(x, x_hat):
        calls.append(1)
        loss = real_loss(x, x_hat)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(train_module, "reconstruction_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 1, batch 5; try a lower learning rate"):
        train(tiny(), tiny_dataset, device="cpu")


def test_train_limit_keeps_every_digit(tiny_dataset):
    from aecore.train import _training_images

    _, labels = _training_images(tiny(train_limit=30), tiny_dataset.train)
    assert len(labels) == 30 and sorted(labels.unique().tolist()) == list(range(10))
