"""The other paper methods as latent nerfstudio methods: 2 real iterations each, latent and RGB, on a tiny scene.

Model sizes are cut down so that each run takes seconds on 2 CPU cores (SMALL below); the architecture, losses,
samplers and the two-stage pipeline are the real ones:

- nerfacto: 4 hash levels up to 64^3 in 2^12 entries, 16-wide MLPs, 16 + 8 proposal samples and 8 field samples,
  proposal nets of 2 levels up to 32^3 in 2^10 entries;
- vanilla-nerf: 8 coarse + 8 importance samples (the 8 x 256 MLPs as they are);
- kplanes: planes 8^2 at scales (1, 2) with 8 features, proposal planes 8^2 and 16^2, 16 + 8 proposal samples and
  8 field samples;
- splatfacto: 300 random Gaussians (20,000 in the benchmark).
"""

import importlib
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

from igae.config import skipped_methods
from igae.nerf.components.renderers import LatentRenderer
from igae.nerf.fit import fit
from igae.nerf.method_configs import MODEL_FILES, TwoStageSchedule
from igae.nerf.models.instant_ngp import GPU_ONLY
from igae.nerf.registry import METHODS

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
    "splatfacto": {"num_random": 300},
}
COLOUR_HEADS = {
    # checkpoint keys of the last layer of each colour head: its first dimension is the number of output channels
    "nerfacto": ["_model.field.mlp_head.layers.2.weight"],
    "vanilla-nerf": ["_model.field_coarse.field_heads.0.net.weight", "_model.field_fine.field_heads.0.net.weight"],
    "kplanes": ["_model.field.mlp_head.layers.2.weight"],
}


def registry_entry_points() -> dict[str, str]:
    """{ns-train name: module:attribute} the registry's methods need, one per method."""
    return {m.entry_point: f"igae.nerf.method_configs:{m.specification}" for m in METHODS.values()}


def test_every_method_has_its_model_file_its_specification_and_its_fields():
    """The places a method needs besides its Method entry (docs/extending.md#a-method), each named when missing: its
    line in MODEL_FILES, its module-level ns-train specification, and its model fields as the classes have them."""
    from igae.nerf import method_configs
    from igae.nerf.model_fields import MODEL_FIELDS

    for name, method in METHODS.items():
        assert name in MODEL_FILES, f"igae/nerf/method_configs.py: MODEL_FILES has no {name!r} line"
        assert hasattr(method_configs, method.specification), (
            f"igae/nerf/method_configs.py: no `{method.specification} = _specification(registry.METHODS[{name!r}])`"
        )
    assert list(MODEL_FILES) == list(METHODS), "MODEL_FILES lists the methods of the registry, in its order"
    assert MODEL_FIELDS == method_configs.model_config_fields(), (
        "igae/nerf/model_fields.py differs from the model config classes: "
        "python -m igae.nerf.method_configs > igae/nerf/model_fields.py"
    )


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
        assert type(spec.config.pipeline.model) is MODEL_FILES[method.name].latent_config
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


KPLANES_STOCK = {"lr": 1e-2, "eps": 1e-12, "warm_up_end": 512, "max_steps": 30000}
"""kplanes_nerfstudio 0.5.2's optimizers (docs/paper.md#nerf-methods): not a method of nerfstudio itself."""


def _rates(optimizers: dict) -> dict:
    """{group: (optimizer class, lr, eps, scheduler class, lr_final, max_steps, warm-up)}: what sets the lr curve."""
    rates = {}
    for name, group in optimizers.items():
        optimizer, scheduler = group["optimizer"], group.get("scheduler")
        horizon = tuple(getattr(scheduler, key, None) for key in ("lr_final", "max_steps", "warm_up_end"))
        rates[name] = (type(optimizer).__name__, optimizer.lr, optimizer.eps, type(scheduler).__name__, *horizon)
    return rates


