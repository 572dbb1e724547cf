"""Run folders: round trip, atomic saves, the registry, and load-or-train caching."""

import json

import pytest
import torch

import aecore.checkpoints as checkpoints
from aecore.checkpoints import (
    CheckpointError,
    delete_run,
    find_run,
    list_runs,
    load_model,
    load_or_train,
    read_run,
)
from tests.runs import make_run, tiny_config


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_round_trip_restores_weights_config_and_history(checkpoint_root, tiny_dataset, model):
    info, trained = make_run(checkpoint_root, tiny_dataset, tiny_config(model))
    assert info.path == checkpoint_root / info.config.run_id
    loaded = read_run(info.path)
    assert loaded.config == info.config and loaded.history == info.history
    restored = load_model(loaded)
    x = tiny_dataset.test.images[:8]
    trained.eval()
    with torch.inference_mode():
        assert torch.equal(restored(x), trained(x))
    stored = json.loads((info.path / "run.json").read_text())
    for field in ("config", "history", "metrics", "versions", "dataset", "created", "weights_sha256"):
        assert field in stored
    assert stored["dataset"]["fingerprint"] == tiny_dataset.fingerprint
    assert set(stored["versions"]) >= {"torch", "torchvision", "numpy", "python"}


def test_registry_lists_and_deletes(checkpoint_root, tiny_dataset):
    a, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("mlp"))
    b, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("conv"))
    runs, broken = list_runs(checkpoint_root)
    assert {r.run_id for r in runs} == {a.run_id, b.run_id} and not broken
    assert find_run(b.run_id[:8], checkpoint_root).run_id == b.run_id
    delete_run(a.run_id, checkpoint_root)
    assert [r.run_id for r in list_runs(checkpoint_root)[0]] == [b.run_id]
    with pytest.raises(CheckpointError, match="no run named"):
        delete_run(a.run_id, checkpoint_root)
    with pytest.raises(CheckpointError, match="no run named"):
        delete_run("../outside", checkpoint_root)


def test_a_save_that_fails_midway_leaves_the_previous_run_loadable(checkpoint_root, tiny_dataset, monkeypatch):
    info, model = make_run(checkpoint_root, tiny_dataset)
    before = load_model(read_run(info.path)).state_dict()
    real_write = checkpoints.write_atomic

    def fail_on_run_json(target, data):
        if target.name == "run.json":
            raise OSError(5, "Input/output error")
        real_write(target, data)

    monkeypatch.setattr(checkpoints, "write_atomic", fail_on_run_json)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # different weights, so a new weights file is written before run.json fails
    with pytest.raises(CheckpointError, match="cannot save"):
        checkpoints.save_run(
            checkpoint_root, info.config, model, history=list(info.history), best_epoch=1,
            metrics=info.metrics, dataset=info.dataset, train_seconds=1.0,
        )  # fmt: skip
    after = load_model(read_run(info.path)).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert sorted(p.name for p in info.path.iterdir()) == sorted(["run.json", info.weights_file])


def test_cache_hit_does_not_retrain(checkpoint_root, monkeypatch):
    import aecore.train

    config = tiny_config(train_limit=50)
    first, _ = load_or_train(config, root=checkpoint_root, device="cpu")

    def must_not_train(*args, **kwargs):
        raise AssertionError("a cached run was retrained")

    monkeypatch.setattr(aecore.train, "train", must_not_train)
    second, model = load_or_train(config, root=checkpoint_root, device="cpu")
    assert second.run_id == first.run_id and second.created == first.created
    assert model.latent_dim == config.latent_dim
    with pytest.raises(AssertionError, match="retrained"):
        load_or_train(config, root=checkpoint_root, device="cpu", retrain=True)


def test_load_or_train_records_test_metrics_and_pca(checkpoint_root):
    info, _ = load_or_train(tiny_config("conv", train_limit=50), root=checkpoint_root, device="cpu")
    assert len(info.metrics["test"]["per_digit"]) == 10
    assert sum(row["n"] for row in info.metrics["test"]["per_digit"]) == 10_000
    assert 0 < info.pca_mse < info.test_mse  # one epoch on 50 images cannot beat PCA-16
    assert info.dataset["name"] == "mnist-sample" and "10,000-image MNIST test set" in info.dataset["description"]
