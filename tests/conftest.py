"""Fixtures shared by several test files."""

import pytest
import torch

from igae.ae.autoencoder import AutoencoderCard, latent_background, load_with_card, save_autoencoder, small_autoencoder
from igae.ae.latents import encode_scene
from igae.scenes.procedural import build_procedural_dataset

LATENT_CHANNELS = 4
"""Channels of the tiny autoencoder of :func:`scene_and_ae`."""


@pytest.fixture(scope="module")
def scene_and_ae(tmp_path_factory):
    """A 5-view 32-px procedural scene (1 eval view), a tiny 4-channel f8 autoencoder saved with its card, and the
    scene's latents encoded by it: (scene folder, AE folder, latents file, the module's scratch folder). One per test
    module, so a module's runs never meet another's."""
    root = tmp_path_factory.mktemp("latent_scene")
    (scene,) = build_procedural_dataset(root / "scenes", "photo", 1, views=5, image_size=32, eval_fraction=0.2, seed=0)
    torch.manual_seed(0)
    ae = small_autoencoder(
        latent_channels=LATENT_CHANNELS, block_out_channels=(8, 8, 8, 8), norm_num_groups=8, image_size=32
    )
    card = AutoencoderCard("tiny", "trained", "test", LATENT_CHANNELS, 8, 0.5, [])
    card.latent_background = latent_background(ae, card.normalizer, 32).tolist()
    save_autoencoder(ae, root / "ae", card)
    ae, card = load_with_card(root / "ae")
    encode_scene(ae, card, scene, root / "latents.safetensors")
    return scene, root / "ae", root / "latents.safetensors", root


def job_counts(dry_run_output: str) -> dict[str, int]:
    """{rule: count} from the 'Job stats' table of `snakemake -n`."""
    lines = dry_run_output.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("job ")]
    assert header, f"no job table in the dry run's output:\n{dry_run_output[-3000:]}"
    start = header[0] + 2
    counts = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts
