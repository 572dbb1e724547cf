"""What a user asks to train, read the same way by the CLI and the sidebar's train form: the architecture
options either may offer, the configs a request makes, and why a job should be confirmed before it starts.

The CLI turns its flags into a `JobRequest`, the form its text fields; neither builds configs, estimates time
or decides when to ask on its own. Each keeps only its own way of asking (a prompt, a Start button).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aecore import architectures, datasets
from aecore.architectures import ArchSpec, OptionSpec
from aecore.config import RunConfig

CONFIRM_ABOVE_SECONDS = 180  # a job estimated to take longer than this asks before it starts


def option_owners() -> dict[str, list[tuple[ArchSpec, OptionSpec]]]:
    """Every architecture option by name, with the architectures that have it (one flag or field per name)."""
    found: dict[str, list[tuple[ArchSpec, OptionSpec]]] = {}
    for spec in architectures.ARCHITECTURES:
        for option in spec.options:
            found.setdefault(option.name, []).append((spec, option))
    return found


@dataclass(frozen=True)
class JobRequest:
    """A training request as a user gives it: None (or no entry) takes the recipe's or architecture's default.

    Values are passed to RunConfig unchecked, so that its validation names a wrong field and says what is
    allowed (the form hands over text it could not read as a number as it is).
    """

    model: str
    recipe: str = "onecycle"
    dataset: str = datasets.DEFAULT_DATASET
    bottleneck: Any = None
    epochs: Any = None
    batch_size: Any = None
    learning_rate: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)
    seeds: Sequence[Any] = ()  # one run per distinct seed; none given: seed 0
    train_limit: Any = None

    def configs(self) -> list[RunConfig]:
        """One config per distinct seed, in the order given; ConfigError naming a bad value."""
        budget = {"bottleneck": self.bottleneck, "epochs": self.epochs, "batch_size": self.batch_size,
                  "learning_rate": self.learning_rate}  # fmt: skip
        overrides = {name: value for name, value in budget.items() if value is not None}
        options = {name: value for name, value in self.options.items() if value is not None}
        overrides |= {"dataset": self.dataset, "train_limit": self.train_limit, "options": options}
        return [
            RunConfig.for_recipe(self.model, self.recipe, seed=seed, **overrides)
            for seed in dict.fromkeys(self.seeds or (0,))
        ]


@dataclass(frozen=True)
class Confirmation:
    """Why a job should be confirmed before it starts; both None when it can start at once."""

    bottleneck_warning: str | None  # the first config's bottleneck cannot help
    too_long: str | None  # the estimated training time, when above CONFIRM_ABOVE_SECONDS

    @property
    def reasons(self) -> list[str]:
        return [reason for reason in (self.bottleneck_warning, self.too_long) if reason]


def estimated_seconds(configs: Sequence[RunConfig]) -> float:
    """Rough training time of `configs` on 2 CPU cores (the registry's measured speeds)."""
    from aecore.data import estimate_train_images

    return sum(c.spec.estimate_seconds(c.epochs, c.batch_size, estimate_train_images(c.dataset, c.train_limit))
               for c in configs)  # fmt: skip


def confirmation(configs: Sequence[RunConfig], root: Path) -> Confirmation:
    """Whether a job of `configs` into checkpoint `root` should ask first: a useless bottleneck, or a long time
    for the runs not yet saved there (a saved one loads instantly)."""
    todo = [c for c in configs if not (root / c.run_id / "run.json").exists()]
    seconds = estimated_seconds(todo)
    too_long = None
    if seconds > CONFIRM_ABOVE_SECONDS:
        too_long = f"training {len(todo)} run(s) takes about {seconds / 60:.0f} minutes on 2 CPU cores"
    return Confirmation(configs[0].spec.bottleneck_warning(configs[0].bottleneck) if configs else None, too_long)
