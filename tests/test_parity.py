"""`parity: official`: each deviation of docs/paper.md#deviations it switches back to the official code's behaviour."""

from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
import torch
import yaml
from test_igae_training import SIZE, synthetic_scene, tiny_autoencoder, tiny_config

from igae.ae.autoencoder import AutoencoderError, LatentNormalizer, decode, load_with_card, read_card
from igae.ae.igae_training import _ShuffledCycle, joint_ae_parameters, lr_factor, train_igae
from igae.ae.kinds.igae import _check_shipped_igae, scene_split
from igae.ae.kinds.registry import autoencoder_entry
from igae.ae.latents import encode_scene, load_latents
from igae.ae.training_configs import IGAEParity, epochs_to_steps, igae_parity, igae_training_config
from igae.ae.triplanes import TriPlanes
from igae.config import ConfigError, check_config
from igae.nerf.method_configs import TwoStageSchedule, trainer_config
from igae.scenes.dataset_io import eval_count, official_eval_count

REPO = Path(__file__).resolve().parents[1]


def load_yaml(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text())


def test_the_schema_refuses_an_unknown_parity_naming_the_key():
    schema = load_yaml("workflow/schemas/config.schema.yaml")
    config = {**load_yaml("tests/data/tiny_config.yaml"), "parity": "oficial"}
    with pytest.raises(jsonschema.ValidationError) as error:
        jsonschema.validate(config, schema)
    assert list(error.value.path) == ["parity"] and "official" in error.value.message
    jsonschema.validate({**config, "parity": "official"}, schema)


def test_official_planes_sample_the_third_plane_at_z_x():
    """A feature at the (z, x) location of a point in plane 2 is seen under the official axes only."""
    planes = TriPlanes(1, resolution=8, features=1)
    official = TriPlanes(1, resolution=8, features=1, plane_axes="xy-xz-zx")
    with torch.no_grad():
        for triplanes in (planes, official):
            triplanes.planes.zero_()
            # pixel centres of an 8-px plane (align_corners=False): -1 + (2i + 1) / 8; column = u, row = v
            triplanes.planes[0, 2, 0, 1, 6] = 1.0  # row 1 (v = -0.625), column 6 (u = 0.625)
    point = torch.tensor([[[-0.625, 0.125, 0.625]]])  # (x, y, z): (u, v) = (z, x) = (0.625, -0.625)
    scene = torch.zeros(1, dtype=torch.long)
    assert official.sample(scene, point).item() == pytest.approx(1.0)
    assert planes.sample(scene, point).item() == 0.0  # (y, z) = (0.125, 0.625): row 6, between columns 3 and 4


def test_official_split_of_the_igae_scenes_is_floor_not_ceil():
    assert (eval_count(6, 0.25), official_eval_count(6, 0.25)) == (2, 1)  # the tiny config's synthetic scenes
    assert eval_count(50, 0.1) == official_eval_count(50, 0.1) == 5  # the paper's fraction on a multiple of 10
    assert (eval_count(24, 0.125), official_eval_count(24, 0.125)) == (3, 3)  # the default config: no change
    data = SimpleNamespace(images=[None] * 6, train_indices=[2, 3, 4, 5], eval_indices=[0, 1])
    assert scene_split(data) == ([2, 3, 4, 5], [0, 1])
    assert scene_split(data, "official", 0.25) == ([1, 2, 3, 4, 5], [0])


def test_official_lr_decays_once_per_epoch_of_each_phase():
    training = {"warmup_epochs": 2, "joint_epochs": 2, "warmup_batch_views": 4, "batch_views": 2}
    training["lr_decay_per_epoch"] = 0.5
    paper = igae_training_config(epochs_to_steps(training, 8), "cpu")[0]
    official = igae_training_config(epochs_to_steps(training, 8, "official"), "cpu", "official")[0]
    behaviours = igae_parity(training, 8, "official")
    assert (behaviours.warmup_steps_per_epoch, behaviours.joint_steps_per_epoch) == (2, 4)
    assert paper.lr_decay_per_step == pytest.approx(0.5**0.25) and official.lr_decay_per_step == 1.0
    warmup = [lr_factor(official, behaviours, "warmup", step) for step in range(5)]
    joint = [lr_factor(official, behaviours, "joint", step) for step in range(9)]
    assert warmup == [1.0, 1.0, 0.5, 0.5, 0.25] and joint == [1.0] * 4 + [0.5] * 4 + [0.25]
    assert lr_factor(paper, IGAEParity(), "joint", 4) == pytest.approx(0.5)  # per step: 0.5 ** (4 / 4)
    assert lr_factor(paper, IGAEParity(), "joint", 1) == pytest.approx(0.5**0.25)


