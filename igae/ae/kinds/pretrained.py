"""Kind ``pretrained``: an AE trained elsewhere, loaded as it is from the Hugging Face hub (``hub_id``) or a local
diffusers folder (``path``) (paper: ``ostris/vae-kl-f8-d16``), and written with its card."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from igae.ae.hub import HUB_ID
from igae.ae.kinds.kind import AutoencoderEntry, AutoencoderKind
from igae.parity import Parity

NAME = "pretrained"

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"const": NAME},
        "hub_id": {"type": "string", "description": "Hugging Face id, e.g. ostris/vae-kl-f8-d16"},
        "path": {"type": "string", "description": "a local diffusers folder"},
        "subfolder": {"type": "string"},
        "latent_scale": {"type": "number", "exclusiveMinimum": 0, "description": "tanh normaliser scale (paper 0.02)"},
    },
}


@dataclass(frozen=True)
class PretrainedEntry(AutoencoderEntry):
    """A ``pretrained`` entry: exactly one of ``hub_id`` and ``path`` (:func:`check`)."""

    hub_id: str | None = None
    """A Hugging Face id (owner/name), e.g. ``ostris/vae-kl-f8-d16``."""
    path: str | None = None
    """A local diffusers folder (relative to the working directory)."""
    subfolder: str | None = None
    """The AE's subfolder of the hub repository or folder (``vae`` for Stable Diffusion's)."""
    latent_scale: float = 0.02
    """Scale of the tanh latent normaliser (the paper's 0.02)."""


def inputs(entry: PretrainedEntry, config: dict) -> dict[str, str]:
    """None: a hub id is no file, and a local folder is read as it is when the job runs."""
    return {}


def check(entry: PretrainedEntry, where: str, config: dict, entries: Mapping[str, AutoencoderEntry]) -> None:
    """``path`` is a local diffusers folder that exists now; ``hub_id`` is an owner/name id; exactly one is set."""
    path, hub_id = entry.path, entry.hub_id
    if bool(path) == bool(hub_id):
        raise ValueError(
            f"{where}: a pretrained autoencoder needs exactly one of `path` (a local diffusers folder) or `hub_id` "
            "(owner/name on the Hugging Face hub)"
        )
    if path:
        folder = Path(path) / (entry.subfolder or "")
        if not (folder / "config.json").is_file():
            problem = "has no config.json (not a diffusers folder)" if folder.is_dir() else "does not exist"
            raise ValueError(
                f"{where}.path = {path!r}: {folder.absolute()} {problem}. A relative `path` is resolved against the "
                "working directory (the repository, unless snakemake -d names another); a hub id goes under `hub_id`"
            )
        return
    if not HUB_ID.fullmatch(hub_id):
        raise ValueError(
            f"{where}.hub_id = {hub_id!r} is not a Hugging Face id (owner/name); a local folder goes under `path`"
        )


def build(
    entry: PretrainedEntry, inputs: dict[str, Path], out_dir: Path, device, log, use_shipped: bool, parity: Parity
):
    """The job: write ``out_dir`` for a ``pretrained`` entry, the AE of its ``hub_id`` or local ``path`` with a card
    (``inputs``, ``use_shipped``: none, nothing is shipped).

    ``parity: official``: a pretrained AE the official code tabulates (:data:`OFFICIAL_LATENT_BACKGROUNDS`, by hub id)
    gets the tabulated latent background instead of the computed one."""
    import numpy as np

    from igae.ae.autoencoder import (
        OFFICIAL_LATENT_BACKGROUNDS,
        AutoencoderCard,
        downsample_factor,
        latent_background,
        load_autoencoder,
        save_autoencoder,
    )

    name = entry.name
    key = "path" if entry.path else "hub_id"  # a path is never looked up on the hub
    source = entry.path if entry.path else entry.hub_id
    ae = load_autoencoder(source, device, subfolder=entry.subfolder, key=key)
    card = AutoencoderCard(
        name=name,
        kind=NAME,
        source=str(source),
        latent_channels=ae.config.latent_channels,
        downsample=downsample_factor(ae),
        latent_scale=entry.latent_scale,
        latent_background=[],
    )
    card.latent_background = latent_background(ae, card.normalizer, entry.image_size, device).tolist()
    if parity == Parity.OFFICIAL and entry.hub_id in OFFICIAL_LATENT_BACKGROUNDS:
        card.latent_background = list(OFFICIAL_LATENT_BACKGROUNDS[entry.hub_id])
        card.recipe = {"parity": parity, "latent_background": "the official code's table"}
    elif parity == Parity.OFFICIAL:
        log(f"{name}: parity official, but the official code tabulates no background for {source}: computed")
    save_autoencoder(ae, out_dir, card)
    log(f"{name}: {source} loaded, background {np.round(card.latent_background, 3).tolist()}")
    return card


KIND = AutoencoderKind(
    name=NAME,
    schema=SCHEMA,
    entry=PretrainedEntry,
    rule="prepare_autoencoder",
    inputs=inputs,
    build=build,
    check=check,
)
