"""Reading figures back in tests: the pixels of a gallery's picture, which travels as a PNG data URI."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

PNG_URI = "data:image/png;base64,"


def picture_pixels(image_trace) -> np.ndarray:
    """The uint8 pixels of a plotly image trace (a go.Image or its JSON dict) drawn from a PNG `source`."""
    source = image_trace["source"]
    assert source.startswith(PNG_URI), source[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source[len(PNG_URI) :]))))
