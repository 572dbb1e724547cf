"""Test-set errors: per image, per digit weighted back to the overall MSE, and the PCA baseline."""

import numpy as np
import pytest
import torch

from aecore.metrics import Evaluation, PCABaseline, evaluate
from aecore.models import build_model


def test_per_digit_rows_weighted_by_counts_give_the_overall_mse(tiny_dataset):
    model = build_model("mlp", 4)
    result = evaluate(model, tiny_dataset.test.images, tiny_dataset.test.labels)
    table = result.per_digit()
    assert table["digit"].tolist() == list(range(10)) and table["n"].sum() == len(tiny_dataset.test)
    assert (table["n"] * table["mse"]).sum() / table["n"].sum() == pytest.approx(result.mse, rel=1e-12)


def test_per_image_errors_match_the_loss_definition(tiny_dataset):
    model = build_model("conv", 1).eval()
    x = tiny_dataset.test.images[:5]
    result = evaluate(model, x, tiny_dataset.test.labels[:5])
    with torch.inference_mode():
        expected = [torch.mean((img - model(img[None])[0]) ** 2).item() for img in x]
    assert np.allclose(result.per_image, expected, rtol=1e-5)
    assert not model.training


def test_evaluation_restores_training_mode(tiny_dataset):
    model = build_model("mlp", 4).train()
    evaluate(model, tiny_dataset.test.images[:4], tiny_dataset.test.labels[:4])
    assert model.training


def test_missing_digits_are_nan_not_zero():
    table = Evaluation(np.array([0.1, 0.3]), np.array([1, 1])).per_digit()
    assert table.loc[1, "mse"] == pytest.approx(0.2) and np.isnan(table.loc[0, "mse"])


def test_pca_baseline_improves_with_components_and_fits_on_train_only(tiny_dataset):
    errors = [
        PCABaseline.fit(tiny_dataset.train.images, k).evaluate(tiny_dataset.test.images, tiny_dataset.test.labels).mse
        for k in (2, 8, 32)
    ]
    assert errors[0] > errors[1] > errors[2] > 0
    full = PCABaseline.fit(tiny_dataset.train.images, 200)
    assert full.pca_.n_samples_ == len(tiny_dataset.train)
