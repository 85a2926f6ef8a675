"""The other paper methods as latent nerfstudio methods: 2 real iterations each, latent and RGB, on a tiny scene.

Model sizes are cut down so that each run takes seconds on 2 CPU cores (SMALL below); the architecture, losses,
samplers and the two-stage pipeline are the real ones:

- nerfacto: 4 hash levels up to 64^3 in 2^12 entries, 16-wide MLPs, 16 + 8 proposal samples and 8 field samples,
  proposal nets of 2 levels up to 32^3 in 2^10 entries;
- vanilla-nerf: 8 coarse + 8 importance samples (the 8 x 256 MLPs as they are);
- kplanes: planes 8^2 at scales (1, 2) with 8 features, proposal planes 8^2 and 16^2, 16 + 8 proposal samples and
  8 field samples.
"""

import importlib.metadata
import json
import math
import tomllib
from pathlib import Path

import pytest
import torch
import yaml
from conftest import LATENT_CHANNELS
from nerfstudio.plugins.types import MethodSpecification

from igae.latent_nerf.instant_ngp import GPU_ONLY
from igae.latent_nerf.method_configs import TwoStageSchedule
from igae.latent_nerf.registry import METHODS
from igae.latent_nerf.renderers import LatentRenderer
from igae.nerf_fit import fit
from igae.workflow_config import skipped_methods

REPO = Path(__file__).resolve().parents[1]
ENTRY_POINTS = "nerfstudio.method_configs"

SMALL = {
    "nerfacto": {
        "num_levels": 4,
        "max_res": 64,
        "log2_hashmap_size": 12,
        "hidden_dim": 16,
        "hidden_dim_color": 16,
        "num_proposal_samples_per_ray": (16, 8),
        "num_nerf_samples_per_ray": 8,
        "proposal_net_args_list": [
            {"hidden_dim": 8, "log2_hashmap_size": 10, "num_levels": 2, "max_res": 32, "use_linear": False}
        ]
        * 2,
    },
    "vanilla-nerf": {"num_coarse_samples": 8, "num_importance_samples": 8},
    "kplanes": {
        "grid_base_resolution": (8, 8, 8),
        "grid_feature_dim": 8,
        "multiscale_res": (1, 2),
        "proposal_resolutions": (8, 16),
        "num_proposal_samples": (16, 8),
        "num_samples": 8,
    },
}
COLOUR_HEADS = {
    # checkpoint keys of the last layer of each colour head: its first dimension is the number of output channels
    "nerfacto": ["_model.field.mlp_head.layers.2.weight"],
    "vanilla-nerf": ["_model.field_coarse.field_heads.0.net.weight", "_model.field_fine.field_heads.0.net.weight"],
    "kplanes": ["_model.field.mlp_head.layers.2.weight"],
}


def registry_entry_points() -> dict[str, str]:
    """{ns-train name: module:attribute} the registry's methods need, one per method."""
    return {m.entry_point: f"igae.latent_nerf.method_configs:{m.specification}" for m in METHODS.values()}


def test_pyproject_registers_exactly_the_registry_s_methods():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINTS]
    assert declared == registry_entry_points(), f"pyproject.toml [project.entry-points.{ENTRY_POINTS!r}]"


def test_the_installed_entry_points_are_the_registry_s_and_load_its_latent_models():
    """What nerfstudio discovers (the installed distribution's metadata) is one method per registry entry, each a
    latent trainer config of the registry's class, named as its entry point."""
    installed = importlib.metadata.distribution("igae-bench").entry_points.select(group=ENTRY_POINTS)
    assert {ep.name: ep.value for ep in installed} == registry_entry_points(), (
        "installed entry points (pyproject.toml's, once installed: after editing it, .venv/bin/pip install -e .)"
    )
    for ep in installed:
        spec = ep.load()
        method = METHODS[ep.name.removeprefix("latent-")]
        assert isinstance(spec, MethodSpecification)
        assert spec.config.method_name == ep.name
        model = spec.config.pipeline.model
        assert (type(model).__module__, type(model).__name__) == (method.module, method.latent_config)
        assert spec.description.startswith(method.description)
        assert ("GPU only" in spec.description) == bool(method.gpu_only)


def method_enums(node, path="") -> dict[str, list]:
    """{schema path: enum} of every enum in the schema that names a registered method."""
    if isinstance(node, dict):
        found = {f"{path}/enum": node["enum"]} if set(node.get("enum", [])) & set(METHODS) else {}
        children = node.items()
    elif isinstance(node, list):
        found, children = {}, enumerate(node)
    else:
        return {}
    for key, child in children:
        found.update(method_enums(child, f"{path}/{key}"))
    return found


