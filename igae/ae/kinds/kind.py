"""What an autoencoder kind declares (:class:`AutoencoderKind`), and the pieces the kinds share.

Plain data and plain functions, no torch: the Snakemake workflow reads the kinds while it builds the DAG. A kind's job
(its ``build``) imports what it needs when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

AE_RULES = ("prepare_autoencoder", "train_igae")
"""The rules of workflow/rules/autoencoders.smk that write ``results/autoencoders/{ae}``: ``prepare_autoencoder``, the
first jobs of the DAG (an AE of its own: loaded, copied, or trained on the real images; a training job takes every
core of a local run), and ``train_igae`` (an AE fine-tuned from another one of the config: long, one thread, a whole
GPU)."""


def uses_shipped(spec: dict, config: dict) -> bool:
    """Whether the job of an entry with a ``checkpoint`` copies it (``use_shipped_checkpoints``, default true) rather
    than training."""
    return bool(spec.get("checkpoint")) and bool(config.get("use_shipped_checkpoints", True))


def unless_shipped(spec: dict, config: dict) -> bool:
    """``trains`` of a kind that trains unless it copies its shipped ``checkpoint`` (:func:`uses_shipped`)."""
    return not uses_shipped(spec, config)


SHIPPED_CHECKPOINT = {
    "type": ["string", "null"],
    "description": "a shipped folder its rule produced earlier (used unless use_shipped_checkpoints: false)",
}
"""The entry schema's ``checkpoint`` property of a kind that may copy a shipped checkpoint (:func:`uses_shipped`)."""


def never(spec: dict, config: dict) -> bool:
    """``trains`` of a kind whose job never trains."""
    return False


def never_means(spec: dict) -> bool:
    """``decodes_means`` of a kind whose AEs decode what the base decodes (posterior samples are meaningful)."""
    return False


@dataclass(frozen=True)
class AutoencoderKind:
    """One kind of autoencoder entry: what the entry holds, what its job reads and does, and how it builds the AE."""

    name: str
    """The ``kind`` value of an ``autoencoders.<name>`` entry."""
    schema: dict
    """JSON schema of the entry: ``$defs/<name>_autoencoder`` of config.schema.yaml equals it."""
    rule: str
    """The rule that builds it, one of :data:`AE_RULES`."""
    inputs: Callable[[dict, dict], dict[str, str]]
    """``inputs(spec, config)``: {name: path} of the files its job reads (:mod:`igae.layout`; a shipped checkpoint
    too, so that replacing it re-runs the job), from the config alone; ``build`` gets them by name."""
    build: Callable[..., object]
    """``build(spec, inputs, out_dir, device=, log=, use_shipped=, parity=, **params)``: write the AE folder
    (:func:`igae.ae.autoencoder.save_autoencoder`) to ``out_dir`` and return its card. ``spec`` is the entry with its
    ``name`` and the config's ``image_size``; ``inputs`` the paths of :attr:`inputs`; ``params`` the rule's other
    params (``train_igae`` under ``parity: official``: ``scene_eval_fraction``)."""
    trains: Callable[[dict, dict], bool] = field(default=never)
    """``trains(spec, config)``: whether its job trains weights, rather than loading or copying them. A training
    ``prepare_autoencoder`` job takes every core of a local run, a GPU share and a cluster's GPU."""
    training_config: Callable[[dict, str], object] | None = field(default=None)
    """``training_config(training, parity)``: the training configuration the entry's ``training`` dict builds; the
    config check builds it before any job, so that a misspelt key fails then. None: the kind trains nothing."""
    check: Callable[[dict, str, dict, Mapping[str, AutoencoderKind]], None] | None = field(default=None)
    """``check(spec, where, config, kinds)``: what the schema cannot check (names of other entries, folders that must
    exist), before any job; raises ValueError starting with ``where`` (``config: autoencoders.<name>``). ``kinds``: the
    registry (:data:`igae.ae.kinds.registry.AE_KINDS`), for what another entry's kind says of it."""
    decodes_means: Callable[[dict], bool] = field(default=never_means)
    """``decodes_means(spec)``: whether the entry's AE was trained to decode posterior means, so that a posterior
    sample of it is mostly noise (an IG-AE on it, and ``parity: official``'s sampled latent targets, refuse it)."""
    training_curves: bool = False
    """Whether its job keeps training curves in the AE's card (``recipe.curves``): the workflow draws them for every
    such entry (rule ``figure_igae_training``)."""


def schema_name(kind: str) -> str:
    """The ``$defs`` key of a kind's entry schema in config.schema.yaml."""
    return f"{kind.replace('-', '_')}_autoencoder"
