"""From an ``autoencoders.<name>`` entry of config.yaml (a dict) to the IG-AE's training configuration: the paper's
epochs turned into steps for the data at hand, nested ``loss`` / ``triplanes`` dicts into their dataclasses, and the
``parity`` switch (docs/paper.md#deviations) into the training keys and behaviours it sets. Beside
:class:`igae.ae.igae_training.IGAETrainingConfig`; the workflow's config check builds the same object before any job,
so a misspelt key fails there."""

from __future__ import annotations

import math

from igae.ae.igae_training import IGAELossConfig, IGAEParity, IGAETrainingConfig
from igae.ae.triplanes import LatentTriPlaneConfig, TriPlaneRenderConfig
from igae.parity import Parity

OFFICIAL_TRAINING = {"parity_freeze_triplanes_in_joint": True, "posterior": "sample", "cache_warmup_latents": False}
"""The IG-AE training keys ``parity: official`` sets: Tri-Planes and MLP not stepped in the joint phase, every loss on a
posterior sample, the warm-up's latents encoded at every step (the official code's, docs/paper.md#caveats)."""


def _phase_batches(training: dict) -> dict[str, int]:
    defaults = IGAETrainingConfig()
    return {
        "warmup": training.get("warmup_batch_views", defaults.warmup_batch_views),
        "joint": training.get("batch_views", defaults.batch_views),
    }


def epochs_to_steps(training: dict, train_views: int, parity: Parity = Parity.PAPER) -> dict:
    """Replace the paper's epoch-based keys of a ``training`` entry by the step counts they mean for this data.

    ``warmup_epochs`` / ``joint_epochs``: passes over the ``train_views`` synthetic train views with the phase's batch
    (``warmup_batch_views`` / ``batch_views``), rounded up. ``lr_decay_per_epoch`` (official 0.988032) becomes
    ``lr_decay_per_step`` = decay ** (1 / joint steps per epoch), one rate for both phases (the warm-up's epochs have
    fewer, larger batches: its lrs then decay more slowly per epoch than the official code's). ``parity: official``
    drops it here instead: :func:`igae_parity` makes it a per-epoch staircase of each phase's own epochs.
    """
    training = dict(training)
    batches = _phase_batches(training)
    for phase, batch in batches.items():
        if f"{phase}_epochs" in training:
            if f"{phase}_steps" in training:
                raise ValueError(f"igae: training sets both {phase}_epochs and {phase}_steps; keep one")
            training[f"{phase}_steps"] = math.ceil(training.pop(f"{phase}_epochs") * train_views / batch)
    if "lr_decay_per_epoch" in training:
        decay = training.pop("lr_decay_per_epoch")
        if Parity.parse(parity) == Parity.PAPER:
            steps_per_epoch = math.ceil(train_views / batches["joint"])
            training["lr_decay_per_step"] = decay ** (1.0 / steps_per_epoch)
    return training


def igae_parity(training: dict, train_views: int, parity: Parity) -> IGAEParity:
    """The official code's behaviours the IG-AE trains with under ``parity`` (``paper``: none, the defaults), from an
    entry's ``training`` dict (before :func:`epochs_to_steps`): official plane axes, quant convs out of the optimiser,
    real images in a fixed order and, with ``lr_decay_per_epoch``, the lr decayed once per epoch of each phase."""
    if Parity.parse(parity) == Parity.PAPER:
        return IGAEParity()
    batches = _phase_batches(training)
    return IGAEParity(
        plane_axes="xy-xz-zx",
        lr_decay_per_epoch=training.get("lr_decay_per_epoch"),
        warmup_steps_per_epoch=max(1, math.ceil(train_views / batches["warmup"])),
        joint_steps_per_epoch=max(1, math.ceil(train_views / batches["joint"])),
        train_quant_convs=False,
        reshuffle_real_images=False,
    )


def igae_training_config(training: dict, device: str, parity: Parity = Parity.PAPER) -> tuple[IGAETrainingConfig, str]:
    """(IGAETrainingConfig, perceptual kind) from an entry's ``training`` dict (nested ``loss``, ``triplanes``).

    ``parity: official`` sets :data:`OFFICIAL_TRAINING`; an entry that sets one of those keys otherwise is refused."""
    training = dict(training)
    if Parity.parse(parity) == Parity.OFFICIAL:
        for key, value in OFFICIAL_TRAINING.items():
            if key in training and training[key] != value:
                raise ValueError(
                    f"{key} = {training[key]!r} contradicts parity: official (the official code's is {value!r}); "
                    "drop the key, or keep parity: paper"
                )
            training[key] = value
    perceptual = training.pop("perceptual", "auto")
    loss = IGAELossConfig(**training.pop("loss", {}))
    planes = dict(training.pop("triplanes", {}))
    render = TriPlaneRenderConfig(**planes.pop("render", {}))
    config = IGAETrainingConfig(
        **training, loss=loss, triplanes=LatentTriPlaneConfig(**planes, render=render), device=device
    )
    return config, perceptual
