"""Colours and names every page shares: slot colours (Okabe-Ito), the baseline's grey, the digit palette and
the one error colour scale."""

from __future__ import annotations

# Okabe-Ito: told apart under the common colour-vision deficiencies. Colours belong to slots, not to
# architectures, so two MLP runs are two colours.
SLOT_COLOURS: dict[str, str] = {"A": "#0072B2", "B": "#D55E00"}
# Further runs drawn beside the slots (overlays): the rest of the Okabe-Ito palette; its yellow last, because a
# thin yellow line is the hardest to see on white.
EXTRA_COLOURS: tuple[str, ...] = ("#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
BASELINE_COLOURS: tuple[str, ...] = ("#6E6E6E", "#A8A8A8")  # PCA stays grey (a second baseline lighter)
BASELINE_DASHES: tuple[str, ...] = ("dash", "longdash", "dashdot", "dot")  # and each further one its own dash
TEXT_GREY = "#444444"
# Loss curves on every chart (Training curves, the live job panel, the timeline): validation solid, the training
# objective dotted, so a line means the same wherever it is drawn.
VALIDATION_DASH = "solid"
TRAINING_DASH = "dot"

# Digits 0-9 on every map (Latent space, Draw a digit): Paul Tol's "muted" scheme plus two darker tones, all
# readable on white (no near-white entry) and distinguishable for colour-blind viewers.
DIGIT_COLOURS: tuple[str, ...] = (
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933",
    "#DDCC77", "#CC6677", "#882255", "#AA4499", "#555555",
)  # fmt: skip

# |x − x̂| on every page: one sequential scale from 0 (black) to 1 (pale yellow), the same range everywhere, so
# the same error has the same colour on every tile and every page. Colour follows the square root of the error
# (Plotly's Inferno stops, evenly spaced in √error): errors of 0.01-0.1, the common case, stay visible, and the
# colourbar is drawn on the same √ axis so that its ticks sit where their colours are.
ERROR_RANGE = (0.0, 1.0)
ERROR_ZERO_COLOUR = "#000004"  # Inferno's first stop: what zero error looks like
ERROR_STOPS: tuple[str, ...] = ("#000004", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60", "#cf4446", "#ed6925",
                                "#fb9b06", "#f7d13d", "#fcffa4")  # fmt: skip
ERROR_TICKS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0)

IMAGE_TILE_PX = 64  # a digit tile on screen: 32 pixels drawn at twice their size
# The main area's content width with the sidebar open in a 1280-px-wide window: a gallery wider than its column
# is shrunk by the browser, and then its captions (fixed-size text) would run into the next row.
CONTENT_WIDTH_PX = 740
COLUMN_GAP_PX = 16  # Streamlit's gap between st.columns
# Data grids at 1400 px (the width the layout is checked at; measured in Chromium): the main area is ~810 px wide,
# and a column takes ~5.5 px per character of its header or longest cell plus ~29 px of padding.
TABLE_WIDTH_PX = 810
GRID_CHAR_PX = 5.5
GRID_PADDING_PX = 29


def column_width(weights: tuple[float, ...], index: int, total: int = CONTENT_WIDTH_PX) -> int:
    """The width in pixels of column `index` of st.columns(weights) in a main area `total` pixels wide."""
    free = total - COLUMN_GAP_PX * (len(weights) - 1)
    return int(free * weights[index] / sum(weights))


def baseline_colour(index: int) -> str:
    return BASELINE_COLOURS[min(index, len(BASELINE_COLOURS) - 1)]


def extra_colour(index: int) -> str:
    return EXTRA_COLOURS[index % len(EXTRA_COLOURS)]
