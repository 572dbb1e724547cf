"""Runs: every run in the registry; sort, filter, put one into slot A or B, delete one (asked twice for a shipped
default), export the table."""

import hashlib

import streamlit as st

from aecore.compare import SLOTS, picker_label, run_table
from aecore.runstore import CheckpointError, default_checkpoint_root, delete_run
from ui import cache, frame, session, widgets

CONFIRM = "runs_confirm_delete"  # run id waiting for the user's confirmation
DELETED = "runs_deleted"  # what the last delete removed, said once on the next run (UI state)
# The columns in the table, all in view at 1400 px without scrolling: which run (slot, architecture, width, options),
# how it scored (test, PCA, ratio), how it was trained, the id last (it names the dataset). The rest (budget, sizes,
# times) is shown for the selected run and is in the CSV.
SHOWN = [
    "slot",
    "shipped",
    "architecture",
    "latent dims",
    "test MSE",
    "PCA MSE",
    "vs PCA",
    "bottleneck",
    "options",
    "recipe",
    "seed",
    "run",
]

widgets.require_frame()
st.title("Runs")
st.markdown(
    "Every run in the checkpoints folder. Click a column header to sort; select a row to put that run "
    "into slot A or B, or to delete it. PCA MSE is the clipped PCA at the same dims, fit on the run's own "
    "training images."
)
reading = frame.reading()
runs, broken = reading.runs, reading.broken
if not runs:
    st.info("No readable runs yet: train one from the sidebar.", icon=":material/info:")
    st.stop()
table = run_table(list(runs.values()))
in_slots = {st.session_state.get(session.SLOT_KEYS[slot]): slot for slot in SLOTS}
shipped = {session.default_run_id(slot) for slot in SLOTS}
# The run id is a hash: the columns that name a run come first, the id last, and where each run sits now in front.
table.insert(0, "slot", [in_slots.get(run_id, "") for run_id in table["run"]])
table.insert(1, "shipped", [run_id in shipped for run_id in table["run"]])
table = table[[*SHOWN[:-1], *(c for c in table.columns if c not in SHOWN), "run"]]

filters = st.columns([3, 2])
text = filters[0].text_input(
    "Filter",
    key="runs_filter",
    placeholder="part of a run id, e.g. vae or seed",
    help="keeps rows whose run id, architecture or recipe contains this text",
)
architectures = filters[1].multiselect(
    "Architectures", sorted(table["architecture"].unique()), key="runs_arch", placeholder="all"
)
shown = table
if text.strip():
    needle = text.strip().lower()
    keep = shown[["run", "architecture", "recipe", "options"]].apply(
        lambda column: column.astype(str).str.lower().str.contains(needle, regex=False)
    )
    shown = shown[keep.any(axis=1)]
if architectures:
    shown = shown[shown["architecture"].isin(architectures)]
shown = shown.reset_index(drop=True)

# The table's key names the runs it shows: rows of a selection are positions in exactly that list, so a filter,
# a delete or a new run starts a fresh table with nothing selected instead of moving the selection onto whichever
# run now sits at that position.
shown_ids = tuple(shown["run"])
table_key = f"runs_table_{hashlib.sha256('/'.join(shown_ids).encode()).hexdigest()[:12]}"
event = st.dataframe(
    shown, hide_index=True, key=table_key, on_select="rerun", selection_mode="single-row",
    height=widgets.table_height(min(len(shown), 25)),
    column_order=SHOWN,
    column_config={
        "slot": st.column_config.TextColumn(width=36),
        "shipped": st.column_config.CheckboxColumn(help="a shipped default: every new session opens on it", width=56),
        "architecture": st.column_config.TextColumn("model", width=46),
        "latent dims": st.column_config.NumberColumn("dims", help="latent dimensions", width=40),
        "test MSE": st.column_config.NumberColumn(format="%.5f", width=66),
        "PCA MSE": st.column_config.NumberColumn(format="%.5f", width=66, help="PCA at the same dims"),
        "vs PCA": st.column_config.NumberColumn(format="%.2f×", width=52, help="test MSE ÷ PCA MSE; below 1 beats PCA"),
        "bottleneck": st.column_config.NumberColumn("b", help="bottleneck", width=36),
        "options": st.column_config.TextColumn(width=70),
        "recipe": st.column_config.TextColumn(width=62),
        "seed": st.column_config.NumberColumn(width=38),
        "run": st.column_config.TextColumn("run id", width=202),
    },
)  # fmt: skip
st.caption(f"{len(shown)} of {len(table)} runs shown.")
if DELETED in st.session_state:
    st.success(st.session_state.pop(DELETED), icon=":material/delete:")
widgets.csv_download(table.drop(columns=["slot", "shipped"]), "runs.csv", "runs_csv")

rows = [row for row in (event.selection.rows if event is not None else []) if 0 <= row < len(shown_ids)]
run_id = shown_ids[rows[0]] if rows else None
if run_id in runs:
    st.markdown(f"**Selected:** {widgets.escape(picker_label(runs[run_id]))} · `{run_id}`")
    row = shown.iloc[rows[0]]
    st.caption(
        f"{row['dataset']} · {row['epochs']} epochs · batch {row['batch']} · lr {row['lr']:g} · "
        f"{row['training images'] or 0:,} training images · {row['parameters']:,} parameters · trained in "
        f"{row['training s']:.0f} s · created {row['created']:%Y-%m-%d %H:%M %Z}"
    )
    actions = st.columns(len(SLOTS) + 1)
    for column, slot in zip(actions, SLOTS, strict=False):
        column.button(
            f"Put into slot {slot}",
            key=f"runs_put_{slot}",
            on_click=session.put,
            args=(slot, run_id),
            icon=":material/input:",
        )
    if actions[-1].button("Delete…", key="runs_delete", icon=":material/delete:"):
        st.session_state[CONFIRM] = run_id

pending = st.session_state.get(CONFIRM)
if pending in runs:
    with st.container(border=True, key="runs_confirm"):
        st.warning(
            f"Delete {widgets.escape(picker_label(runs[pending]))} (`{pending}`) for good? Its weights, "
            "artefacts and cached maps are removed.",
            icon=":material/delete_forever:",
        )
        sure = True
        if pending in shipped:
            sure = st.checkbox(
                "This is a shipped default run, opened by every new session. Delete it anyway.",
                key="runs_confirm_shipped",
            )
        yes, no = st.columns(2)
        if yes.button("Delete", key="runs_confirm_yes", type="primary", disabled=not sure):
            try:
                delete_run(pending, default_checkpoint_root())
            except CheckpointError as error:
                st.error(widgets.escape(error), icon=":material/error:")
            else:
                del st.session_state[CONFIRM]
                st.session_state[DELETED] = (f"Deleted {widgets.escape(picker_label(runs[pending]))} "
                                             f"(`{pending}`).")  # fmt: skip
                cache.forget_registry()
                st.rerun()
        if no.button("Keep it", key="runs_confirm_no"):
            del st.session_state[CONFIRM]
            st.rerun()

if broken:
    st.subheader("Unreadable folders")
    for item in broken:
        st.text(f"{item.run_id}: {item.reason}")