def test_official_real_images_cycle_in_their_stored_order():
    generator = torch.Generator().manual_seed(0)
    assert _ShuffledCycle(5, generator, reshuffle=False).take(12).tolist() == [0, 1, 2, 3, 4] * 2 + [0, 1]
    reshuffled = _ShuffledCycle(5, generator).take(10).tolist()
    assert sorted(reshuffled[:5]) == sorted(reshuffled[5:]) == [0, 1, 2, 3, 4] and reshuffled != [0, 1, 2, 3, 4] * 2


def test_official_training_keys_and_a_contradicting_entry():
    config, _ = igae_training_config({"warmup_steps": 1}, "cpu", "official")
    assert (config.parity_freeze_triplanes_in_joint, config.posterior, config.cache_warmup_latents) == (
        True,
        "sample",
        False,
    )
    assert igae_training_config({"warmup_steps": 1}, "cpu")[0] == igae_training_config({"warmup_steps": 1}, "cpu")[0]
    with pytest.raises(ValueError, match="posterior = 'mean' contradicts parity: official"):
        igae_training_config({"posterior": "mean"}, "cpu", "official")


def test_paper_parity_changes_no_recipe_of_the_shipped_checkpoints():
    """The default (paper) training configs are those without the key: the shipped cards still match."""
    config = load_yaml("config.yaml")
    for name in ("igae", "control"):
        training = config["autoencoders"][name]["training"]
        assert igae_training_config(epochs_to_steps(training, 252, "paper"), "cpu", "paper") == igae_training_config(
            epochs_to_steps(training, 252), "cpu"
        )
        assert igae_parity(training, 252, "paper") == IGAEParity()


def test_the_default_config_refuses_official_parity_naming_the_keys():
    """Its base AE decodes posterior means: the official samples would be noise (docs/paper.md#deviations)."""
    config = {**load_yaml("config.yaml"), "parity": "official"}
    with pytest.raises(ConfigError, match=r"parity = 'official'.*autoencoders\.standard\.training\.sample_posterior"):
        check_config(config)
    check_config({**load_yaml("tests/data/tiny_config.yaml"), "parity": "official"})  # a base that samples: fine


def test_a_shipped_igae_of_the_paper_recipe_is_refused_under_official_parity():
    card = read_card(REPO / "assets/autoencoders/igae")
    expected = {"training": card.recipe["training"], "base_sha256": card.recipe["base_sha256"], "parity": "official"}
    expected.update({key: card.recipe[key] for key in ("scenes_sha256", "real_sha256")})
    entry = autoencoder_entry({"name": "igae", "kind": "igae", "image_size": 128, "base": "standard"})
    with pytest.raises(AutoencoderError, match=r"config: parity = 'official'.*trained with parity 'paper'"):
        _check_shipped_igae(entry, REPO / "assets/autoencoders/igae", card, expected)
    _check_shipped_igae(entry, REPO / "assets/autoencoders/igae", card, {**expected, "parity": "paper"})


def test_official_joint_phase_leaves_the_quant_convs_as_the_base_aes():
    ae = tiny_autoencoder()
    encoder, decoder = joint_ae_parameters(ae, train_quant_convs=False)
    quant = {id(p) for name, p in ae.named_parameters() if "quant_conv" in name}
    assert quant and not quant & {id(p) for p in encoder + decoder}
    assert quant <= {id(p) for p in sum(joint_ae_parameters(ae), [])}

    def joint_run(parity: IGAEParity) -> tuple[dict, dict]:
        ae = tiny_autoencoder()
        before = {name: p.detach().clone() for name, p in ae.named_parameters()}
        real = torch.rand(3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(7)) * 2 - 1
        config = tiny_config(warmup_steps=0, joint_steps=2)
        train_igae(ae, LatentNormalizer(), [synthetic_scene(0)], real, config, log=lambda _: None, parity=parity)
        return before, dict(ae.named_parameters())

    for parity, quant_changes in ((IGAEParity(train_quant_convs=False), False), (IGAEParity(), True)):
        before, after = joint_run(parity)
        for name in ("quant_conv.weight", "post_quant_conv.weight"):
            assert (not torch.equal(before[name], after[name])) is quant_changes, (name, parity)
        assert not torch.equal(before["encoder.conv_in.weight"], after["encoder.conv_in.weight"])


