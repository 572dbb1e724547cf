"""The training loop learns, is deterministic, records a timeline, reports progress, stops on request and on NaN."""

import math

import numpy as np
import pytest
import torch

from aecore.architectures import ARCHITECTURES, build_model
from aecore.data import first_of_each_digit
from aecore.devices import DeviceError
from aecore.inference import reconstruct
from aecore.models.mlp import MLPAutoencoder
from aecore.train import PROBES_PER_DIGIT, TrainingCancelled, TrainingDiverged, evaluate_loss, to_uint8, train
from tests.runs import tiny_config

NAMES = [spec.name for spec in ARCHITECTURES]


def tiny(model="mlp", **overrides):
    """A 3-epoch run on 200 images, bigger than tests.runs.tiny_config so the loss has room to fall."""
    values = {"bottleneck": 4 if model in ("mlp", "vae") else 2, "epochs": 3, "batch_size": 32, "train_limit": 200}
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
    assert result.best_epoch == 1 + [e.val_loss for e in result.history].index(best)
    assert evaluate_loss(result.model, tiny_dataset.val.images) == pytest.approx(best, rel=1e-5)
    assert not result.model.training, "train() hands back a model in eval mode"


@pytest.mark.parametrize("model", NAMES)
def test_same_config_gives_identical_weights(tiny_dataset, model):
    config = tiny(model, epochs=2)
    first = train(config, tiny_dataset, device="cpu")
    second = train(config, tiny_dataset, device="cpu")
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{model}: weights differ"
    assert [(e.train_loss, e.val_loss) for e in first.history] == [(e.train_loss, e.val_loss) for e in second.history]
    np.testing.assert_array_equal(first.timeline.frames, second.timeline.frames)
    other = train(tiny(model, epochs=2, seed=1), tiny_dataset, device="cpu").model.state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a), f"{model}: another seed gave the same weights"


def test_the_timeline_has_one_frame_per_epoch_of_fixed_validation_probes(tiny_dataset):
    result = train(tiny(epochs=3), tiny_dataset, device="cpu")
    timeline = result.timeline
    assert timeline.frames.shape == (3, 10 * PROBES_PER_DIGIT, 32, 32) == (3, 20, 32, 32)
    assert timeline.frames.dtype == np.uint8
    val_labels = tiny_dataset.val.labels.numpy()
    np.testing.assert_array_equal(timeline.probe_positions, first_of_each_digit(val_labels, 2))
    np.testing.assert_array_equal(timeline.probe_labels, val_labels[timeline.probe_positions])
    assert np.bincount(timeline.probe_labels, minlength=10).tolist() == [2] * 10
    # The frame of the kept epoch is what the returned model draws for the probe digits.
    probes = tiny_dataset.val.images[timeline.probe_positions]
    kept = timeline.frames[result.best_epoch - 1]
    np.testing.assert_array_equal(kept, to_uint8(reconstruct(result.model, probes)))
    assert not np.array_equal(timeline.frames[0], timeline.frames[-1]), "every frame shows the same model"


def test_to_uint8_rounds_and_clips():
    images = torch.tensor([0.0, 0.5, 1.0, 1.2, -0.1, 0.999]).reshape(6, 1, 1, 1).expand(6, 1, 2, 2)
    out = to_uint8(images)
    assert out.shape == (6, 2, 2) and out.dtype == np.uint8
    assert out[:, 0, 0].tolist() == [0, 128, 255, 255, 0, 255]


def test_seed_recipe_keeps_a_constant_rate_and_onecycle_anneals(tiny_dataset):
    seed = train(tiny(recipe="seed", learning_rate=1e-3), tiny_dataset, device="cpu")
    assert {e.learning_rate for e in seed.history} == {1e-3}
    cycle = train(tiny(epochs=3), tiny_dataset, device="cpu")
    assert cycle.history[-1].learning_rate < 1e-2 / 20 < cycle.history[0].learning_rate


def test_progress_reports_every_batch_of_the_training_subset(tiny_dataset):
    events = []
    train(tiny(epochs=2, train_limit=150), tiny_dataset, device="cpu", progress=events.append)
    assert len(events) == 2 * math.ceil(150 / 32), "the run did not train on exactly train_limit images"
    assert events[-1].fraction == 1.0 and events[0].epoch == 1 and events[-1].epoch == 2
    assert len(events[-1].history) == 1  # the first epoch had finished when the last batch ran


def test_cancel_stops_the_run(tiny_dataset):
    calls = []

    def stop_after_three() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(TrainingCancelled, match="epoch 1, batch 4"):
        train(tiny(), tiny_dataset, device="cpu", should_stop=stop_after_three)


def test_a_nan_training_loss_stops_with_a_clear_message(tiny_dataset, monkeypatch):
    real_loss = MLPAutoencoder.training_loss
    calls = []

    def poisoned(self, x):
        calls.append(1)
        loss = real_loss(self, x)
        return loss * float("nan") if len(calls) == 5 else loss

    monkeypatch.setattr(MLPAutoencoder, "training_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 1, batch 5; try a lower learning rate than"):
        train(tiny(), tiny_dataset, device="cpu")


def test_an_infinite_validation_loss_stops_the_run(tiny_dataset, monkeypatch):
    import aecore.train as train_module

    monkeypatch.setattr(train_module, "reconstruction_loss", lambda x, x_hat: torch.tensor(float("inf")))
    with pytest.raises(TrainingDiverged, match="validation loss became inf in epoch 1"):
        train(tiny(), tiny_dataset, device="cpu")


@pytest.mark.parametrize("device", ["cuda:99", "gpu", ""])
def test_an_unavailable_device_is_refused_before_training(tiny_dataset, device):
    with pytest.raises(DeviceError, match="device"):
        train(tiny(), tiny_dataset, device=device)
