"""The selection summaries and exports of aecore.selection, on small synthetic arrays."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from aecore import selection

RNG = np.random.default_rng(0)
NAMES = ("T-shirt/top", "Trouser", "Pullover")


def test_a_selection_is_sorted_unique_test_indices_without_the_click_layer():
    assert selection.as_selection([7, 3, 7, -1, 0]) == (0, 3, 7)
    assert selection.as_selection(np.array([[2.0], [1.0]])) == (1, 2)


def test_class_mix_counts_present_classes_by_name_most_first():
    mix = selection.class_mix(np.array([2, 2, 0, 2]), NAMES)
    assert list(mix["class"]) == ["Pullover", "T-shirt/top"], "Trouser is absent; Pullover has most"
    assert list(mix["images"]) == [3, 1]
    assert mix["share"].sum() == pytest.approx(1.0)


def test_summary_reports_count_mix_mean_errors_and_agreement_on_the_selection_only():
    labels = np.array([0, 1, 2, 0, 1, 2])
    errors = {"A": np.arange(6, dtype=float), "B": np.full(6, 2.0), "PCA-8": np.arange(6, 0, -1, dtype=float)}
    shown = np.array([0, 2, 3, 5])  # the map shows four of the six test images
    overlap = np.array([1.0, 0.5, 0.0, 0.25])
    summary = selection.summarise([3, 5, 1], labels, NAMES, errors, (shown, overlap))
    assert summary.count == 3
    assert summary.mse == pytest.approx({"A": 3.0, "B": 2.0, "PCA-8": 3.0})
    assert summary.agreement_n == 2 and summary.agreement == pytest.approx(0.125), "only #3 and #5 are shown"
    mix = dict(zip(summary.classes["class"], summary.classes["images"], strict=True))
    assert mix == {"T-shirt/top": 1, "Trouser": 1, "Pullover": 1}
    none_shown = selection.summarise([1], labels, NAMES, errors, (shown, overlap))
    assert none_shown.agreement is None and none_shown.agreement_n == 0
    with pytest.raises(ValueError, match="empty"):
        selection.summarise([], labels, NAMES, errors)


def test_neighbourhood_overlap_is_one_for_the_same_space_and_low_for_unrelated_ones():
    a = RNG.normal(size=(200, 5))
    same = selection.neighbourhood_overlap(a, a * 3.0, k=5)
    assert same.shape == (200,) and (same == 1.0).all()
    unrelated = selection.neighbourhood_overlap(a, RNG.normal(size=(200, 4)), k=5)
    assert unrelated.mean() < 0.2, "unrelated spaces share few neighbours"
    with pytest.raises(ValueError, match="k must be"):
        selection.neighbourhood_overlap(a, a, k=200)
    with pytest.raises(ValueError, match="same images"):
        selection.neighbourhood_overlap(a, a[:10], k=3)


def test_the_csv_table_has_one_row_per_selected_digit_with_errors_and_map_coordinates():
    labels = np.array([0, 1, 2, 0, 1])
    errors = {"A": np.linspace(0.1, 0.5, 5), "B": np.linspace(1, 5, 5)}
    coords_a = RNG.normal(size=(5, 2))
    maps = {"A": (np.arange(5), coords_a), "B": (np.array([1, 4]), np.array([[10.0, 11.0], [40.0, 41.0]]))}
    table = selection.selection_table([4, 0, 4], labels, NAMES, errors, maps)
    assert list(table["test index"]) == [0, 4], "one row per selected digit, each once"
    assert list(table.columns) == ["test index", "label", "class", "A MSE", "B MSE", "A map x", "A map y",
                                   "B map x", "B map y"]  # fmt: skip
    assert list(table["class"]) == ["T-shirt/top", "Trouser"]
    assert table["B MSE"].tolist() == pytest.approx([1.0, 5.0])
    assert table[["A map x", "A map y"]].to_numpy() == pytest.approx(coords_a[[0, 4]])
    assert np.isnan(table.loc[0, "B map x"]) and table.loc[1, "B map y"] == 41.0, "B's map does not show #0"
    again = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert len(again) == 2


def test_the_npz_holds_the_selected_images_labels_and_both_codes():
    labels = np.array([3, 1, 4, 1, 5])
    codes = {"A": RNG.normal(size=(5, 8)), "B": RNG.normal(size=(5, 2))}
    images = RNG.uniform(size=(2, 32, 32))
    data = np.load(io.BytesIO(selection.selection_npz([4, 1], images, labels, codes)))
    assert list(data["indices"]) == [1, 4] and list(data["labels"]) == [1, 5]
    assert data["images"].shape == (2, 32, 32) and data["codes_A"].shape == (2, 8)
    assert data["codes_B"] == pytest.approx(codes["B"][[1, 4]].astype(np.float32))
    with pytest.raises(ValueError, match="one image per"):
        selection.selection_npz([1, 2, 3], images, labels, codes)


def test_the_gallery_picture_stacks_each_digit_with_its_reconstructions_in_bands():
    originals, recon = np.ones((5, 4, 4)), np.zeros((5, 4, 4))
    picture = selection.gallery_picture([originals, recon], per_band=3, gap=1, band_gap=2)
    band_h = 2 * 4 + 1
    assert picture.shape == (2 * band_h + 2, 3 * 5 - 1)
    assert picture.dtype == np.uint8
    assert (picture[:4, :4] == 255).all() and (picture[5:9, :4] == 0).all(), "original above its reconstruction"
    second_band = band_h + 2
    assert (picture[second_band + 5 : second_band + 9, 5:9] == 0).all(), "digit 5 opens the second band"
    assert (picture[second_band:, 10:] == 255).all(), "no sixth digit"
    with pytest.raises(ValueError, match="same number"):
        selection.gallery_picture([originals, recon[:2]])


def test_grid_representatives_draw_at_most_one_digit_per_cell():
    coords = RNG.uniform(size=(2000, 2))
    rows = selection.grid_representatives(coords, cells=10)
    cells = np.minimum((coords[rows] * 10 / (coords.max(0) - coords.min(0))).astype(int), 9)
    keys = cells[:, 0] * 10 + cells[:, 1]
    assert len(set(keys.tolist())) == len(rows), "two images in one cell"
    assert 90 <= len(rows) <= 100, "a dense map fills nearly every cell"
    clustered = np.concatenate([RNG.normal(0, 0.01, size=(500, 2)), RNG.normal(5, 0.01, size=(500, 2))])
    assert len(selection.grid_representatives(clustered, cells=10)) <= 8, "a dense cluster gets one image per cell"
