"""The sidebar's train form: read the fields, make a JobRequest, ask first when aecore.job_request says so, and
start the job into the slot the user chose."""

from __future__ import annotations

import streamlit as st

from aecore import architectures, datasets
from aecore.compare import SLOTS
from aecore.config import RECIPE_DEFAULTS, RECIPES, ConfigError, RunConfig
from aecore.job_request import JobRequest, confirmation, option_owners
from aecore.runstore import default_checkpoint_root
from ui import cache, session, widgets

PENDING = "pending_job"  # (configs, slot, why it asks) of a job waiting for the user's confirmation


def train_form() -> None:
    st.header("Train")
    specs = {spec.name: spec for spec in architectures.ARCHITECTURES}
    with st.form("train_form", border=False):
        model = st.selectbox(
            "Architecture",
            list(specs),
            format_func=lambda name: specs[name].title,
            key="train_model",
            help="\n\n".join(f"**{s.title}**: {s.summary}" for s in specs.values()),
        )
        left, right = st.columns(2)
        bottleneck = left.text_input(
            "Bottleneck", "", key="train_bottleneck", placeholder="default",
            help="\n\n".join(f"**{s.title}**: {s.bottleneck_help} (default {s.default_bottleneck})"
                             for s in specs.values()),
        )  # fmt: skip
        slot = right.radio(
            "Into slot",
            SLOTS,
            key="train_slot",
            horizontal=True,
            help="the finished run replaces the run in this slot (in this browser tab only)",
        )
        options = {}
        for name, owners in option_owners().items():
            option = owners[0][1]
            which = ", ".join(spec.title for spec, _ in owners)
            options[name] = st.text_input(
                f"{option.title} ({which} only)",
                "",
                key=f"train_option_{name}",
                placeholder=f"{option.default:g}",
                help=option.help,
            )
        recipe = st.selectbox(
            "Recipe",
            RECIPES,
            key="train_recipe",
            format_func=lambda r: RECIPE_DEFAULTS[r].title,
            help="\n\n".join(f"**{r.title}**: {r.description}" for r in RECIPE_DEFAULTS.values()),
        )
        dataset_name = st.selectbox(
            "Dataset",
            datasets.names(),
            key="train_dataset",
            format_func=lambda name: datasets.get(name).title,
            help="MNIST (60k) and its 5k sample are bundled and work offline; "
            "Fashion-MNIST needs Debian's dataset-fashion-mnist package",
        )
        epochs = left.text_input("Epochs", "", key="train_epochs", placeholder="recipe's")
        batch_size = right.text_input("Batch size", "", key="train_batch_size", placeholder="recipe's")
        learning_rate = left.text_input("Learning rate", "", key="train_learning_rate", placeholder="recipe's")
        seeds = right.text_input("Seeds", "0", key="train_seeds", help="one run per seed, e.g. 0 1 2")
        train_limit = st.text_input(
            "Train on the first N images only",
            "",
            key="train_train_limit",
            placeholder="all (e.g. 500 for a quick run)",
        )
        submitted = st.form_submit_button("Train", type="primary", key="train_submit", width="stretch")
    st.caption(
        "Blank fields take the recipe's and architecture's defaults. A config that already has a run loads "
        "instantly instead of training again: change the seed to train a fresh copy."
    )
    if submitted:
        fields = {"bottleneck": bottleneck, "epochs": epochs, "batch_size": batch_size,
                  "learning_rate": learning_rate, "train_limit": train_limit}  # fmt: skip
        try:
            configs = form_request(model, recipe, dataset_name, fields, options, seeds).configs()
        except ConfigError as error:
            st.error(f"Not started: {widgets.escape(error)}", icon=":material/error:")
            return
        reasons = confirmation(configs, default_checkpoint_root()).reasons
        if reasons:
            st.session_state[PENDING] = (configs, slot, reasons)
        else:
            start_job(configs, slot)
    pending_confirmation()


def parse_number(text: str) -> int | float | str | None:
    """'' -> None (use the default); '12' -> 12; '1e-3' -> 0.001; other text is returned unchanged, so that
    RunConfig's validation names the field and says what is allowed."""
    text = text.strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def form_request(
    model: str, recipe: str, dataset_name: str, fields: dict[str, str], options: dict[str, str], seeds: str
) -> JobRequest:
    """The request the form's text asks for; ConfigError when an option field is filled that the chosen
    architecture does not have (the form shows every architecture's option fields)."""
    spec = architectures.get(model)
    given = {name: value for name, text in options.items() if (value := parse_number(text)) is not None}
    foreign = [name for name in given if name not in spec.option_defaults]
    if foreign:
        raise ConfigError(f"{spec.title} has no option {', '.join(foreign)}; leave that field blank")
    numbers = {name: parse_number(text) for name, text in fields.items()}
    seed_values = tuple(parse_number(part) for part in seeds.replace(",", " ").split())
    return JobRequest(model, recipe, dataset=dataset_name, options=given, seeds=seed_values, **numbers)


def pending_confirmation() -> None:
    if PENDING not in st.session_state:
        return
    configs, slot, reasons = st.session_state[PENDING]
    st.warning("  \n".join(widgets.escape(r) for r in reasons) + "  \nStart anyway?", icon=":material/warning:")
    go, stop = st.columns(2)
    if go.button("Start", key="train_confirm", type="primary"):
        del st.session_state[PENDING]
        start_job(configs, slot)
        st.rerun()
    if stop.button("Don't", key="train_decline"):
        del st.session_state[PENDING]
        st.rerun()


def start_job(configs: list[RunConfig], slot: str) -> None:
    from aecore.jobs import JobBusy

    try:
        job_id = cache.training_jobs().start(configs, root=default_checkpoint_root())
    except JobBusy as error:
        st.warning(f"Not started: {widgets.escape(error)}", icon=":material/hourglass_top:")
        return
    session.remember_job(job_id, slot)
