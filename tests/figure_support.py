"""Reading figures back in tests: the pixels of a picture that travels as a PNG data URI (a gallery, a map's digit)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

PNG_URI = "data:image/png;base64,"


def picture_pixels(image_trace) -> np.ndarray:
    """The uint8 pixels of a plotly image drawn from a PNG `source`: a go.Image trace, a layout image, or its JSON."""
    source = image_trace["source"]
    assert source.startswith(PNG_URI), source[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source[len(PNG_URI) :]))))
