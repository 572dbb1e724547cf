"""Test-set errors: per image, per digit weighted back to the overall MSE, long per-digit tables keyed by a method
id, and the clipped PCA baseline."""

import json

import numpy as np
import pytest
import torch

from aecore.architectures import build_model
from aecore.baselines import PCABaseline
from aecore.inference import reconstruct_and_errors
from aecore.metrics import Evaluation, per_digit_table, per_digit_wide, ranked_indices, summary


def evaluate(model, images, labels) -> Evaluation:
    """What the pipeline stores for a run: per-image errors from the inference path, grouped by label."""
    return Evaluation(reconstruct_and_errors(model, images)[1], labels.numpy())


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


def test_summary_is_json_ready_with_ten_rows():
    labels = np.arange(20) % 10
    stored = summary(Evaluation(np.linspace(0.01, 0.2, 20), labels)).to_json()
    again = json.loads(json.dumps(stored, allow_nan=False))
    assert again["mse"] == pytest.approx(np.linspace(0.01, 0.2, 20).mean())
    assert [row["digit"] for row in again["per_digit"]] == list(range(10))
    assert [row["n"] for row in again["per_digit"]] == [2] * 10


def test_per_digit_table_is_long_and_keyed_by_method_id():
    labels = np.array([0, 0, 1, 2, 2, 2])
    errors = {"A": np.array([0.1, 0.3, 0.5, 0.0, 0.3, 0.6]), "pca": np.full(6, 0.2)}
    table = per_digit_table(errors, labels)
    assert list(table.columns) == ["method", "digit", "n", "mse"]
    assert len(table) == 2 * 11 and set(table["method"]) == {"A", "pca"}
    a = table[table["method"] == "A"].set_index("digit")
    assert list(a.index) == [str(d) for d in range(10)] + ["all"]
    assert a.loc["0", "mse"] == pytest.approx(0.2) and a.loc["2", "mse"] == pytest.approx(0.3)
    assert a.loc["all", "mse"] == pytest.approx(errors["A"].mean()) and a.loc["all", "n"] == 6
    assert a.loc["2", "n"] == 3 and a.loc["3", "n"] == 0 and np.isnan(a.loc["3", "mse"])


def test_per_digit_table_refuses_errors_of_other_images():
    with pytest.raises(ValueError, match="B: 3 errors for 4 labels"):
        per_digit_table({"A": np.zeros(4), "B": np.zeros(3)}, np.arange(4))


def test_wide_table_names_the_lower_error_and_keeps_the_all_row():
    labels = np.repeat(np.arange(10), 2)
    a = np.where(labels < 5, 0.1, 0.3)
    table = per_digit_table({"A": a, "B": np.full(20, 0.2), "pca": np.full(20, 0.05)}, labels)
    wide = per_digit_wide(table, ["A", "B", "pca"], pair=("A", "B"))
    assert wide["digit"].tolist() == [*map(str, range(10)), "all"]
    assert wide["better"].tolist()[:10] == ["A"] * 5 + ["B"] * 5
    assert wide["A − B"].tolist()[:10] == pytest.approx([-0.1] * 5 + [0.1] * 5)
    assert wide.loc[10, "pca"] == pytest.approx(0.05) and wide.loc[10, "n"] == 20


def test_wide_table_names_pca_where_it_beats_both_runs():
    labels = np.repeat(np.arange(10), 2)
    a = np.where(labels < 5, 0.1, 0.3)
    pca = np.where(labels < 8, 0.5, 0.01)  # PCA lowest on digits 8 and 9 only
    table = per_digit_table({"A": a, "B": np.full(20, 0.2), "pca": pca}, labels)
    wide = per_digit_wide(table, ["A", "B", "pca"], pair=("A", "B"), baselines=["pca"])
    assert wide["better"].tolist()[:10] == ["A"] * 5 + ["B"] * 3 + ["pca"] * 2


def test_ranked_indices_picks_the_worst_or_best_of_one_digit():
    errors = np.array([0.5, 0.1, 0.9, 0.3, 0.7])
    labels = np.array([1, 2, 1, 1, 2])
    assert ranked_indices(errors, labels, None, worst=True, k=2).tolist() == [2, 4]
    assert ranked_indices(errors, labels, 1, worst=False, k=2).tolist() == [3, 0]


# --- the PCA baseline -------------------------------------------------------------------------------


def test_pca_baseline_improves_with_components_and_fits_on_train_only(tiny_dataset):
    test = tiny_dataset.test.images
    errors = [PCABaseline.fit(tiny_dataset.train.images, k).errors(test).mean() for k in (2, 8, 32)]
    assert errors[0] > errors[1] > errors[2] > 0
    full = PCABaseline.fit(tiny_dataset.train.images, 500)
    assert full.pca_.n_samples_ == len(tiny_dataset.train)
    assert full.n_components == len(tiny_dataset.train) == full.n_train, "components are capped by the images"


def test_pca_reconstructions_are_clipped_to_valid_pixels(tiny_dataset):
    from sklearn.decomposition import PCA

    pca = PCABaseline.fit(tiny_dataset.train.images, 8, seed=0)
    test = tiny_dataset.test.images
    recon = pca.reconstruct(test)
    assert recon.shape == test.shape and recon.dtype == np.float32
    assert recon.min() >= 0.0 and recon.max() <= 1.0
    flat = test.flatten(1).numpy()
    plain = PCA(n_components=8, random_state=0).fit(tiny_dataset.train.images.flatten(1).numpy())
    unclipped = plain.inverse_transform(plain.transform(flat))
    assert unclipped.min() < 0, "these digits must need clipping, or the test proves nothing"
    expected = ((np.clip(unclipped, 0, 1) - flat) ** 2).mean(1)
    np.testing.assert_allclose(pca.errors(test), expected, rtol=1e-5)
    assert pca.errors(test).mean() < ((unclipped - flat) ** 2).mean(), "clipping can only help"
    assert pca.encode(test).shape == (len(test), 8)
