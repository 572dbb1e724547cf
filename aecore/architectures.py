"""The registry of architectures: one ArchSpec per autoencoder, listed once in ARCHITECTURES (BUILT_IN and plugins).

Config validation, the CLI's choices, the sidebar's train form, the tests and the docs all read this table;
nothing else lists architecture names. Adding an architecture is one model module in `aecore/models/` plus
one entry here, or a module of your own named in $AECORE_PLUGINS (see `PLUGINS_ENV`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aecore.models import Autoencoder

CODE_SIDE = 4  # aecore.models.conv.CODE_SIDE (three stride-2 halvings of 32); tests/test_weights_check checks


def _lazy(module: str, name: str) -> Callable[..., Autoencoder]:
    """A builder that imports its model module (and so torch) only when a model is built: the registry is read
    by pages and listings that never build one, and `import torch` alone costs seconds on a busy machine."""

    def build(*args, **kwargs) -> Autoencoder:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    build.__qualname__ = build.__name__ = name
    return build


@dataclass(frozen=True)
class Budget:
    """The epochs, batch size and (peak) learning rate a recipe was tuned with for one architecture."""

    epochs: int
    batch_size: int
    learning_rate: float

    def __str__(self) -> str:
        return f"{self.epochs} epochs, batch {self.batch_size}, lr {self.learning_rate:g}"


@dataclass(frozen=True)
class OptionSpec:
    """A hyperparameter only some architectures have (a VAE's β, a DAE's noise), with its default and range."""

    name: str
    title: str
    short: str  # how it reads in a label: "β", "noise"
    default: float
    low: float
    high: float
    help: str


@dataclass(frozen=True, eq=False)  # one spec per architecture: identity is equality, and specs are hashable
class ArchSpec:
    """Everything the rest of the code needs to know about one architecture.

    Parameters
    ----------
    name : the id stored in configs and run folder names ("mlp")
    title : what people read ("MLP")
    summary : one line on what it is
    build : (bottleneck, **options) -> Autoencoder
    code_cells : latent dims per unit of bottleneck (1 for a dense code, 16 for 4x4 code channels)
    default_bottleneck : the bottleneck of the shipped default run
    max_bottleneck : the widest bottleneck a config may ask for
    widest_useful : beyond this bottleneck a wider code buys nothing; `bottleneck_warning` says why
    useless_reason : the why, in one clause
    bottleneck_help : help text of the bottleneck field in the CLI and the train form
    budgets : per recipe name, the budget it was tuned with for this architecture
    options : architecture-only hyperparameters
    seconds_per_batch, seconds_per_image : measured training speed on one CPU core (bench/measure_speed.py),
        for estimating how long a run will take before it starts
    """

    name: str
    title: str
    summary: str
    build: Callable[..., Autoencoder]
    code_cells: int
    default_bottleneck: int
    max_bottleneck: int
    widest_useful: int
    useless_reason: str
    bottleneck_help: str
    budgets: Mapping[str, Budget]
    options: tuple[OptionSpec, ...] = ()
    seconds_per_batch: float = 1e-3
    seconds_per_image: float = 1e-4
    option_defaults: Mapping[str, float] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "option_defaults", {o.name: o.default for o in self.options})

    def latent_dim(self, bottleneck: int) -> int:
        return bottleneck * self.code_cells

    def bottleneck_warning(self, bottleneck: int) -> str | None:
        """Why this bottleneck cannot help, or None when it is a sensible width."""
        if bottleneck <= self.widest_useful:
            return None
        return f"{self.title} bottleneck {bottleneck} is wider than {self.widest_useful}: {self.useless_reason}"

    def estimate_seconds(self, epochs: int, batch_size: int, images: int) -> float:
        """Rough training time on 2 CPU cores: per batch a fixed cost plus a cost per image."""
        batches = -(-images // batch_size)
        return epochs * (batches * self.seconds_per_batch + images * self.seconds_per_image)


SEED_BUDGET = Budget(epochs=20, batch_size=64, learning_rate=1e-3)  # what the seed text trains with
# The onecycle budgets were chosen on validation loss on `mnist` by the tune studies shipped in
# checkpoints/shipped-studies.db, every config in a search space within 3 min (MLP) / 5 min (conv) on 2 CPU cores
# (bench/gpu_retrain.sh, BENCHMARKS.md "Recipes"). Conv: the study's best trial. MLP: the study's completed trials
# (4 of 12; the rest were cut by the GPU lease) did not reach the existing default's validation loss (0.00531 against
# 0.00572 at best), so the default stays. The VAE and DAE take the MLP's and the conv net's.
MLP_BUDGETS = {"onecycle": Budget(epochs=60, batch_size=64, learning_rate=5e-3), "seed": SEED_BUDGET}
CONV_BUDGETS = {"onecycle": Budget(epochs=44, batch_size=256, learning_rate=0.065), "seed": SEED_BUDGET}
MLP_BOTTLENECK_HELP = "code width: the latent dims"
CONV_BOTTLENECK_HELP = "code channels; each is a 4×4 map, so latent dims = 16 × this"
MLP_USELESS = "every code passes through the 32-unit layer before the bottleneck, so it adds parameters, not capacity"
CONV_USELESS = f"a code of {64 * CODE_SIDE**2:,} or more dims is as large as the image: no compression at all"

# Speeds: `python bench/measure_speed.py --repeats 3` on this project's 2-core machine (shared with other jobs, so
# the fit uses the process's CPU time, not wall time): 2 epochs of the 4,500 sample images at batch 8 and at 256 per
# architecture through aecore.train.train, 3 times each, and a least-squares fit of batches * seconds_per_batch +
# images * seconds_per_image to the 6 epochs.
BUILT_IN: tuple[ArchSpec, ...] = (
    ArchSpec(
        name="mlp", title="MLP", summary="the seed text's fully connected autoencoder (1024→128→64→32→b)",
        build=_lazy("aecore.models.mlp", "MLPAutoencoder"), code_cells=1, default_bottleneck=32, max_bottleneck=1024,
        widest_useful=32,
        useless_reason=MLP_USELESS, bottleneck_help=MLP_BOTTLENECK_HELP, budgets=MLP_BUDGETS,
        seconds_per_batch=1.15e-3, seconds_per_image=2.5e-5,
    ),
    ArchSpec(
        name="conv", title="Conv", summary="the seed text's convolutional autoencoder (1→8→16→b channels, stride 2)",
        build=_lazy("aecore.models.conv", "ConvAutoencoder"), code_cells=CODE_SIDE**2, default_bottleneck=2,
        max_bottleneck=256, widest_useful=63,
        useless_reason=CONV_USELESS, bottleneck_help=CONV_BOTTLENECK_HELP, budgets=CONV_BUDGETS,
        seconds_per_batch=2.3e-3, seconds_per_image=9.9e-5,
    ),
    ArchSpec(
        name="vae", title="VAE", summary="a variational autoencoder with the MLP's layer sizes (MSE + β·KL)",
        build=_lazy("aecore.models.vae", "VariationalAutoencoder"), code_cells=1, default_bottleneck=32,
        max_bottleneck=1024, widest_useful=32,
        useless_reason=MLP_USELESS, bottleneck_help=MLP_BOTTLENECK_HELP, budgets=MLP_BUDGETS,
        options=(
            OptionSpec("beta", "β (KL weight)", "β", 1.0, 0.0, 100.0,
                       "weight of the KL term, both terms per pixel; 0 trains the plain MLP objective"),
        ),
        seconds_per_batch=1.6e-3, seconds_per_image=2.8e-5,
    ),
    ArchSpec(
        name="dae", title="DAE", summary="a denoising autoencoder with the conv net's layers (noisy in, clean out)",
        build=_lazy("aecore.models.dae", "DenoisingAutoencoder"), code_cells=CODE_SIDE**2, default_bottleneck=2,
        max_bottleneck=256,
        widest_useful=63, useless_reason=CONV_USELESS, bottleneck_help=CONV_BOTTLENECK_HELP, budgets=CONV_BUDGETS,
        options=(
            OptionSpec("noise", "training noise σ", "noise", 0.3, 0.0, 1.0,
                       "standard deviation of the Gaussian noise added to training inputs (pixels in [0, 1])"),
        ),
        seconds_per_batch=2.5e-3, seconds_per_image=1.0e-4,
    ),
)  # fmt: skip

# The pair the dashboard opens on: the seed text's two models.
DEFAULT_PAIR = ("mlp", "conv")


# Modules (comma-separated) whose `ARCHITECTURES` tuple of ArchSpecs joins the registry when it is first read. A
# worker process spawned by the dashboard inherits the variable, so it knows the same architectures as the server.
PLUGINS_ENV = "AECORE_PLUGINS"


def _plugins() -> tuple[ArchSpec, ...]:
    """The architectures of the modules named in $AECORE_PLUGINS; ImportError naming the one that is missing."""
    found: list[ArchSpec] = []
    for module_name in filter(None, (part.strip() for part in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ImportError(f"${PLUGINS_ENV} names {module_name!r}, which cannot be imported: {error}") from error
        found.extend(getattr(module, "ARCHITECTURES", ()))
    return tuple(found)


def __getattr__(name: str) -> tuple[ArchSpec, ...]:
    """`ARCHITECTURES`, made on first read: the built-in specs, then those of $AECORE_PLUGINS' modules (importing
    this module imports no plugin, and a plugin module may import this one)."""
    if name != "ARCHITECTURES":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    specs = (*BUILT_IN, *_plugins())
    taken = [spec.name for spec in specs]
    twice = sorted({n for n in taken if taken.count(n) > 1})
    if twice:
        raise ValueError(f"architecture names must be unique; {', '.join(twice)} is registered twice (${PLUGINS_ENV})")
    globals()["ARCHITECTURES"] = specs
    return specs


def _registry() -> tuple[ArchSpec, ...]:
    return globals().get("ARCHITECTURES") or __getattr__("ARCHITECTURES")


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in _registry())


def get(name: str) -> ArchSpec:
    """The spec called `name`; ValueError naming the registered architectures otherwise."""
    for spec in _registry():
        if spec.name == name:
            return spec
    raise ValueError(f"architecture must be one of {', '.join(names())}; got {name!r}")


def build_model(name: str, bottleneck: int, options: Mapping[str, float] | None = None) -> Autoencoder:
    """The autoencoder of architecture `name` with this bottleneck and options (defaults for those not given)."""
    spec = get(name)
    return spec.build(bottleneck, **{**spec.option_defaults, **(options or {})})
