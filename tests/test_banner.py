"""The banner above every page names each slot's data when A and B differ, and the dashboard never sends a user to
a command-line flag."""

from __future__ import annotations

import re
from dataclasses import replace

from aecore.compare import Comparison
from aecore.config import RunConfig
from tests.browser_support import REPO
from tests.test_compare import fake_run
from ui.widgets import dataset_banner


def run_described(config: RunConfig, description: str):
    run = fake_run(config)
    return replace(run, dataset=replace(run.dataset, description=description))


def test_the_banner_names_the_data_of_each_slot_when_they_differ():
    comparison = Comparison.of({"A": run_described(RunConfig.for_recipe("mlp", dataset="fashion-mnist"), "Fashion"),
                                "B": run_described(RunConfig.for_recipe("mlp"), "MNIST digits")})  # fmt: skip
    assert dataset_banner(comparison) == "**A**: Fashion  \n**B**: MNIST digits"


def test_the_banner_names_shared_data_once():
    comparison = Comparison.of({"A": run_described(RunConfig.for_recipe("mlp"), "MNIST digits"),
                                "B": run_described(RunConfig.for_recipe("conv"), "MNIST digits")})  # fmt: skip
    assert dataset_banner(comparison) == "MNIST digits"


def test_no_dashboard_text_tells_a_user_to_pass_a_command_line_flag():
    sources = [REPO / "dashboard.py", *sorted((REPO / "ui").glob("*.py")), *sorted((REPO / "pages").glob("*.py"))]
    flag = re.compile(r"\b(use|pass|with|add|give)\s+`?--[a-z]", re.IGNORECASE)
    found = [f"{path.name}: {line.strip()}" for path in sources for line in path.read_text().splitlines()
             if flag.search(line)]  # fmt: skip
    assert not found, "name the control to change instead:\n" + "\n".join(found)
