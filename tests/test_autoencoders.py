"""The autoencoder loader, the latent normaliser, the card and the latent background."""

import json
import math

import pytest
import torch

from igae.autoencoders import (
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
    from igae.ae_training import AETrainingConfig, train_standard_autoencoder
    from igae.real_images import PHOTO_FILES, build_real_images, load_real_images

    manifest = build_real_images(tmp_path / "real", image_size=32, crops_per_photo=1, seed=0)
    assert {PHOTO_FILES[crop["photo"]][0] for crop in manifest["crops"]} == {"skimage", "matplotlib", "sklearn"}
    train, test = load_real_images(tmp_path / "real", "train"), load_real_images(tmp_path / "real", "test")
    config = AETrainingConfig(
        steps=4, batch_size=2, crop_size=16, warmup_steps=2, perceptual="none", latent_channels=4,
        block_out_channels=[16, 16, 16, 16], eval_every=2,
    )  # fmt: skip
    ae, card = train_standard_autoencoder(train, config, "tiny", log=lambda message: None, test_images=test)
    curve = card.recipe["learning_curve"]
    assert [point["step"] for point in curve] == [2, 4]
    assert all(math.isfinite(point["psnr"]) and point["psnr"] > 0 for point in curve)
    assert 0 < curve[0]["seconds"] <= curve[1]["seconds"] <= card.recipe["seconds"]
    assert card.recipe["n_test_images"] == len(test) and card.recipe["device"] == "cpu"
    assert card.latent_channels == 4 and card.downsample == 8


def test_learning_rate_warms_up_linearly_then_decays_to_zero():
    from igae.ae_training import AETrainingConfig, learning_rate_factor

    config = AETrainingConfig(steps=110, warmup_steps=10)
    factors = [learning_rate_factor(step, config) for step in range(110)]
    assert factors[:10] == pytest.approx([(k + 1) / 10 for k in range(10)])
    assert factors[10] == pytest.approx(1.0) and factors[60] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False)) and factors[-1] < 0.01


def test_color_jitter_permutes_scales_and_clips_colours_and_leaves_unjittered_batches_unchanged():
    from igae.ae_training import _augment

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