def test_the_schema_accepts_exactly_the_registry_s_methods():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    enums = method_enums(schema)
    benchmark = "/properties/benchmark/properties"
    assert set(enums) == {
        f"{benchmark}/methods/items/enum",
        f"{benchmark}/ablation/properties/methods/items/enum",
        f"{benchmark}/schedule_overrides/propertyNames/enum",
        f"{benchmark}/model/propertyNames/enum",
    }
    for where, names in enums.items():
        assert names == list(METHODS), f"config.schema.yaml {where}: the &methods enum must list {list(METHODS)}"


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_cpu_run_skips_the_gpu_only_methods_with_the_registry_s_reason(device):
    config = {"device": device, "benchmark": {"methods": list(METHODS)}}
    gpu_only = {name: m.gpu_only for name, m in METHODS.items() if m.gpu_only}
    assert gpu_only, "no GPU-only method registered: this test checks nothing"
    assert skipped_methods(config, cuda_available=False) == (gpu_only if device == "cpu" else {})
    assert skipped_methods({**config, "device": "auto"}, cuda_available=True) == {}
    config["benchmark"]["methods"] = [name for name in METHODS if name not in gpu_only]
    assert skipped_methods(config, cuda_available=False) == {}


@pytest.mark.parametrize("space", ["latent", "rgb"])
@pytest.mark.parametrize("method", ["nerfacto", "vanilla-nerf", "kplanes"])
def test_method_trains_two_iterations_and_evaluates(scene_and_ae, method, space):
    scene, ae_dir, latents_file, root = scene_and_ae
    run = root / f"run_{space}_{method}"
    schedule = TwoStageSchedule(latent_steps=1, align_steps=1, lr_factor=1.0, rgb_rays_per_batch=64)
    latent = space == "latent"
    result = fit(
        space,
        method,
        scene,
        run,
        schedule,
        autoencoder=ae_dir if latent else None,
        latents=latents_file if latent else None,
        model_overrides=SMALL[method],
        labels={"dataset": "d", "scene": scene.name, "autoencoder": "tiny" if latent else None},
    )
    timing = json.loads((run / "timing.json").read_text())
    assert json.loads((run / "metrics.json").read_text())["method"] == method
    assert timing["iterations"] == 2
    assert set(timing["stage_seconds"]) == ({"fit", "align"} if latent else {"fit"})
    assert math.isfinite(result["mean"]["psnr"]) and math.isfinite(result["mean"]["ssim"])
    if latent:
        assert math.isfinite(result["latent_mean"]["psnr"])
    # the convergence curve: 2 steps give points after steps 1 and 2, one in each stage of a latent fit
    curve = result["curve"]
    assert [point["step"] for point in curve] == [1, 2]
    assert [point["stage"] for point in curve] == (["fit", "align"] if latent else ["fit", "fit"])
    assert all(math.isfinite(point["psnr"]) and point["train_seconds"] > 0 for point in curve)
    assert curve[0]["train_seconds"] < curve[1]["train_seconds"] <= timing["train_seconds"]
    assert result["converged"] == (abs(curve[1]["psnr"] - curve[0]["psnr"]) < 0.3)
    state = torch.load(next(run.rglob("*.ckpt")), map_location="cpu", weights_only=False)["pipeline"]
    for key in COLOUR_HEADS[method]:
        assert state[key].shape[0] == (LATENT_CHANNELS if latent else 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
@pytest.mark.parametrize("space", ["latent", "rgb"])
def test_instant_ngp_refuses_the_cpu_before_training(scene_and_ae, space):
    scene, ae_dir, latents_file, root = scene_and_ae
    latent = space == "latent"
    with pytest.raises(RuntimeError, match="GPU-only") as error:
        fit(
            space,
            "instant-ngp",
            scene,
            root / f"run_ngp_{space}",
            TwoStageSchedule(latent_steps=1, align_steps=1),
            autoencoder=ae_dir if latent else None,
            latents=latents_file if latent else None,
        )
    assert str(error.value) == GPU_ONLY
    assert not (root / f"run_ngp_{space}").exists()


def test_latent_renderer_composites_packed_samples_as_dense_ones():
    """instant-ngp's packed samples (nerfacc ray_indices) give the same latents as the same samples per ray."""
    torch.manual_seed(0)
    renderer = LatentRenderer([0.1, 0.5, 0.9, 0.3])
    latents, weights = torch.rand(6, 5, 4), torch.rand(6, 5, 1) / 5  # (rays, samples, C), (rays, samples, 1)
    dense = renderer(latents, weights)
    packed = renderer(
        latents.reshape(-1, 4), weights.reshape(-1, 1), ray_indices=torch.arange(6).repeat_interleave(5), num_rays=6
    )
    assert torch.allclose(dense, packed, atol=1e-6)
