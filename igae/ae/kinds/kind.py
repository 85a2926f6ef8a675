"""What an autoencoder kind declares (:class:`AutoencoderKind`), what its entries hold (:class:`AutoencoderEntry`),
and the pieces the kinds share.

Plain data and plain functions, no torch: the Snakemake workflow reads the kinds while it builds the DAG. A kind's job
(its ``build``) imports what it needs when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from igae.parity import Parity

AE_RULES = ("prepare_autoencoder", "train_igae")
"""The rules of workflow/rules/autoencoders.smk that write ``results/autoencoders/{ae}``: ``prepare_autoencoder``, the
first jobs of the DAG (an AE of its own: loaded, copied, or trained on the real images; a training job takes every
core of a local run), and ``train_igae`` (an AE fine-tuned from another one of the config: long, one thread, a whole
GPU)."""


@dataclass(frozen=True)
class AutoencoderEntry:
    """An ``autoencoders.<name>`` entry of config.yaml, parsed once (:func:`igae.ae.kinds.registry.autoencoder_entry`)
    into its kind's entry class, which the workflow, the config check and the job take. The fields every kind has."""

    name: str
    """The entry's name: the folder ``results/autoencoders/<name>`` its job writes."""
    kind: str
    """Its kind (:data:`igae.ae.kinds.registry.AE_KINDS`)."""
    image_size: int
    """The config's ``image_size``: the AE's latent background is computed at it."""

    @property
    def decodes_means(self) -> bool:
        """Whether the AE was trained to decode posterior means, so that a posterior sample of it is mostly noise (an
        IG-AE on it, and ``parity: official``'s sampled latent targets, refuse it). False: posterior samples are
        what it decodes."""
        return False


@dataclass(frozen=True)
class ShippedEntry(AutoencoderEntry):
    """An entry whose job may copy a checkpoint shipped with the repository instead of training."""

    checkpoint: str | None = None
    """A shipped AE folder, copied (with ``use_shipped_checkpoints``, default true) once the job has checked that its
    card's recipe is what the entry would train."""
    training: dict = field(default_factory=dict)
    """The entry's ``training`` as written: the kind's ``training_config`` turns it into its training config."""

    def uses_shipped(self, config: dict) -> bool:
        """Whether its job copies the shipped ``checkpoint`` (``use_shipped_checkpoints``, default true) rather than
        training."""
        return bool(self.checkpoint) and bool(config.get("use_shipped_checkpoints", True))


SHIPPED_CHECKPOINT = {
    "type": ["string", "null"],
    "description": "a shipped folder its rule produced earlier (used unless use_shipped_checkpoints: false)",
}
"""The entry schema's ``checkpoint`` property of a :class:`ShippedEntry` kind."""


def unless_shipped(entry: ShippedEntry, config: dict) -> bool:
    """``trains`` of a kind that trains unless it copies its shipped ``checkpoint``."""
    return not entry.uses_shipped(config)


def never(entry: AutoencoderEntry, config: dict) -> bool:
    """``trains`` of a kind whose job never trains."""
    return False


@dataclass(frozen=True)
class AutoencoderKind:
    """One kind of autoencoder entry: what the entry holds, what its job reads and does, and how it builds the AE."""

    name: str
    """The ``kind`` value of an ``autoencoders.<name>`` entry."""
    schema: dict
    """JSON schema of the entry: ``$defs/<name>_autoencoder`` of config.schema.yaml equals it."""
    entry: type[AutoencoderEntry]
    """Its entry class: the schema's properties as fields, each with a docstring (``kind`` and the name and image size
    the workflow adds)."""
    rule: str
    """The rule that builds it, one of :data:`AE_RULES`."""
    inputs: Callable[[AutoencoderEntry, dict], dict[str, str]]
    """``inputs(entry, config)``: {name: path} of the files its job reads (:mod:`igae.layout`; a shipped checkpoint
    too, so that replacing it re-runs the job), from the config alone; ``build`` gets them by name."""
    build: Callable[..., object]
    """``build(entry, inputs, out_dir, device=, log=, use_shipped=, parity=, **params)``: the job, which writes the AE
    folder (:func:`igae.ae.autoencoder.save_autoencoder`) to ``out_dir`` and returns its card. ``inputs``: the paths of
    :attr:`inputs`; ``params``: the rule's other params (``train_igae`` under ``parity: official``:
    ``scene_eval_fraction``)."""
    trains: Callable[[AutoencoderEntry, dict], bool] = field(default=never)
    """``trains(entry, config)``: whether its job trains weights, rather than loading or copying them. A training
    ``prepare_autoencoder`` job takes every core of a local run, a GPU share and a cluster's GPU."""
    training_config: Callable[[dict, Parity], object] | None = field(default=None)
    """``training_config(training, parity)``: the training configuration the entry's ``training`` dict builds; the
    config check builds it before any job, so that a misspelt key fails then. None: the kind trains nothing."""
    check: Callable[[AutoencoderEntry, str, dict, Mapping[str, AutoencoderEntry]], None] | None = field(default=None)
    """``check(entry, where, config, entries)``: what the schema cannot check (names of other entries, folders that
    must exist), before any job; raises ValueError starting with ``where`` (``config: autoencoders.<name>``).
    ``entries``: every entry of the config, parsed, by name (what another entry is)."""
    training_curves: bool = False
    """Whether its job keeps training curves in the AE's card (``recipe.curves``): the workflow draws them for every
    such entry (rule ``figure_igae_training``)."""


def schema_name(kind: str) -> str:
    """The ``$defs`` key of a kind's entry schema in config.schema.yaml."""
    return f"{kind.replace('-', '_')}_autoencoder"
