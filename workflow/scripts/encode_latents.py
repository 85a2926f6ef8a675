"""Snakemake: encode one scene with one AE (rule encode_latents)."""

from pathlib import Path

from igae.ae.autoencoder import load_with_card
from igae.ae.latents import encode_scene
from igae.parity import Parity
from igae.runtime import logged_job, resolve_device

with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821
    device = resolve_device(snakemake.config["device"])  # noqa: F821
    ae, card = load_with_card(snakemake.input.ae, device)  # noqa: F821
    scene = Path(snakemake.input.dataset) / snakemake.wildcards.scene  # noqa: F821
    sample = Parity.parse(getattr(snakemake.params, "parity", Parity.PAPER)) == Parity.OFFICIAL  # noqa: F821
    encode_scene(ae, card, scene, snakemake.output[0], device=device, sample=sample)  # noqa: F821
    log(f"encoded {scene} with {card.name} ({card.sha256[:12]}), posterior {'sample' if sample else 'mean'}")