@pytest.mark.parametrize("method", list(METHODS))
def test_rgb_baselines_keep_nerfstudio_s_learning_rates_and_lr_factor_scales_latent_fits_only(method):
    """The paper's lr factor (0.1) is the official extension's latent setting: an RGB baseline gets nerfstudio's own
    learning rates and schedules whatever lr_factor says, and a configured model-size override changes its model,
    not its rates."""
    from nerfstudio.configs.method_configs import method_configs

    from igae.nerf.method_configs import trainer_config

    paper = TwoStageSchedule(lr_factor=0.1)
    rgb = _rates(trainer_config("rgb", method, paper).optimizers)
    assert rgb == _rates(trainer_config("rgb", method, TwoStageSchedule(lr_factor=1.0)).optimizers)
    if method in method_configs:  # stock nerfstudio: our groups are its groups (camera optimiser off), same rates
        stock = _rates(method_configs[method].optimizers)
        assert rgb == {name: stock[name] for name in rgb}, f"{method}: RGB rates differ from nerfstudio's"
    else:
        assert method == "kplanes", f"{method} is neither a nerfstudio method nor documented here"
        assert {(r[1], r[2], r[6], r[5]) for r in rgb.values()} == {tuple(KPLANES_STOCK.values())}
    latent = _rates({k: v for k, v in trainer_config("latent", method, paper).optimizers.items() if k != "decoder"})
    factor = 1.0 if method == "vanilla-nerf" else 0.1  # the official extension keeps vanilla-nerf's own rate
    assert set(latent) == set(rgb)
    for name, (kind, lr, eps, scheduler, lr_final, *horizon) in rgb.items():
        assert latent[name] == pytest.approx((kind, lr * factor, eps, scheduler,
                                              None if lr_final is None else lr_final * factor, *horizon))  # fmt: skip
    if method in SMALL:  # the CPU configs' size override (benchmark.model) reaches the RGB model, not its rates
        small = trainer_config("rgb", method, paper, model_overrides=SMALL[method])
        assert all(getattr(small.pipeline.model, key) == value for key, value in SMALL[method].items())
        assert _rates(small.optimizers) == rgb


NERFSTUDIO_BACKGROUNDS = {  # what the stock model configs composite over (nerfstudio 1.1.5; our K-Planes: white)
    "tensorf": "white", "nerfacto": "last_sample", "vanilla-nerf": "white", "kplanes": "white", "instant-ngp": "random",
    "splatfacto": "random",
}  # fmt: skip


@pytest.mark.parametrize("method", list(METHODS))
def test_every_rgb_baseline_composites_over_the_scenes_known_white_background(method):
    """The same prior in both spaces: RGB over white, as latent fits over the AE's latent of white. nerfstudio's own
    nerfacto (last_sample) and instant-ngp (random) would learn the background instead: the collapse this pins."""
    from igae.nerf.method_configs import method_settings
    from igae.nerf.settings import BACKGROUND

    default = MODEL_FILES[method].rgb_config()  # the RGB config with its class defaults: nerfstudio's
    assert default.background_color == NERFSTUDIO_BACKGROUNDS[method]
    assert BACKGROUND == "white"
    assert method_settings("rgb", method, 1.0).model.background_color == "white"
    latent = method_settings("latent", method, 1.0).model
    assert hasattr(latent, "latent_background")  # filled from the AE card: the latent renderer composites over it


@pytest.mark.parametrize("space", ["latent", "rgb"])
@pytest.mark.parametrize("method", ["nerfacto", "vanilla-nerf", "kplanes"])
def test_method_trains_two_iterations_and_evaluates(scene_and_ae, method, space):
    scene, ae_dir, latents_file, root = scene_and_ae
    run = root / f"run_{space}_{method}"
    schedule = TwoStageSchedule(latent_steps=1, align_steps=1, lr_factor=1.0, rgb_rays_per_batch=64, check_every=1)
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
    # converged reads 5 points or more of the second half of the last stage: two points say nothing
    assert result["converged"] is None and (result["stop_reason"], result["steps"]) == ("fixed", 2)
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
