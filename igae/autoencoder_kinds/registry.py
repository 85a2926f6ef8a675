"""The autoencoder kinds an ``autoencoders.<name>`` entry of config.yaml can name (``kind``): one module each, which
declares its part of the config schema, what the config check adds, the files its job reads, whether the job trains,
and how it builds the AE folder, as a module-level ``KIND``.

Adding a kind ``foo``:

1. ``igae/autoencoder_kinds/foo.py`` with ``KIND = AutoencoderKind(name="foo", schema=..., rule=..., inputs=...,
   build=...)``;
2. its line in :data:`AE_KINDS`;
3. its schema in ``workflow/schemas/config.schema.yaml``: ``$defs/foo_autoencoder`` (the module's ``schema``), ``foo``
   in the ``kind`` enum of ``autoencoders``, and its ``if``/``then`` line. ``tests/test_autoencoder_kinds.py`` fails
   until the file matches the modules, and prints the YAML to paste.

The workflow takes the rest from the kind: which rule builds it (:data:`AE_RULES`), that job's inputs, its threads and
GPU share (whether it trains) and the call of ``build`` (workflow/scripts/build_autoencoder.py, the rule's params as
keyword arguments). Plain data, no torch: the Snakemake workflow reads it while it builds the DAG.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from igae.registries import registered

AE_KINDS = {
    "pretrained": "igae.autoencoder_kinds.pretrained",
    "trained": "igae.autoencoder_kinds.trained",
    "igae": "igae.autoencoder_kinds.igae",
}
"""``kind`` value -> the module that holds its :class:`AutoencoderKind` (imported only when a config names it)."""

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
    (:func:`igae.autoencoders.save_autoencoder`) to ``out_dir`` and return its card. ``spec`` is the entry with its
    ``name`` and the config's ``image_size``; ``inputs`` the paths of :attr:`inputs`; ``params`` the rule's other
    params (``train_igae`` under ``parity: official``: ``scene_eval_fraction``)."""
    trains: Callable[[dict, dict], bool] = field(default=never)
    """``trains(spec, config)``: whether its job trains weights, rather than loading or copying them. A training
    ``prepare_autoencoder`` job takes every core of a local run, a GPU share and a cluster's GPU."""
    training_config: Callable[[dict, str], object] | None = field(default=None)
    """``training_config(training, parity)``: the training configuration the entry's ``training`` dict builds; the
    config check builds it before any job, so that a misspelt key fails then. None: the kind trains nothing."""
    check: Callable[[dict, str, dict], None] | None = field(default=None)
    """``check(spec, where, config)``: what the schema cannot check (names of other entries, folders that must
    exist), before any job; raises ValueError starting with ``where`` (``config: autoencoders.<name>``)."""
    decodes_means: Callable[[dict], bool] = field(default=never_means)
    """``decodes_means(spec)``: whether the entry's AE was trained to decode posterior means, so that a posterior
    sample of it is mostly noise (an IG-AE on it, and ``parity: official``'s sampled latent targets, refuse it)."""


def schema_name(kind: str) -> str:
    """The ``$defs`` key of a kind's entry schema in config.schema.yaml."""
    return f"{kind.replace('-', '_')}_autoencoder"


def autoencoder_kind(name: str) -> AutoencoderKind:
    """The :class:`AutoencoderKind` of a ``kind`` value; ValueError for an unknown one."""
    kind = registered(AE_KINDS, name, "KIND", "autoencoder kind")
    if kind.rule not in AE_RULES:
        raise RuntimeError(f"igae: {AE_KINDS[name]}.KIND.rule = {kind.rule!r} is not one of {', '.join(AE_RULES)}")
    return kind


def build_autoencoder(
    spec: dict,
    inputs: dict[str, str | Path],
    out_dir: str | Path,
    device: str = "cpu",
    log=print,
    use_shipped: bool = True,
    parity: str = "paper",
    **params,
):
    """Write the AE folder of one entry (``spec``: the entry with its ``name`` and the config's ``image_size``, as the
    rules' ``spec`` param) from the files of its kind's ``inputs``; return its card. What the rules run."""
    from igae.igae_config import check_parity  # torch: the jobs import it, the DAG does not

    kind = autoencoder_kind(spec["kind"])
    inputs = {name: Path(path) for name, path in inputs.items()}
    return kind.build(spec, inputs, Path(out_dir), device=device, log=log, use_shipped=use_shipped,
                      parity=check_parity(parity), **params)  # fmt: skip
