"""Load or train: a stored run is reused, a missing or unreadable one is trained, evaluated and saved; its PCA
baseline is fit on exactly the run's training images; format-1 runs are upgraded with an honest baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aecore.pipeline as pipeline
from aecore.config import RunConfig
from aecore.data import Dataset, display_indices, load_dataset, training_subset
from aecore.inference import reconstruct
from aecore.pipeline import evaluation_of, load_or_train, upgrade_run
from aecore.run_schema import DatasetRecord
from aecore.runstore import list_runs, load_evaluation, load_model, load_timeline, read_run
from aecore.train import to_uint8
from tests.runs import tiny_config, write_legacy_run


def honest_pca_errors(data: Dataset, config: RunConfig) -> np.ndarray:
    """Per-image test errors of the baseline the run must be measured against, computed here by hand: sklearn's
    PCA with the run's latent dims and seed, fit on exactly the run's training images, clipped to [0, 1]."""
    from sklearn.decomposition import PCA

    train = training_subset(data.train, config.train_limit).images.flatten(1).numpy()
    test = data.test.images.flatten(1).numpy()
    pca = PCA(n_components=min(config.latent_dim, *train.shape), random_state=config.seed).fit(train)
    recon = np.clip(pca.inverse_transform(pca.transform(test)), 0.0, 1.0)
    return ((recon - test) ** 2).mean(1)


@pytest.fixture(scope="module")
def sample() -> Dataset:
    return load_dataset("mnist")


def test_load_or_train_scores_and_stores_everything_a_page_reads(checkpoint_root, sample):
    config = tiny_config("conv", train_limit=50)
    info, model = load_or_train(config, root=checkpoint_root, device="cpu")
    assert info.format == 2 and info.n_test == 10_000 and len(info.metrics.test.per_digit) == 10
    assert info.metrics.val_mse == info.history[info.best_epoch - 1].val_loss
    assert info.dataset == DatasetRecord("mnist", sample.fingerprint, sample.description)
    assert info.train_images == 50 and info.metrics.pca.clipped is True
    assert 0 < info.pca_mse < info.test_mse  # one epoch on 50 images cannot beat PCA-16

    evaluation = load_evaluation(info)
    test = sample.test
    assert float(evaluation.test_errors.mean()) == pytest.approx(info.test_mse, rel=1e-5)
    np.testing.assert_array_equal(evaluation.display_indices, display_indices(test.labels.numpy()))
    np.testing.assert_array_equal(
        evaluation.display_recon, to_uint8(reconstruct(model, test.images[evaluation.display_indices]))
    )
    assert load_timeline(info).frames.shape == (1, 20, 32, 32)
    assert torch.equal(load_model(info).decode(torch.zeros(1, 16)), model.decode(torch.zeros(1, 16)))


def test_a_stored_run_is_reused_and_retrain_trains_again(checkpoint_root, monkeypatch):
    config = tiny_config(train_limit=50)
    first, _ = load_or_train(config, root=checkpoint_root, device="cpu")

    def must_not_train(*args, **kwargs):
        raise AssertionError("a stored run was retrained")

    monkeypatch.setattr(pipeline, "train", must_not_train)
    second, model = load_or_train(config, root=checkpoint_root, device="cpu")
    assert second == first and model.latent_dim == config.latent_dim
    with pytest.raises(AssertionError, match="retrained"):
        load_or_train(config, root=checkpoint_root, device="cpu", retrain=True)


@pytest.mark.parametrize("kind", ["weights", "evaluation", "timeline"])
def test_an_unreadable_stored_run_is_replaced_by_a_fresh_one(checkpoint_root, kind):
    config = tiny_config(train_limit=50)
    first, _ = load_or_train(config, root=checkpoint_root, device="cpu")
    (first.path / first.files[kind].name).write_bytes(b"damaged")
    assert list_runs(checkpoint_root)[1], "the damage must make the run unreadable"
    second, _ = load_or_train(config, root=checkpoint_root, device="cpu")
    runs, broken = list_runs(checkpoint_root)
    assert [r.run_id for r in runs] == [config.run_id] and not broken, f"a run with a damaged {kind} was reused"
    assert second.weights_sha256 == first.weights_sha256, "training is deterministic: the same weights again"


def test_the_stored_pca_baseline_is_fit_on_exactly_the_runs_training_images(checkpoint_root, sample):
    config = tiny_config("mlp", train_limit=60, seed=2)
    info, _ = load_or_train(config, root=checkpoint_root, device="cpu")
    expected = honest_pca_errors(sample, config)
    assert info.pca_mse == pytest.approx(float(expected.mean()), rel=1e-5), "the PCA figure is not the honest one"
    labels = sample.test.labels.numpy()
    stored = [row.mse for row in info.metrics.pca.per_digit]
    np.testing.assert_allclose(stored, [expected[labels == d].mean() for d in range(10)], rtol=1e-5)
    # The figure would be different had the baseline seen all training images: the test can tell them apart.
    everything = honest_pca_errors(sample, tiny_config("mlp", train_limit=None, seed=2)).mean()
    assert abs(everything - info.pca_mse) > 0.05 * info.pca_mse


def test_a_bad_device_is_an_error_even_for_a_stored_run(checkpoint_root):
    from aecore.devices import DeviceError

    config = tiny_config(train_limit=50)
    load_or_train(config, root=checkpoint_root, device="cpu")
    with pytest.raises(DeviceError, match="cuda:99 is not available"):
        load_or_train(config, root=checkpoint_root, device="cuda:99")


def test_upgrade_turns_a_format_1_run_into_format_2_with_an_honest_baseline(
    checkpoint_root, tiny_dataset, sample, monkeypatch
):
    config = tiny_config(train_limit=100)
    legacy, model = write_legacy_run(checkpoint_root, tiny_dataset, config)
    computed = evaluation_of(legacy, sample)  # format 1: the artefacts are computed, not read
    assert computed.test_errors.shape == (10_000,)

    new = upgrade_run(legacy)
    assert new.format == 2 and new.run_id == legacy.run_id and new.path == legacy.path
    assert (new.history, new.best_epoch, new.created) == (legacy.history, legacy.best_epoch, legacy.created)
    assert new.metrics.val_mse == legacy.metrics.val_mse
    assert new.files.keys() == {"weights", "evaluation"}, "no timeline can be made without training"
    assert sorted(p.name for p in new.path.iterdir()) == sorted(["run.json", *(f.name for f in new.files.values())])
    state = load_model(new).state_dict()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items()), "the weights changed"
    assert new.pca_mse == pytest.approx(float(honest_pca_errors(sample, config).mean()), rel=1e-5)
    assert new.train_images == 100 and new.n_test == 10_000
    np.testing.assert_array_equal(load_evaluation(new).test_errors, computed.test_errors)
    monkeypatch.setattr(pipeline, "evaluate_run", lambda *args: pytest.fail("a stored evaluation was recomputed"))
    np.testing.assert_array_equal(evaluation_of(read_run(new.path), sample).test_errors, computed.test_errors)
    runs, broken = list_runs(checkpoint_root)
    assert [(r.run_id, r.format) for r in runs] == [(legacy.run_id, 2)] and not broken
