"""Kind ``trained``: a standard AE trained here on the real images only (the offline stand-in for a pretrained AE),
or its shipped ``checkpoint``, copied once its recipe is checked (:mod:`igae.ae.standard_training` trains it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from igae import layout
from igae.ae.kinds.kind import SHIPPED_CHECKPOINT, AutoencoderKind, ShippedEntry, unless_shipped
from igae.ae.training_configs import AETrainingConfig
from igae.parity import Parity

NAME = "trained"

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"const": NAME},
        "checkpoint": SHIPPED_CHECKPOINT,
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "training": {"type": "object", "description": "igae.ae.training_configs.AETrainingConfig"},
    },
}


@dataclass(frozen=True)
class TrainedEntry(ShippedEntry):
    """A ``trained`` entry: its ``training`` is an :class:`igae.ae.training_configs.AETrainingConfig`."""

    sha256: str | None = None
    """The shipped checkpoint's weights sha256, checked against its card when set."""

    @property
    def decodes_means(self) -> bool:
        """Trained with ``sample_posterior: false``: it decodes posterior means, its posterior std carries no
        meaning."""
        return self.training.get("sample_posterior") is False


def inputs(entry: TrainedEntry, config: dict) -> dict[str, str]:
    """The shipped checkpoint (replacing it re-runs the job), or the real images it trains on."""
    return {"checkpoint": entry.checkpoint} if entry.uses_shipped(config) else {"real": layout.real_images(config)}


def training_config(training: dict, parity: Parity) -> AETrainingConfig:
    """The entry's ``training`` as the job's :class:`igae.ae.training_configs.AETrainingConfig`."""
    return AETrainingConfig(**training)


def build(entry: TrainedEntry, inputs: dict[str, Path], out_dir: Path, device, log, use_shipped: bool, parity: Parity):
    """The job: write ``out_dir`` for a ``trained`` entry, its shipped ``checkpoint`` (with ``use_shipped``) once the
    card's recipe is checked against the entry's ``training``, or a standard AE trained on the real images of
    ``inputs["real"]`` (``parity``: no effect)."""
    from igae.ae.autoencoder import AutoencoderError, copy_checkpoint, load_with_card, save_autoencoder
    from igae.ae.standard_training import train_standard_autoencoder
    from igae.scenes.real_images import load_real_images

    name, training = entry.name, training_config(entry.training, parity)
    if entry.checkpoint and use_shipped:
        checkpoint = Path(entry.checkpoint)
        _, card = load_with_card(checkpoint, "cpu")  # checks the weights against the card's sha256
        if entry.sha256 and entry.sha256 != card.sha256:
            raise AutoencoderError(f"{checkpoint}: sha256 {card.sha256} differs from config's {entry.sha256}")
        recipe = asdict(training)
        if card.recipe.get("training") != recipe:
            changed = sorted(k for k in recipe if card.recipe.get("training", {}).get(k) != recipe[k])
            raise AutoencoderError(
                f"config: autoencoders.{name}.training differs from the recipe of the shipped checkpoint {checkpoint} "
                f"(keys: {', '.join(changed)}); set use_shipped_checkpoints: false to train with the new recipe"
            )
        copy_checkpoint(checkpoint, out_dir)
        log(f"{name}: shipped checkpoint {checkpoint} (sha256 {card.sha256}); recipe: {json.dumps(card.recipe)}")
        return card
    images, test_images = load_real_images(inputs["real"], "train"), load_real_images(inputs["real"], "test")
    ae, card = train_standard_autoencoder(images, training, name, device, log, test_images=test_images, kind=NAME)
    return save_autoencoder(ae, out_dir, card)


KIND = AutoencoderKind(
    name=NAME,
    schema=SCHEMA,
    entry=TrainedEntry,
    rule="prepare_autoencoder",
    inputs=inputs,
    build=build,
    trains=unless_shipped,
    training_config=training_config,
)
