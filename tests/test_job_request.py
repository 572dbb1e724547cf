"""One job request for the CLI and the train form: the same configs from the same asking, the same reasons to
confirm, from aecore.job_request alone."""

from __future__ import annotations

import pytest

from aecore.__main__ import build_parser, configs_from_args
from aecore.config import ConfigError, RunConfig
from aecore.job_request import CONFIRM_ABOVE_SECONDS, JobRequest, confirmation, estimated_seconds, option_owners
from ui.train_form import form_request


def test_the_cli_and_the_form_make_the_same_configs():
    argv = ["train", "--model", "vae", "--bottleneck", "4", "--epochs", "2", "--beta", "2", "--seeds", "3", "1", "3",
            "--train-limit", "100", "--recipe", "seed"]  # fmt: skip
    from_cli = configs_from_args(build_parser().parse_args(argv))
    fields = {"bottleneck": "4", "epochs": "2", "batch_size": "", "learning_rate": "", "train_limit": "100"}
    from_form = form_request("vae", "seed", "mnist", fields, {"beta": "2", "noise": ""}, "3, 1 3").configs()
    assert from_cli == from_form
    assert [c.seed for c in from_cli] == [3, 1], "one run per distinct seed, in the order given"
    assert dict(from_cli[0].options) == {"beta": 2.0} and from_cli[0].epochs == 2 and from_cli[0].train_limit == 100


def test_a_blank_request_takes_the_recipes_defaults_and_seed_0():
    assert JobRequest("conv").configs() == [RunConfig.for_recipe("conv", seed=0)]


def test_every_option_is_offered_once_with_the_architectures_that_have_it():
    owners = option_owners()
    assert {name: [spec.name for spec, _ in found] for name, found in owners.items()} == {
        "beta": ["vae"],
        "noise": ["dae"],
    }


def test_an_option_the_architecture_lacks_is_refused_by_the_cli_and_the_form():
    with pytest.raises(ConfigError, match="conv has no option beta"):
        JobRequest("conv", options={"beta": 2.0}).configs()
    with pytest.raises(ConfigError, match="Conv has no option beta; leave that field blank"):
        form_request("conv", "onecycle", "mnist", {}, {"beta": "2"}, "0")


def test_a_long_job_and_a_useless_bottleneck_are_reasons_to_ask(tmp_path):
    short = RunConfig.for_recipe("mlp", epochs=1, train_limit=100)
    assert confirmation([short], tmp_path).reasons == []
    long = RunConfig.for_recipe("mlp", epochs=1000, batch_size=8)
    assert estimated_seconds([long]) > CONFIRM_ABOVE_SECONDS
    asking = confirmation([long], tmp_path)
    assert asking.bottleneck_warning is None
    assert asking.too_long.startswith("training 1 run(s) takes about ") and asking.too_long.endswith(
        "minutes on 2 CPU cores"
    )
    wide = RunConfig.for_recipe("conv", bottleneck=64, epochs=1, train_limit=100)
    assert confirmation([wide], tmp_path).reasons == [wide.spec.bottleneck_warning(64)]


def test_a_saved_run_does_not_count_towards_the_time(tmp_path):
    long = RunConfig.for_recipe("mlp", epochs=1000, batch_size=8)
    (tmp_path / long.run_id).mkdir()
    (tmp_path / long.run_id / "run.json").write_text("{}")
    assert confirmation([long], tmp_path).too_long is None, "a saved run loads instantly"
