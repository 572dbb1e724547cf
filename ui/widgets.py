"""Page parts every page shares: the opening (title, what the page answers, which data), slot headings,
escaped text from run files, CSV downloads, and the checks that a view needs two comparable runs."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import streamlit as st

from aecore.compare import Comparison
from aecore.run_schema import EvalMetrics
from aecore.runstore import RunInfo
from ui import cache, frame
from ui.theme import GRID_CHAR_PX, GRID_PADDING_PX, SLOT_COLOURS, TABLE_WIDTH_PX

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape(text: object) -> str:
    """Text from a run file or folder name, safe inside Streamlit markdown: every markdown character is
    escaped, so `![i](http://host/x.png)` is shown as those characters and never fetched."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def swatch(slot: str) -> str:
    """A coloured square in the slot's colour (HTML; only used with unsafe_allow_html and escaped text)."""
    return f'<span style="color:{SLOT_COLOURS[slot]}">■</span>'


def slot_heading(comparison: Comparison, slot: str, suffix: str = "") -> str:
    """HTML-safe markdown naming a slot's run in its colour: '■ A · MLP b=8'. `suffix` must be escaped already."""
    label = html.escape(escape(comparison.slot(slot).label))
    return f"{swatch(slot)} **{slot} · {label}**{suffix}"


def dataset_banner(comparison: Comparison) -> str:
    """One escaped line naming the data behind the slots' runs (each run stores its dataset's description); when
    the slots' data differ, each part says which slot it belongs to."""
    described = {s.name: s.run.dataset.description for s in comparison.slots}
    if len(set(described.values())) == 1:
        return escape(next(iter(described.values())))
    return "  \n".join(f"**{slot}**: {escape(text)}" for slot, text in described.items())  # one line per slot


FRAME_RAN = "frame_ran"  # set by dashboard.py on every run: a page run without it was opened outside the frame
DEEP_LINK = "deep_link"  # the page a first visitor asked for before the frame ran, to open once it has


def require_frame() -> None:
    """Send a page opened before the server ever ran dashboard.py back through the frame.

    Until the frame's st.navigation has run once, Streamlit treats pages/ as an old-style page folder and runs
    a deep link (/studies) as a bare script: no sidebar, no slots, no banner. The frame then opens the page
    that was asked for.
    """
    if st.session_state.get(FRAME_RAN):
        return
    from urllib.parse import urlparse

    st.session_state[DEEP_LINK] = urlparse(st.context.url or "").path.rstrip("/").rsplit("/", 1)[-1]
    st.switch_page("dashboard.py")


def page_start(title: str, question: str) -> Comparison:
    """Title, one line on what the page answers, and the slots' comparison; stops the page without runs."""
    require_frame()
    st.title(title)
    st.markdown(question)
    comparison = frame.comparison()
    if not comparison.slots:
        st.warning("No readable runs in the checkpoints folder: train one from the sidebar.", icon=":material/warning:")
        st.stop()
    return comparison


def csv_download(frame: pd.DataFrame, file_name: str, key: str) -> None:
    st.download_button(
        "Download CSV", frame.to_csv(index=False).encode(), file_name=file_name, mime="text/csv", key=key,
        icon=":material/download:",
    )  # fmt: skip


def pca_mse(info: RunInfo) -> float:
    """Test MSE of the run's PCA baseline: stored with the run (format 2), or computed for older runs."""
    if info.metrics.pca.is_baseline:
        return info.pca_mse
    from aecore.compare import RunKey

    return float(cache.pca_test_errors(RunKey.of(info).baseline).mean())


def pca_description(info: RunInfo) -> str:
    """Which PCA a figure is: its dims, the images it was fit on, clipped."""
    images = f"{info.train_images:,}" if info.train_images else "the run's"
    return (
        f"PCA with {info.latent_dim} components, fit on the same {images} training images as the run, "
        "reconstructions clipped to [0, 1] like a Sigmoid output"
    )


def pca_caption(comparison: Comparison) -> None:
    """A caption naming every PCA baseline drawn on the page: which runs it stands beside and how it was fit."""
    parts = []
    for baseline in comparison.baselines():
        owner = comparison.slot(baseline.slots[0]).run
        parts.append(
            f"**{escape(baseline.label)}** (beside {' and '.join(baseline.slots)}): {escape(pca_description(owner))}"
        )
    st.caption("  \n".join(parts))


def gallery(rows: list, key: str, tile_px: int | None = None, max_width: int | None = None) -> None:
    """A gallery of image rows (ui.figures.image_rows_figure) at its own fixed size, never stretched or shrunk:
    `max_width` is the width of the column it is drawn in (the whole main area by default)."""
    from ui.figures import image_rows_figure
    from ui.theme import CONTENT_WIDTH_PX, IMAGE_TILE_PX

    width = max_width or CONTENT_WIDTH_PX
    figure = cache.chart(image_rows_figure, rows, tile_px=tile_px or IMAGE_TILE_PX, max_width=width)
    st.plotly_chart(figure, key=key, width="content", config={"displayModeBar": False})


def need_same_test_set(comparison: Comparison) -> bool:
    """True when every slot was scored on the same test images; otherwise says so on the page."""
    mismatch = comparison.test_set_mismatch()
    if mismatch:
        st.warning(escape(mismatch), icon=":material/warning:")
        return False
    return True


def series(comparison: Comparison) -> list:
    """How each method is drawn: slots in their colours, baselines grey and dashed."""
    from ui.figures import MethodStyle
    from ui.theme import baseline_colour

    drawn = [MethodStyle(s.name, f"{s.name} · {s.label}", SLOT_COLOURS[s.name], short=s.name) for s in comparison.slots]
    drawn += [MethodStyle(b.id, b.label, baseline_colour(i), dash="dash", short=b.label)
              for i, b in enumerate(comparison.baselines())]  # fmt: skip
    return drawn


def per_digit_long(comparison: Comparison) -> pd.DataFrame:
    """Test MSE per method and digit (rows "0".."9" and "all"): method, digit, n, mse. Runs' figures are the
    ones stored when they were saved; a baseline's come from the run it belongs to (computed for runs saved
    before baselines were stored)."""
    from aecore.metrics import per_digit_table

    def stored(method: str, scores: EvalMetrics) -> pd.DataFrame:
        rows = [{"method": method, "digit": str(r.digit), "n": r.n, "mse": r.mse} for r in scores.per_digit]
        rows.append({"method": method, "digit": "all", "n": scores.n, "mse": scores.mse})
        return pd.DataFrame(rows)

    frames = [stored(s.name, s.run.metrics.test) for s in comparison.slots]
    for baseline in comparison.baselines():
        owner = comparison.slot(baseline.slots[0]).run
        if owner.metrics.pca.is_baseline:
            frames.append(stored(baseline.id, owner.metrics.pca))
        else:
            errors = cache.pca_test_errors(baseline.key)
            frames.append(per_digit_table({baseline.id: errors}, cache.test_labels(owner.config.dataset)))
    return pd.concat(frames, ignore_index=True)


def dataset_spec(comparison: Comparison):
    """The registry entry of slot A's dataset: its class names and its word for one item ("digit" or "class")."""
    from aecore import datasets

    return datasets.get(comparison.slots[0].run.config.dataset)


def class_picker(comparison: Comparison, key: str, where=st) -> int | None:
    """A select box of "all" and the dataset's classes, by name; the chosen label, or None for all."""
    spec = dataset_spec(comparison)
    options = ["all", *range(len(spec.class_names))]
    chosen = where.selectbox(spec.item.capitalize(), options, key=key,
                             format_func=lambda v: v if v == "all" else spec.class_names[v])  # fmt: skip
    return None if chosen == "all" else int(chosen)


def name_classes(frame: pd.DataFrame, comparison: Comparison, column: str = "digit") -> pd.DataFrame:
    """A table's class column as people read it: labels 0-9 become the dataset's class names ("T-shirt/top"), the
    column takes the dataset's word for one item ("digit" or "class"); the "all" row stays."""
    spec = dataset_spec(comparison)
    names = {str(label): name for label, name in enumerate(spec.class_names)}
    named = frame.assign(**{column: [names.get(str(v), v) for v in frame[column]]})
    return named.rename(columns={column: spec.item})


