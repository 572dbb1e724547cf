"""A selection of test digits on the latent maps: what it holds (class mix, each method's mean error, how far two
latent spaces agree on it), the files it exports (a CSV table, an .npz of images and codes, a gallery picture),
and the digits a map can draw as images without piling them up.

Plain numpy, pandas and scikit-learn: no torch, no Streamlit. A selection is a sorted tuple of test indices, so
it means the same digits on every map of the same test set, whichever projection drew them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def as_selection(indices: Sequence[int] | np.ndarray) -> tuple[int, ...]:
    """Test indices as a selection: sorted, each once, non-negative (a map's click layer marks empty spots -1)."""
    return tuple(sorted({int(i) for i in np.asarray(indices, dtype=np.int64).ravel() if i >= 0}))


def class_mix(labels: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """How many selected images each class has: columns class, images, share; present classes, most first.

    labels : (n,) int labels of the selected images
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    frame = pd.DataFrame({"class": list(class_names), "images": counts})
    frame = frame[frame["images"] > 0].sort_values("images", ascending=False, kind="stable")
    frame["share"] = frame["images"] / max(int(counts.sum()), 1)
    return frame.reset_index(drop=True)


def mean_errors(errors: dict[str, np.ndarray], indices: Sequence[int]) -> dict[str, float]:
    """{method: mean per-image MSE over the selected test images}; errors : {method: (n_test,) per-image MSE}."""
    rows = np.asarray(indices, dtype=np.int64)
    if not len(rows):
        raise ValueError("the selection is empty: select at least one digit")
    return {method: float(values[rows].mean()) for method, values in errors.items()}


def neighbourhood_overlap(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Per image, the share of its k nearest codes in `a` that are also among its k nearest in `b`.

    a : (n, dim_a), b : (n, dim_b), row i of both the same image. Returns (n,) values in [0, 1]; their mean is the
    neighbourhood agreement of the two spaces, and their mean over a selection is the agreement on that selection.
    """
    from sklearn.neighbors import NearestNeighbors

    if len(a) != len(b):
        raise ValueError(f"a and b must code the same images; got {len(a)} and {len(b)} rows")
    if not 1 <= k < len(a):
        raise ValueError(f"k must be from 1 to {len(a) - 1}; got {k}")
    # Asking for the fitted points themselves (X=None) leaves each point out of its own list.
    sets_a = NearestNeighbors(n_neighbors=k).fit(a).kneighbors(return_distance=False)
    sets_b = NearestNeighbors(n_neighbors=k).fit(b).kneighbors(return_distance=False)
    return np.array([len(np.intersect1d(ra, rb, assume_unique=True)) / k for ra, rb in zip(sets_a, sets_b,
                                                                                          strict=True)])  # fmt: skip


@dataclass(frozen=True)
class SelectionSummary:
    """What the selection panel reports."""

    count: int
    classes: pd.DataFrame  # class, images, share
    mse: dict[str, float]  # method id (slot or baseline) -> mean MSE on the selection
    agreement: float | None  # mean neighbourhood overlap over the selected digits shown on the maps; None: none shown
    agreement_n: int  # how many selected digits the agreement averages over


def summarise(
    indices: Sequence[int],
    labels: np.ndarray,
    class_names: Sequence[str],
    errors: dict[str, np.ndarray],
    overlap: tuple[np.ndarray, np.ndarray] | None = None,
) -> SelectionSummary:
    """Summary of a selection of test images.

    labels : (n_test,) labels of the whole test set; errors : {method: (n_test,) per-image MSE}
    overlap : (shown test indices, their neighbourhood overlap), or None with only one run
    """
    rows = np.asarray(as_selection(indices), dtype=np.int64)
    agreement, agreement_n = None, 0
    if overlap is not None:
        shown, values = overlap
        among = np.isin(shown, rows)
        agreement_n = int(among.sum())
        agreement = float(values[among].mean()) if agreement_n else None
    return SelectionSummary(len(rows), class_mix(labels[rows], class_names), mean_errors(errors, rows), agreement,
                            agreement_n)  # fmt: skip


def selection_table(
    indices: Sequence[int],
    labels: np.ndarray,
    class_names: Sequence[str],
    errors: dict[str, np.ndarray],
    maps: dict[str, tuple[np.ndarray, np.ndarray]],
) -> pd.DataFrame:
    """The CSV export: one row per selected test image.

    Columns: test index, label, class, "<method> MSE" per method, "<slot> map x/y" per map (empty where the map
    does not show that digit). maps : {slot: (test indices shown, (n, 2) coordinates)}
    """
    rows = np.asarray(as_selection(indices), dtype=np.int64)
    table = pd.DataFrame({"test index": rows, "label": labels[rows],
                          "class": [class_names[int(c)] for c in labels[rows]]})  # fmt: skip
    for method, values in errors.items():
        table[f"{method} MSE"] = values[rows]
    for slot, (shown, coords) in maps.items():
        position = pd.Series(np.arange(len(shown)), index=np.asarray(shown)).reindex(rows).to_numpy()
        found = ~np.isnan(position)
        for axis, name in enumerate("xy"):
            column = np.full(len(rows), np.nan)
            column[found] = coords[position[found].astype(np.int64), axis]
            table[f"{slot} map {name}"] = column
    return table


def selection_npz(
    indices: Sequence[int], images: np.ndarray, labels: np.ndarray, codes: dict[str, np.ndarray]
) -> bytes:
    """The .npz export: `indices` (n,), `images` (n, 32, 32) float32, `labels` (n,) and `codes_<slot>` (n, d).

    images : (n, 32, 32) of the selected images, in selection order; labels : (n_test,); codes : {slot: (n_test, d)}
    """
    rows = np.asarray(as_selection(indices), dtype=np.int64)
    if len(images) != len(rows):
        raise ValueError(f"need one image per selected digit; got {len(images)} for {len(rows)}")
    arrays = {"indices": rows, "images": np.asarray(images, dtype=np.float32), "labels": labels[rows]}
    arrays |= {f"codes_{slot}": np.asarray(values[rows], dtype=np.float32) for slot, values in codes.items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def gallery_picture(rows: Sequence[np.ndarray], per_band: int = 16, gap: int = 2, band_gap: int = 8) -> np.ndarray:
    """Stacks of images as one grey picture: image j of every row in column j, top to bottom, `per_band` columns
    per band and bands below each other (e.g. rows = originals, A's and B's reconstructions).

    rows : same-length (n, h, w) arrays in [0, 1]. Returns (H, W) uint8, white between the tiles.
    """
    if not rows or not len(rows[0]):
        raise ValueError("a gallery needs at least one image")
    n, h, w = rows[0].shape
    if any(r.shape != rows[0].shape for r in rows):
        raise ValueError("every row of a gallery needs the same number and size of images")
    columns = min(per_band, n)
    bands = -(-n // columns)
    band_h = len(rows) * (h + gap) - gap
    picture = np.full((bands * (band_h + band_gap) - band_gap, columns * (w + gap) - gap), 255, dtype=np.uint8)
    for j in range(n):
        band, column = divmod(j, columns)
        for r, images in enumerate(rows):
            top, left = band * (band_h + band_gap) + r * (h + gap), column * (w + gap)
            picture[top : top + h, left : left + w] = np.round(np.clip(images[j], 0, 1) * 255)
    return picture


def grid_representatives(coords: np.ndarray, cells: int) -> np.ndarray:
    """Rows of the points to draw as images on a map: in each occupied cell of a `cells` × `cells` grid over it,
    the point nearest the cell's centre, so that no two drawn images share a cell.

    coords : (n, 2). Returns the chosen rows, sorted.
    """
    if cells < 1:
        raise ValueError(f"cells must be at least 1; got {cells}")
    coords = np.asarray(coords, dtype=np.float64)
    low, high = coords.min(0), coords.max(0)
    size = np.maximum(high - low, 1e-12) / cells
    cell = np.minimum(((coords - low) / size).astype(np.int64), cells - 1)  # (n, 2) cell of each point
    centre = low + (cell + 0.5) * size
    distance = ((coords - centre) ** 2).sum(1)
    flat = cell[:, 0] * cells + cell[:, 1]
    order = np.lexsort((distance, flat))  # by cell, nearest its centre first
    first = np.ones(len(order), dtype=bool)
    first[1:] = flat[order][1:] != flat[order][:-1]
    return np.sort(order[first])
