"""The autoencoder loader, the latent normaliser, the card and the latent background."""

import json
import math

import numpy as np
import pytest
import torch
from safetensors import safe_open

from igae.ae.autoencoder import (
    WEIGHTS_NAME,
    AutoencoderCard,
    AutoencoderError,
    LatentNormalizer,
    decode,
    encode,
    latent_background,
    load_autoencoder,
    load_with_card,
    save_autoencoder,
    small_autoencoder,
    store_autoencoder,
)


def tiny_ae():
    torch.manual_seed(0)
    return small_autoencoder(latent_channels=4, block_out_channels=(8, 8, 8, 8), norm_num_groups=8, image_size=32)


def tiny_card(ae, scale=0.5):
    card = AutoencoderCard("tiny", "trained", "test", 4, 8, scale, [])
    card.latent_background = latent_background(ae, card.normalizer, 32).tolist()
    return card


def test_normalizer_round_trip_and_range():
    normalizer = LatentNormalizer(scale=0.02)
    z = torch.linspace(-150, 150, 101)
    assert torch.allclose(normalizer.denormalize(normalizer.normalize(z)), z, atol=1e-2)
    assert torch.allclose(normalizer.from_unit(normalizer.to_unit(z)), z, atol=1e-2)
    unit = normalizer.to_unit(z)
    assert unit.min() >= 0 and unit.max() <= 1
    # tanh(0.02 z) as the paper's code: z = 50 -> tanh(1)
    assert normalizer.normalize(torch.tensor(50.0)).item() == pytest.approx(0.761594, abs=1e-5)


def test_encode_decode_shapes_follow_the_downsampling():
    ae = tiny_ae()
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    z = encode(ae, images)
    assert z.shape == (2, 4, 4, 4)
    assert decode(ae, z).shape == (2, 3, 32, 32)
    assert decode(ae, z).abs().max() <= 1


def test_latent_background_is_the_normalised_latent_of_white():
    ae = tiny_ae()
    normalizer = LatentNormalizer(scale=0.5)
    background = latent_background(ae, normalizer, 32)
    white_latent = encode(ae, torch.ones(1, 3, 32, 32))
    assert background.shape == (4,)
    assert torch.allclose(background, normalizer.to_unit(white_latent).mean(dim=(0, 2, 3)), atol=1e-6)


def test_save_and_load_round_trip_with_card(tmp_path):
    ae = tiny_ae()
    card = save_autoencoder(ae, tmp_path / "ae", tiny_card(ae))
    loaded, loaded_card = load_with_card(tmp_path / "ae")
    assert loaded_card.sha256 == card.sha256 and len(card.sha256) == 64
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.allclose(encode(ae, x), encode(loaded, x))
    assert not (tmp_path / "ae.tmp").exists()


def test_corrupt_weights_are_reported(tmp_path):
    ae = tiny_ae()
    save_autoencoder(ae, tmp_path / "ae", tiny_card(ae))
    weights = tmp_path / "ae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(AutoencoderError, match="sha256"):
        load_with_card(tmp_path / "ae")
    card = json.loads((tmp_path / "ae" / "card.json").read_text())
    card["sha256"] = ""
    (tmp_path / "ae" / "card.json").write_text(json.dumps(card))
    with pytest.raises(AutoencoderError, match="cannot load the weights"):
        load_with_card(tmp_path / "ae")


def test_missing_folder_and_offline_hub_id_give_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(AutoencoderError, match="does not exist"):
        load_autoencoder(tmp_path / "nope")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import: patch the constant
    with pytest.raises(AutoencoderError, match=r"ostris/vae-kl-f8-d16.*local-dir"):
        load_autoencoder("ostris/vae-kl-f8-d16")


def test_standard_ae_recipe_trains_on_the_shipped_photos_and_records_its_learning_curve(tmp_path):
    """The prepare_autoencoder recipe at tiny sizes: crops of every package's photos, a held-out curve in the card."""
    from igae.ae.standard_training import train_standard_autoencoder
    from igae.ae.training_configs import AETrainingConfig
    from igae.scenes.photos import PHOTO_FILES
    from igae.scenes.real_images import build_real_images, load_real_images

    manifest = build_real_images(tmp_path / "real", image_size=32, crops_per_photo=1, seed=0)
    assert {PHOTO_FILES[crop["photo"]][0] for crop in manifest["crops"]} == {"skimage", "matplotlib", "sklearn"}
    train, test = load_real_images(tmp_path / "real", "train"), load_real_images(tmp_path / "real", "test")
    config = AETrainingConfig(
        steps=4, batch_size=2, crop_size=16, warmup_steps=2, perceptual="none", latent_channels=4,
        block_out_channels=[16, 16, 16, 16], eval_every=2,
    )  # fmt: skip
    ae, card = train_standard_autoencoder(
        train, config, "tiny", log=lambda message: None, test_images=test, kind="trained"
    )
    curve = card.recipe["learning_curve"]
    assert [point["step"] for point in curve] == [2, 4]
    assert all(math.isfinite(point["psnr"]) and point["psnr"] > 0 for point in curve)
    assert 0 < curve[0]["seconds"] <= curve[1]["seconds"] <= card.recipe["seconds"]
    assert card.recipe["n_test_images"] == len(test) and card.recipe["device"] == "cpu"
    assert card.latent_channels == 4 and card.downsample == 8