def interval_text(low: float, high: float) -> str:
    """An interval as the tables print it, "0.01644–0.01743"; a missing end (no spread to show) is a dash."""
    return "–" if pd.isna(low) or pd.isna(high) else f"{low:.5f}–{high:.5f}"


def intervals_for_reading(intervals: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The interval table as people read it: per method its MSE and one "low–high" column (three numeric columns
    per method overflow the page once two PCA baselines join), methods called by their display names. With more
    than three methods (two runs of one architecture: a PCA per run) the MSE columns, which the table above
    already shows, are left out: ten columns scrolled sideways at 1400 px."""
    shown = intervals[["digit", "n"]].copy()
    methods = list(dict.fromkeys(c.rsplit(" ", 1)[0] for c in intervals.columns if c.endswith(" MSE")))
    for method in methods:
        name = names.get(method, method)
        if len(methods) <= 3:
            shown[f"{name} MSE"] = intervals[f"{method} MSE"].map("{:.5f}".format)
        shown[f"{name} 95% CI"] = list(
            map(interval_text, intervals[f"{method} CI low"], intervals[f"{method} CI high"])
        )
    return shown


def grid_width_px(frame: pd.DataFrame) -> float:
    """About how wide a data grid draws `frame` without scrolling: each column as wide as its header or its widest
    cell (numbers as the tables print them, five decimals)."""

    def chars(column: str) -> int:
        values = frame[column]
        widest = 7 if pd.api.types.is_float_dtype(values) else int(values.astype(str).str.len().max() or 0)
        return max(len(str(column)), widest)

    return sum(chars(c) * GRID_CHAR_PX + GRID_PADDING_PX for c in frame.columns)


def method_headers(frame: pd.DataFrame, drawn: list, width_px: float, suffixes=(" MSE", " 95% CI")) -> dict:
    """column_config for a table whose method columns carry display labels ("A · MLP MSE"): when those would run
    out of `width_px` (long labels, or a PCA per run), each method column shows its short name ("A MSE") and
    keeps the full one as its help; the frame (and its CSV) keeps the full names."""
    if grid_width_px(frame) <= width_px:
        return {}
    columns = [(s, f"{s.label}{suffix}", f"{s.short}{suffix}") for s in drawn for suffix in suffixes]
    return {full: st.column_config.Column(short, help=full) for s, full, short in columns
            if full in frame.columns and s.short != s.label}  # fmt: skip


def fit_names(frame: pd.DataFrame, column: str, short: dict[str, str]) -> tuple[pd.DataFrame, dict | None]:
    """A table whose `column` names runs by their labels, as drawn at 1400 px: when the labels would make it scroll
    sideways, the short names (`short`: label -> short name, e.g. the slot letter) with the labels in the column's
    help. Returns the frame to draw and its column_config (None when it fits as it is)."""
    if grid_width_px(frame) <= TABLE_WIDTH_PX:
        return frame, None
    named = "; ".join(f"{name}: {label}" for label, name in short.items() if name != label)
    return frame.assign(**{column: frame[column].map(lambda v: short.get(v, v))}), {
        column: st.column_config.TextColumn(help=named)
    }


def table_height(rows: int) -> int:
    """A dataframe height that shows every row (the header and `rows` rows) without an inner scroll bar."""
    return 35 * (rows + 1) + 3


# --- the latent page's parts --------------------------------------------------------------------------------


def projections(comparison: Comparison, configs: dict) -> dict:
    """{slot: its 2-D map} from the run folders' disk caches, computed behind a progress bar when missing; stops
    the page with a message when a map cannot be computed."""
    from aecore.projection import METHOD_TITLES

    missing = [s.name for s in comparison.slots if cache.stored_projection(s.key, configs[s.name]) is None]
    bar = st.progress(0.0, text="Computing projections…") if missing else None
    found = {}
    for step, s in enumerate(comparison.slots):
        config = configs[s.name]
        if bar is not None and s.name in missing:
            bar.progress(
                step / len(comparison.slots),
                text=f"Computing the {METHOD_TITLES[config.method]} map of "
                f"{s.name} ({config.n_points:,} test digits; UMAP ~15 s, t-SNE ~20 s the first time)…",
            )
        try:
            found[s.name] = cache.projection(s.key, config)
        except (ValueError, ImportError, MemoryError) as error:
            st.error(f"Could not compute the map of {s.name}: {escape(error)}", icon=":material/error:")
            st.stop()
    if bar is not None:
        bar.empty()
    return found


def latent_scores(comparison: Comparison, maps: dict, n_points: int, k: int) -> None:
    """Neighbourhood agreement of A's and B's latent spaces, and how faithfully each 2-D map keeps its own."""
    scores = st.columns(len(comparison.slots) + 1)
    if comparison.pair is not None:
        a, b = comparison.pair
        agree = cache.agreement(a.key, b.key, n_points=n_points, seed=0, k=k)
        scores[0].metric("Neighbourhood agreement", f"{agree.score:.2f}", help=f"chance level {agree.chance:.4f}")
        scores[0].caption(f"Of each shown digit's {agree.k} nearest neighbours in A's latent space, the share that "
                          f"are also among its {agree.k} nearest in B's (1 = same neighbourhoods; unrelated spaces "
                          f"score ≈ {agree.chance:.4f}).")  # fmt: skip
    for column, s in zip(scores[1:], comparison.slots, strict=False):
        from aecore.verdicts import trust_sentence

        trust = cache.trust_interval(s.key, maps[s.name].coords, maps[s.name].indices, seed=0, k=k,
                                     raw=maps[s.name].provenance["method"] == "raw")  # fmt: skip
        column.metric(f"Trustworthiness of the {s.name} map",
                      "1 (by construction)" if trust.by_construction else f"{trust.interval.mean:.3f}")  # fmt: skip
        column.caption(trust_sentence(s.name, trust))


def latent_details(
    comparison: Comparison, index: int | None, k: int, maps: dict, on_pick, ends: tuple[str, str]
) -> None:
    """A clicked test digit: the original, each run's reconstruction, buttons that make it an interpolation end
    (`on_pick(end, index)`), and its k nearest neighbours in each run's latent space; a hint while none is."""
    from aecore.datasets import get as get_dataset
    from ui.figures import ImageRow

    st.subheader("Selected digit")
    if index is None:
        st.info("Click a digit on either map to inspect it here.", icon=":material/touch_app:")
        return
    index = int(index)
    dataset_name = comparison.slots[0].run.config.dataset
    labels = cache.test_labels(dataset_name)
    with st.container(border=True, key="latent_details"):
        shown = "" if index in set(maps[comparison.slots[0].name].indices.tolist()) else (
            " · not among the digits shown on the maps")  # fmt: skip
        spec = get_dataset(dataset_name)  # "class Bag" on Fashion-MNIST, not "digit 8"
        name = escape(spec.class_names[labels[index]])
        st.markdown(f"**Test image #{index}** · {spec.item} **{name}**{shown}")
        tiles, captions = [cache.test_images(dataset_name, (index,))[0]], ["original"]
        for s in comparison.slots:
            recon, _, mse = cache.reconstructions(s.key, (index,))
            tiles.append(recon[0])
            captions.append(f"{s.name} · MSE {mse[0]:.5f}")
        gallery([ImageRow("", np.stack(tiles), captions=tuple(captions))], "latent_details_tiles", tile_px=96)
        buttons = st.columns(2)
        for column, (label, end, icon) in zip(buttons, (("Interpolate from here", ends[0], ":material/start:"),
                                                        ("Interpolate to here", ends[1], ":material/flag:")),
                                              strict=True):  # fmt: skip
            column.button(label, key=f"{end}_use", on_click=on_pick, args=(end, index), icon=icon)
        for s in comparison.slots:
            near = cache.neighbours(s.key, index, k)
            same = int((labels[near] == labels[index]).sum())
            st.markdown(
                slot_heading(
                    comparison,
                    s.name,
                    f" · {len(near)} nearest in its latent space (whole test set) · {same} of them are also a {name}",
                ),
                unsafe_allow_html=True,
            )
            row = ImageRow(
                s.name,
                cache.test_images(dataset_name, tuple(int(i) for i in near)),
                colour=SLOT_COLOURS[s.name],
                captions=tuple(f"#{i}" for i in near),
            )
            gallery([row], f"latent_near_{s.name}", tile_px=48)
