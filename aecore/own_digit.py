"""A user's own digit (drawn or uploaded) turned into an MNIST-like (1, 1, 32, 32) input.

MNIST's recipe: white ink on black, the digit scaled (keeping its aspect) to fit a 20x20 box, then placed in a
28x28 field so that its centre of mass sits at the field's centre. We then pad to 32x32 like every other input.
The centre-of-mass target (14, 14) with a whole-pixel shift matches the real test set: its digits' centres of mass
average (14.0, 14.0) with the ±0.29 spread that rounding to whole pixels leaves.
"""

from __future__ import annotations

import io

import numpy as np
import torch

MAX_UPLOAD_BYTES = 1_000_000  # 1 MB
ALLOWED_FORMATS = ("PNG", "JPEG")
MAX_PIXELS = 25_000_000  # larger images are refused before decoding (a 1 MB file can still unpack to gigabytes)
BOX = 20
FIELD = 28
CENTRE = 14.0
INK_THRESHOLD = 0.1  # after contrast stretching: fainter pixels are paper, not ink


def read_upload(data: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> np.ndarray:
    """Decode an uploaded PNG or JPEG into a greyscale (H, W) float array in [0, 1].

    Transparent pixels count as white paper. Raises ValueError with a one-line message for anything that is
    too large, not an image, or an image of another format.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        raise ValueError(
            f"the file is {len(data) / 1e6:.1f} MB; upload a PNG or JPEG of at most {max_bytes / 1e6:g} MB"
        )
    if not data:
        raise ValueError("the file is empty; upload a PNG or JPEG of a digit")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ALLOWED_FORMATS:
                raise UploadRefused(f"the file is a {image.format} image; upload a PNG or JPEG")
            if image.width * image.height > MAX_PIXELS:
                raise UploadRefused(f"the image is {image.width}x{image.height} pixels; upload one under 25 megapixels")
            image.load()
            return to_grey(image)
    except UploadRefused:
        raise
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError, EOFError):
        # Pillow's own ValueErrors ("Decompressed Data Too Large" for a text-chunk bomb) say nothing to a user
        raise ValueError("the file is not a readable image; upload a PNG or JPEG of a digit") from None


class UploadRefused(ValueError):
    """An upload this module refuses on purpose; its message is meant for the user."""


def to_grey(image) -> np.ndarray:
    """PIL image of any mode -> (H, W) float array in [0, 1]; transparency is composited onto white."""
    from PIL import Image

    if image.mode.startswith("I") or image.mode == "F":
        # 16-bit greyscale (a PNG of 16 bits a pixel opens as I;16 or I): convert("L") would clip every value
        # above 255 to white and call the image blank; scale the full 16-bit range instead
        values = np.asarray(image, dtype=np.float64)
        return np.clip(values / (1.0 if image.mode == "F" else 65535.0), 0.0, 1.0).astype(np.float32)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def canvas_to_grey(rgba: np.ndarray) -> np.ndarray:
    """streamlit-drawable-canvas image data (H, W, 4) uint8 -> (H, W) float greyscale in [0, 1]."""
    from PIL import Image

    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"canvas data must be (height, width, 4) RGBA; got shape {rgba.shape}")
    return to_grey(Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8)))


def preprocess(grey: np.ndarray) -> torch.Tensor:
    """(H, W) greyscale in [0, 1], ink of either colour -> (1, 1, 32, 32) MNIST-like input.

    Raises ValueError when there is no ink to find (an empty canvas or a blank photo).
    """
    from PIL import Image
    from scipy import ndimage

    grey = np.asarray(grey, dtype=np.float32)
    if grey.ndim != 2 or min(grey.shape) < 2:
        raise ValueError(f"expected a 2-D greyscale image; got shape {grey.shape}")
    # The border is paper: a light border means dark ink on light paper, which MNIST stores inverted.
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 0.5:
        grey = 1.0 - grey
        border = 1.0 - border
    paper = float(np.median(border))
    peak = float(grey.max())
    if peak - paper < 0.1:
        raise ValueError(
            "no digit found: the image is blank; draw or upload a dark digit on light paper (or vice versa)"
        )
    ink = np.clip((grey - paper) / (peak - paper), 0.0, 1.0)  # paper -> 0, strongest ink -> 1

    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL sizes are (width, height)
    small = np.asarray(
        Image.fromarray(np.ascontiguousarray(ink, dtype=np.float32)).resize(size, Image.Resampling.LANCZOS),
        dtype=np.float32,
    )
    small = np.clip(small, 0.0, 1.0)

    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    top, left = (FIELD - small.shape[0]) // 2, (FIELD - small.shape[1]) // 2
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    cy, cx = ndimage.center_of_mass(field)
    field = ndimage.shift(field, (round(CENTRE - cy), round(CENTRE - cx)), order=0, mode="constant", cval=0.0)

    padded = np.pad(field, 2)  # 28x28 -> 32x32, as the datasets are padded
    return torch.from_numpy(padded).reshape(1, 1, 32, 32)


def fit_code_pca(test_codes: np.ndarray, seed: int = 0):
    """A 2-D PCA map of the test codes that can also place new codes: returns (fitted PCA, (n, 2) coordinates).

    PCA rather than UMAP because a new digit must land exactly where the same map puts it: `pca.transform(code)`
    is the map's own projection, with no re-fitting and no approximation.
    """
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(test_codes)
    return pca, pca.transform(test_codes)


def nearest_test_digits(test_codes: np.ndarray, test_labels: np.ndarray, code: np.ndarray, k: int = 25) -> np.ndarray:
    """(10,) how many of the k test codes nearest to `code` (1, d) in latent space show each digit."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k).fit(test_codes)
    _, rows = index.kneighbors(np.asarray(code, dtype=test_codes.dtype).reshape(1, -1))
    return np.bincount(np.asarray(test_labels)[rows[0]], minlength=10)