def test_learning_rate_warms_up_linearly_then_decays_to_zero():
    from igae.ae.standard_training import learning_rate_factor
    from igae.ae.training_configs import AETrainingConfig

    config = AETrainingConfig(steps=110, warmup_steps=10)
    factors = [learning_rate_factor(step, config) for step in range(110)]
    assert factors[:10] == pytest.approx([(k + 1) / 10 for k in range(10)])
    assert factors[10] == pytest.approx(1.0) and factors[60] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False)) and factors[-1] < 0.01


def test_color_jitter_permutes_scales_and_clips_colours_and_leaves_unjittered_batches_unchanged():
    from igae.ae.standard_training import _augment

    # (4, 3, 8, 8) in [-1, 1]: a red-dominant image and a white one, twice
    red = torch.tensor([0.6, -0.2, -0.8])[:, None, None].expand(3, 8, 8)
    white = torch.ones(3, 8, 8)
    images = torch.stack([red, white, red, white])

    def draw(jitter: float) -> torch.Tensor:
        return _augment(images, 8, torch.Generator().manual_seed(3), color_jitter=jitter)

    plain = draw(0.0)
    for image, source in zip(plain, images, strict=True):  # flips and rotations of a constant image change nothing
        assert torch.equal(image, source)
    jittered = draw(0.3)
    assert torch.equal(jittered, draw(0.3)) and not torch.equal(jittered, plain)  # seeded, and it does something
    assert jittered.min() >= -1 and jittered.max() <= 1
    # gains in [0.7, 1.3] and an offset shared by the channels keep a colour a colour: in [0, 1] units the red image
    # is (0.8, 0.4, 0.1), and its two brightest channels stay >= 0.8 * 0.7 - 0.4 * 1.3 = 0.04 apart
    for image in jittered[[0, 2]]:
        channels = ((image[:, 0, 0] + 1) / 2).sort().values
        assert channels[2] - channels[1] > 0.03
    # white clips: a gain above 1 or a positive offset keeps some channels at exactly 1
    assert (jittered[[1, 3]] == 1).any()


@pytest.fixture(scope="module")
def tiny_igae(tmp_path_factory):
    """A tiny IG-AE trained by the train_igae rule's function on 2 procedural scenes and real crops, then stored as
    float16 as the shipped checkpoints are: (spec, folders, shipped folder)."""
    from igae.ae.kinds.igae import train_igae_job
    from igae.ae.kinds.registry import autoencoder_entry
    from igae.scenes.procedural import build_procedural_dataset
    from igae.scenes.real_images import build_real_images

    root = tmp_path_factory.mktemp("igae")
    build_procedural_dataset(root / "scenes", "primitives", 2, views=5, image_size=32, eval_fraction=0.2, seed=1)
    build_real_images(root / "real", image_size=32, crops_per_photo=1, seed=0)
    ae = tiny_ae()
    save_autoencoder(ae, root / "base", tiny_card(ae))
    training = {
        "warmup_steps": 2, "joint_steps": 2, "batch_views": 2, "warmup_batch_views": 2, "batch_real": 1,
        "perceptual": "none", "curve_points": 1, "curve_train_views": 2,
        "triplanes": {"resolution": 8, "features": 4, "hidden": 8, "render": {"n_coarse": 4, "n_fine": 4}},
    }  # fmt: skip
    spec = {
        "name": "igae",
        "kind": "igae",
        "image_size": 32,
        "base": "standard",
        "scenes": "synthetic",
        "training": training,
    }
    folders = {"base_dir": root / "base", "scenes_dir": root / "scenes", "real_dir": root / "real"}
    card = train_igae_job(autoencoder_entry(spec), **folders, out_dir=root / "trained", log=lambda _: None)
    assert {"scenes_sha256", "real_sha256", "base_sha256", "curves"} <= set(card.recipe)
    store_autoencoder(root / "trained", root / "shipped", image_size=32)
    return {**spec, "checkpoint": str(root / "shipped")}, folders, root


