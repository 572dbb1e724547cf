"""Training timeline: the probe digits as the runs in A and B rebuilt them after every epoch, beside the losses."""

import streamlit as st

from ui import cache, widgets
from ui.figures import Curve, ImageRow, loss_curves, probe_rows
from ui.theme import SLOT_COLOURS, TEXT_GREY, column_width

EPOCH, PLAYING = "timeline_epoch", "timeline_playing"
LAYOUT = (3, 2)  # the probe digits beside the loss curves

comparison = widgets.page_start(
    "Training timeline",
    "Watch the models learn. After every epoch of training, each run rebuilt a fixed set of its **validation** "
    "digits (two of each class, chosen by position, never by error; the same digits for runs on the same dataset); "
    "move the slider or press play to see them sharpen, with the epoch marked on the loss curves.",
)

timelines = {s.name: cache.timeline(s.key) for s in comparison.slots}
for s in comparison.slots:
    if timelines[s.name] is None:
        st.info(f"{s.name} · {widgets.escape(s.label)} was trained before timelines were recorded; retrain it to get "
                "one.", icon=":material/info:")  # fmt: skip
slots = [s for s in comparison.slots if timelines[s.name] is not None]
if not slots:
    st.stop()
last = max(len(timelines[s.name].frames) for s in slots)
st.session_state.setdefault(EPOCH, last)
st.session_state.setdefault(PLAYING, False)


def probes(slot) -> tuple[str, tuple[int, ...]]:
    """Which validation digits a slot's run rebuilt: its dataset and the probes' positions in its validation split."""
    return slot.run.config.dataset, tuple(int(p) for p in timelines[slot.name].probe_positions)


def originals(slot, space_above: int) -> list[ImageRow]:
    """The probe digits a slot's run rebuilt, one block of rows (each column one digit class)."""
    images = cache.probe_images(*probes(slot))
    title = "validation" if len(own_probes) == 1 else f"{slot.name}'s validation"
    return [ImageRow(title if r == 0 else "", images[order], colour=TEXT_GREY, space_above=space_above if r == 0 else 0)
            for r, order in enumerate(probe_rows(timelines[slot.name].probe_labels))]  # fmt: skip


# Runs on different datasets (mnist and its sample) rebuilt different validation digits: each gets its own originals.
own_probes = {probes(s) for s in slots}
by_class = len(probe_rows(timelines[slots[0].name].probe_labels)) > 1  # more than one row: each column one class
if len(own_probes) > 1:
    st.caption("The runs were trained on different datasets, so each rebuilt the validation digits of its own: "
               "each run's rows sit under its own originals.")  # fmt: skip


def toggle_play() -> None:
    if not st.session_state[PLAYING] and st.session_state[EPOCH] >= last:
        st.session_state[EPOCH] = 1  # play from the start once the end was reached
    st.session_state[PLAYING] = not st.session_state[PLAYING]


def image_rows(epoch: int) -> list[ImageRow]:
    """The probe digits (one block of rows) and each run's reconstructions of them after `epoch`."""
    rows = []
    for s in slots:
        own = s is slots[0] or probes(s) != probes(slots[0])
        if own:
            rows += originals(s, space_above=0 if s is slots[0] else 8)
        frames = timelines[s.name].frames
        shown = min(epoch, len(frames))
        title = f"{s.name} · epoch {shown}" + ("" if shown == epoch else " (its last)")
        gap = 0 if own and s is not slots[0] else 8  # a run's own originals sit right above its rows
        rows += [ImageRow(title if r == 0 else "", frames[shown - 1][order] / 255.0, colour=SLOT_COLOURS[s.name],
                          space_above=gap if r == 0 else 0)
                 for r, order in enumerate(probe_rows(timelines[s.name].probe_labels))]  # fmt: skip
    return rows


TICKING = st.session_state[PLAYING]  # a fragment's timer is fixed when the page defines it


@st.fragment(run_every=0.6 if TICKING else None)
def player() -> None:
    if st.session_state[PLAYING] and st.session_state[EPOCH] >= last:
        st.session_state[PLAYING] = False
    elif st.session_state[PLAYING] and TICKING:
        st.session_state[EPOCH] += 1
    if st.session_state[PLAYING] != TICKING:
        st.rerun(scope="app")  # Play, Pause or the last epoch: start or stop the timer with a run of the whole page
    if last > 1:
        controls = st.columns([1, 6])
        controls[0].button(
            "Pause" if st.session_state[PLAYING] else "Play",
            key="timeline_play",
            on_click=toggle_play,
            icon=":material/pause:" if st.session_state[PLAYING] else ":material/play_arrow:",
        )
        epoch = controls[1].slider("Epoch", 1, last, key=EPOCH)
    else:  # a slider from 1 to 1 is refused by Streamlit
        epoch = 1
        st.caption("These runs trained for one epoch: there is nothing to play.")
    images, curves = st.columns(LAYOUT)
    with images:
        st.markdown(f"**After epoch {epoch} of {last}**")
        widgets.gallery(image_rows(epoch), "timeline_images", tile_px=40, max_width=column_width(LAYOUT, 0))
        at = {s.name: s.run.history[min(epoch, len(s.run.history)) - 1].val_loss for s in slots}
        st.caption(
            " · ".join(f"{name}: validation MSE {value:.5f}" for name, value in at.items())
            + (" · each column one digit class, 0 to 9" if by_class else "")
        )
    drawn = [
        Curve(
            f"{s.name} · {s.label}",
            SLOT_COLOURS[s.name],
            [e.epoch for e in s.run.history],
            [e.val_loss for e in s.run.history],
            [e.train_loss for e in s.run.history],
            s.run.best_epoch,
        )
        for s in slots
    ]
    curves.plotly_chart(loss_curves(drawn, marker_epoch=epoch, height=380), key="timeline_curves", width="stretch")


player()