def test_official_stage_2_decoder_normaliser_and_clamp(scene_and_ae):
    scene, ae_dir, latents, root = scene_and_ae
    schedule = TwoStageSchedule(latent_steps=1, align_steps=1, lr_factor=1.0)

    def pipeline(parity: str):
        config = trainer_config(
            "latent", "tensorf", schedule, scene, ae_dir, latents, output_dir=root / parity, parity=parity
        )
        config.machine.device_type = "cpu"
        trainer = config.setup(local_rank=0, world_size=1)
        trainer.setup()
        return trainer.pipeline

    paper, official = pipeline("paper"), pipeline("official")
    post_quant = {id(p) for p in official.autoencoder.post_quant_conv.parameters()}
    assert not post_quant & {id(p) for p in official.decoder_parameters()}
    paper_quant = {id(p) for p in paper.autoencoder.post_quant_conv.parameters()}
    assert paper_quant <= {id(p) for p in paper.decoder_parameters()}
    assert (paper.normalizer.eps, official.normalizer.eps) == (1e-4, 1e-6)
    assert (paper.config.clamp_alignment, official.config.clamp_alignment) == (True, False)
    saturated = torch.ones(1, 1, 1)  # a latent in [0, 1] at the edge: atanh of the clamped value
    assert official.normalizer.from_unit(saturated).item() > paper.normalizer.from_unit(saturated).item()
    ae, _ = load_with_card(ae_dir)
    wild = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0)) * 50
    with torch.no_grad():
        unclamped = decode(ae, wild, clamp=False)
    assert unclamped.abs().max() > 1 and decode(ae, wild).abs().max() <= 1


def test_official_nerf_targets_are_one_posterior_sample_per_frame(scene_and_ae):
    scene, ae_dir, latents_file, root = scene_and_ae
    ae, card = load_with_card(ae_dir)
    encode_scene(ae, card, scene, root / "sampled.safetensors", sample=True)
    encode_scene(ae, card, scene, root / "sampled_again.safetensors", sample=True)
    means, _ = load_latents(latents_file)
    samples, metadata = load_latents(root / "sampled.safetensors")
    again, _ = load_latents(root / "sampled_again.safetensors")
    assert metadata["posterior"] == "sample, seed 1234"
    for frame, mean in means.items():
        assert not torch.equal(samples[frame], mean) and torch.equal(samples[frame], again[frame])


def test_official_igae_job_uses_the_base_background_the_official_split_and_records_its_parity(tmp_path):
    """train_igae_job under parity official: 5 of 6 views trained (floor split), the base AE's latent background kept
    for the IG-AE's latent NeRFs, and the parity in the card's recipe (a paper run records none)."""
    from test_autoencoders import tiny_ae, tiny_card

    from igae.ae.autoencoder import save_autoencoder
    from igae.ae.kinds.igae import train_igae_job
    from igae.scenes.procedural import build_procedural_dataset
    from igae.scenes.real_images import build_real_images

    build_procedural_dataset(tmp_path / "scenes", "primitives", 1, views=6, image_size=32, eval_fraction=0.25, seed=1)
    build_real_images(tmp_path / "real", image_size=32, crops_per_photo=1, seed=0)
    ae = tiny_ae()
    base = save_autoencoder(ae, tmp_path / "base", tiny_card(ae))
    training = {
        "warmup_steps": 1, "joint_steps": 1, "batch_views": 2, "warmup_batch_views": 2, "batch_real": 1,
        "perceptual": "none", "curve_points": 0,
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
    entry = autoencoder_entry(spec)
    folders = {"base_dir": tmp_path / "base", "scenes_dir": tmp_path / "scenes", "real_dir": tmp_path / "real"}
    official = train_igae_job(
        entry, **folders, out_dir=tmp_path / "official", log=lambda _: None, parity="official", scene_eval_fraction=0.25
    )
    paper = train_igae_job(entry, **folders, out_dir=tmp_path / "paper", log=lambda _: None)
    assert official.latent_background == base.latent_background != paper.latent_background
    assert official.recipe["parity"] == "official" and "parity" not in paper.recipe
    assert official.recipe["parity_behaviours"]["plane_axes"] == "xy-xz-zx"
    assert official.recipe["training"]["background"] == base.latent_background
    assert official.recipe["scenes_sha256"] != paper.recipe["scenes_sha256"]  # 5 train views instead of 4