def test_float16_storage_halves_the_weights_and_loads_as_float32(tiny_igae):
    _, _, root = tiny_igae
    trained, shipped = root / "trained" / WEIGHTS_NAME, root / "shipped" / WEIGHTS_NAME
    with safe_open(shipped, "pt") as stored, safe_open(trained, "pt") as full:
        assert {stored.get_tensor(key).dtype for key in stored.keys()} == {torch.float16}
        data_bytes = [sum(f.get_tensor(key).nbytes for key in f.keys()) for f in (stored, full)]
    assert data_bytes[0] * 2 == data_bytes[1]  # half the bytes of float32 weights
    (ae32, card32), (ae16, card16) = load_with_card(root / "trained"), load_with_card(root / "shipped")
    assert card16.recipe["storage"] == "float16" and card16.recipe["curves"] == card32.recipe["curves"]
    for (name, p32), p16 in zip(ae32.named_parameters(), ae16.parameters(), strict=True):
        assert p16.dtype == torch.float32 and torch.equal(p16, p32.half().float()), name


def test_a_shipped_igae_is_copied_when_recipe_base_and_data_match(tiny_igae, tmp_path):
    from igae.ae.kinds.igae import train_igae_job
    from igae.ae.kinds.registry import autoencoder_entry

    spec, folders, root = tiny_igae
    logs = []
    card = train_igae_job(autoencoder_entry(spec), **folders, out_dir=tmp_path / "igae", log=logs.append)
    assert card.sha256 == load_with_card(root / "shipped")[1].sha256
    assert any("recipe, base and data match" in line for line in logs)
    # without use_shipped, the same spec trains (the bit-identical recipe gives the trained weights again)
    retrained = train_igae_job(
        autoencoder_entry(spec), **folders, out_dir=tmp_path / "retrained", use_shipped=False, log=lambda _: None
    )
    assert retrained.sha256 == load_with_card(root / "trained")[1].sha256


@pytest.mark.parametrize(
    "change, message",
    [
        ("recipe", r"autoencoders\.igae\.training differs .* \(keys: joint_steps\)"),
        ("base", r"autoencoders\.igae\.base = 'standard' .* is not the base AE"),
        ("scenes", r"autoencoders\.igae\.scenes: the data differ"),
        ("real", r"real_images: the data differ"),
    ],
)
def test_a_shipped_igae_that_differs_from_the_config_is_refused_with_the_key_named(
    tiny_igae, tmp_path, change, message
):
    import shutil

    from PIL import Image

    from igae.ae.kinds.igae import train_igae_job
    from igae.ae.kinds.registry import autoencoder_entry

    spec, folders, _ = tiny_igae
    spec, folders = {**spec, "training": dict(spec["training"])}, dict(folders)
    if change == "recipe":
        spec["training"]["joint_steps"] = 3
    elif change == "base":
        ae = tiny_ae()
        torch.nn.init.zeros_(ae.decoder.conv_out.bias)  # another base AE
        save_autoencoder(ae, tmp_path / "other_base", tiny_card(ae))
        folders["base_dir"] = tmp_path / "other_base"
    else:
        key = "scenes_dir" if change == "scenes" else "real_dir"
        shutil.copytree(folders[key], tmp_path / change)
        folders[key] = tmp_path / change
        image = sorted((tmp_path / change).rglob("*.png"))[-1]  # a train view (eval views come first) / train crop
        pixels = np.asarray(Image.open(image).convert("RGB")).copy()
        pixels[0, 0] = 255 - pixels[0, 0]
        Image.fromarray(pixels).save(image)
    with pytest.raises(AutoencoderError, match=message):
        train_igae_job(autoencoder_entry(spec), **folders, out_dir=tmp_path / "igae", log=lambda _: None)
    assert not (tmp_path / "igae").exists()


def test_the_default_configs_shipped_autoencoders_are_those_its_recipes_train():
    """config.yaml's shipped checkpoints (use_shipped_checkpoints: true): each card's recipe is the config's, and the
    IG-AEs were fine-tuned from the shipped standard AE. (The data hashes are checked by the default run's jobs.)"""
    from dataclasses import asdict
    from pathlib import Path

    import yaml

    from igae.ae.autoencoder import read_card
    from igae.ae.training_configs import AETrainingConfig, epochs_to_steps, igae_training_config
    from igae.scenes.dataset_io import eval_count

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "config.yaml").read_text())
    standard = read_card(repo / config["autoencoders"]["standard"]["checkpoint"])
    assert standard.recipe["training"] == asdict(AETrainingConfig(**config["autoencoders"]["standard"]["training"]))
    for name in ("igae", "control"):
        spec = config["autoencoders"][name]
        scenes = config["scenes"][spec["scenes"]]
        train_views = scenes["count"] * (scenes["views"] - eval_count(scenes["views"], scenes["eval_fraction"]))
        expected, _ = igae_training_config(epochs_to_steps(spec["training"], train_views), "cpu")
        card = read_card(repo / spec["checkpoint"])
        assert {k: v for k, v in card.recipe["training"].items() if k != "device"} == {
            k: v for k, v in asdict(expected).items() if k != "device"
        }, name
        assert card.recipe["base_sha256"] == standard.sha256 and card.recipe["storage"] == "float16", name
        assert card.recipe["curves"] and card.recipe["curves"][-1]["phase"] == "joint", name
