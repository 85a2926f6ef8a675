"""Trainer configs of the latent methods and their RGB baselines, built by one function for ns-train and the workflow.

``ns-train latent-<method> --data <scene> --pipeline.autoencoder <ae folder>`` trains with the paper's schedule, for
each method of :data:`igae.nerf.registry.METHODS` (instant-ngp needs a CUDA device); ``igae fit`` (and the
Snakemake rules) call :func:`trainer_config` with the schedule of the config file. Per-method settings follow the
official extension (docs/paper.md#nerf-methods); each model file defines its own (:func:`method_settings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManagerConfig
from nerfstudio.data.datamanagers.full_images_datamanager import FullImageDatamanagerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.models.base_model import ModelConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification

from igae.nerf import registry
from igae.nerf.convergence import probe_steps
from igae.nerf.data.camera_datamanager import LatentCameraDataManagerConfig
from igae.nerf.data.ray_datamanager import LatentDataManagerConfig
from igae.nerf.models import instant_ngp, kplanes, nerfacto, splatfacto, tensorf, vanilla_nerf
from igae.nerf.pipeline import LatentPipelineConfig
from igae.nerf.registry import Space
from igae.nerf.settings import MethodSettings
from igae.parity import Parity


@dataclass(frozen=True)
class ModelFile:
    """What :func:`method_settings` takes from a method's model file (``igae/nerf/models/<method>.py``)."""

    latent_config: type[ModelConfig]
    """The latent model's config class (what ``benchmark.model.<method>`` overrides)."""
    rgb_config: type[ModelConfig]
    """The RGB baseline's model config class (overridden the same way)."""
    settings: Callable[[type[ModelConfig], float], MethodSettings]
    """``settings(model_config, lr_factor)``: the model config, optimizer groups and AMP flag of one space."""


MODEL_FILES = {
    "tensorf": ModelFile(tensorf.LatentTensoRFModelConfig, tensorf.RGBTensoRFModelConfig, tensorf.settings),
    "nerfacto": ModelFile(nerfacto.LatentNerfactoModelConfig, nerfacto.RGBNerfactoModelConfig, nerfacto.settings),
    "vanilla-nerf": ModelFile(
        vanilla_nerf.LatentVanillaNeRFModelConfig, vanilla_nerf.RGBVanillaNeRFModelConfig, vanilla_nerf.settings
    ),
    "kplanes": ModelFile(kplanes.LatentKPlanesModelConfig, kplanes.RGBKPlanesModelConfig, kplanes.settings),
    "instant-ngp": ModelFile(
        instant_ngp.LatentInstantNGPModelConfig, instant_ngp.RGBInstantNGPModelConfig, instant_ngp.settings
    ),
    "splatfacto": ModelFile(
        splatfacto.LatentSplatfactoModelConfig, splatfacto.RGBSplatfactoModelConfig, splatfacto.settings
    ),
}
"""Registry method name -> its model file's config classes and settings (tests/test_latent_methods.py checks that
every method of :data:`igae.nerf.registry.METHODS` has one)."""


def model_config_fields() -> dict[str, dict[str, list[str]]]:
    """{method: {model config class: the fields an override may set}}, latent class first, read from the classes:
    what :mod:`igae.nerf.model_fields` holds for the config check (``python -m igae.nerf.method_configs`` prints it)."""
    return {
        name: {
            cls.__name__: sorted(f.name for f in fields(cls) if f.init and not f.name.startswith("_"))
            for cls in (model_file.latent_config, model_file.rgb_config)
        }
        for name, model_file in MODEL_FILES.items()
    }


STAGE_1_POINTS = 5
"""The most curve points a latent fit's stage 1 gets: probes cost a render and a decode, and stage 1 always runs in
full, so its curve only shows its shape (and where a PSNR was first reached, for the train time at equal quality)."""


@dataclass
class TwoStageSchedule:
    latent_steps: int = 10_000
    """Stage 1: iterations of the method's own loss on encoded latents (always run in full: the stage-2 switch)."""
    align_steps: int = 15_000
    """Stage 2: iterations of RGB alignment, decoder fine-tuned; with ``until_converged``, the most it may run."""
    decoder_lr: float = 1e-4
    """Adam learning rate of the decoder in stage 2."""
    decoder_lr_decay: float = 0.99969
    """Per-step exponential decay of the decoder learning rate over stage 2."""
    loss_d_weight: float = 0.01
    """Weight of the alignment loss MSE(D(render), x)."""
    lr_factor: float = 0.1
    """Multiplier of nerfstudio's learning rates for the latent NeRF (0.1 in the official extension, but vanilla-nerf:
    1). Latent fits only: the RGB baselines keep nerfstudio's learning rates (:func:`method_settings`)."""
    rgb_rays_per_batch: int = 4096
    """Rays per step of the RGB baseline (stock nerfstudio sampling)."""
    rgb_steps: int | None = None
    """Iterations of the RGB baseline (with ``until_converged``, the most it may run); None: latent_steps +
    align_steps, the paper's (both spaces train 25k steps)."""
    until_converged: bool = False
    """Stop a fit at the first probe of its last stage (a latent fit's alignment, an RGB fit's only stage) where its
    convergence criterion holds (:mod:`igae.nerf.convergence`), instead of running every step. False: the paper's fixed
    step counts. Either way the learning-rate schedules are laid over the step counts above (the caps)."""
    check_every: int = 500
    """Steps between two points of a latent fit's convergence curve (eval PSNR), in each stage."""
    rgb_check_every: int | None = None
    """Steps between two curve points of an RGB fit; None: ``check_every``."""
    scale_lr_schedulers: bool = False
    """Scale the NeRF learning-rate schedulers' horizons (max_steps, warm-up) by the fit's step count (its cap) /
    25,000, so that a short schedule decays as the paper's 10k + 15k steps do (K-Planes' 512-step warm-up alone
    outlasts a 150-step CPU fit). False keeps nerfstudio's stock horizons, as the paper and the official code."""

    @property
    def total_steps(self) -> int:
        """A latent fit's steps (its cap), both stages."""
        return self.latent_steps + self.align_steps

    def steps(self, space: Space) -> int:
        """The step count (the cap, when ``until_converged``) of a fit in ``space``."""
        if space == Space.LATENT:
            return self.total_steps
        return self.total_steps if self.rgb_steps is None else self.rgb_steps

    def final_stage_start(self, space: Space) -> int:
        """The iteration at which a fit's last stage begins: a latent fit's alignment, an RGB fit's 0."""
        return self.latent_steps if space == Space.LATENT else 0

    def probe_steps(self, space: Space) -> list[int]:
        """Iterations completed at each point of the fit's convergence curve
        (:func:`igae.nerf.convergence.probe_steps`):
        every ``check_every`` (RGB: ``rgb_check_every``) steps of the last stage, where the stopping rule reads them,
        and of a latent fit's stage 1 at most :data:`STAGE_1_POINTS` (the curve's shape there; no stop is decided)."""
        if space == Space.LATENT:
            stage_1 = max(self.check_every, -(-self.latent_steps // STAGE_1_POINTS))
            return probe_steps(0, self.latent_steps, stage_1) + probe_steps(
                self.latent_steps, self.total_steps, self.check_every
            )
        return probe_steps(0, self.steps(space), self.rgb_check_every or self.check_every)


OFFICIAL_PIPELINE = {"train_post_quant_conv": False, "clamp_alignment": False, "normalizer_eps": 1e-6}
"""The :class:`LatentPipelineConfig` fields ``parity: official`` sets (the official extension's behaviour)."""

PAPER_TOTAL_STEPS = 25_000
"""The paper's NeRF schedule (10k latent + 15k alignment steps), which the stock scheduler horizons go with."""


def scale_scheduler_horizons(optimizers: dict, factor: float) -> dict:
    """The optimizer groups with each scheduler's step counts (max_steps, warm-up) multiplied by ``factor``."""
    scaled = {}
    for name, group in optimizers.items():
        scheduler = group.get("scheduler")
        if scheduler is not None:
            steps = {
                key: max(1, round(getattr(scheduler, key) * factor))
                for key in ("max_steps", "warm_up_end", "warmup_steps")
                if getattr(scheduler, key, None)
            }
            group = {**group, "scheduler": replace(scheduler, **steps)}
        scaled[name] = group
    return scaled


def _dataparser(scene: Path | None) -> NerfstudioDataParserConfig:
    # The official extension's data settings (docs/paper.md#nerf-methods); the split comes from the scene's
    # *_filenames lists.
    return NerfstudioDataParserConfig(
        data=scene or Path(), auto_scale_poses=True, center_method="poses", orientation_method="up", scene_scale=1.0
    )


def method_settings(space: Space, method: str, lr_factor: float, model_overrides: dict | None = None) -> MethodSettings:
    """The model config (with ``model_overrides`` applied), optimizer groups and AMP flag of ``method`` in ``space``.

    The method's model file (:data:`MODEL_FILES`) builds them (its ``settings``) with its config class for ``space``.
    Latent fits: nerfstudio's learning rates times ``lr_factor`` (vanilla-nerf: always 1.0), as in the official
    extension, which defines the factor in its latent method configs only. RGB fits: nerfstudio's learning rates and
    schedules, whatever ``lr_factor`` says (the stock nerfstudio baseline the paper compares with; a 0.1 factor would
    handicap every RGB comparison). ``model_overrides`` (``benchmark.model.<method>``, e.g. the CPU configs' smaller
    model sizes) apply to both spaces. AMP follows the official configs; nerfstudio's trainer switches it off on the
    CPU.
    """
    space, model_file = Space.parse(space), MODEL_FILES[registry.method(method).name]
    model_config = model_file.latent_config if space == Space.LATENT else model_file.rgb_config
    settings = model_file.settings(model_config, lr_factor if space == Space.LATENT else 1.0)
    return replace(settings, model=replace(settings.model, **(model_overrides or {})))


def trainer_config(
    space: Space,
    method: str,
    schedule: TwoStageSchedule,
    scene: Path | None = None,
    autoencoder: Path | None = None,
    latents: Path | None = None,
    model_overrides: dict | None = None,
    output_dir: Path = Path("outputs"),
    seed: int = 1234,
    parity: Parity = Parity.PAPER,
) -> TrainerConfig:
    """A nerfstudio ``TrainerConfig`` for ``method`` in ``space`` ("latent" or "rgb") on one scene.

    ``parity: official``: the official extension's stage 2 (decoder without ``post_quant_conv``, no clamp before the
    alignment loss) and latent normaliser margin (1e-6); docs/paper.md#deviations."""
    parity = Parity.parse(parity)
    settings = method_settings(space, method, schedule.lr_factor, model_overrides)
    model, optimizers = settings.model, settings.optimizers
    steps = schedule.steps(space)  # the cap of an adaptive fit: its schedules are laid over it
    if schedule.scale_lr_schedulers:
        optimizers = scale_scheduler_horizons(optimizers, steps / PAPER_TOTAL_STEPS)
    if space == Space.LATENT:
        decoder_final_lr = schedule.decoder_lr * schedule.decoder_lr_decay ** max(schedule.align_steps, 1)
        optimizers["decoder"] = {
            "optimizer": AdamOptimizerConfig(lr=schedule.decoder_lr, eps=1e-15),
            "scheduler": ExponentialDecaySchedulerConfig(
                lr_final=decoder_final_lr, max_steps=max(schedule.align_steps, 1)
            ),
        }
        latent_data = LatentCameraDataManagerConfig if settings.renders_cameras else LatentDataManagerConfig
        pipeline = LatentPipelineConfig(
            datamanager=latent_data(dataparser=_dataparser(scene), latents=latents, seed=seed),
            model=model,
            autoencoder=autoencoder,
            latent_steps=schedule.latent_steps,
            loss_d_weight=schedule.loss_d_weight,
            **(OFFICIAL_PIPELINE if parity == Parity.OFFICIAL else {}),
        )
    elif settings.renders_cameras:  # one whole image per step, as the latent fits (rgb_rays_per_batch unused)
        pipeline = VanillaPipelineConfig(
            datamanager=FullImageDatamanagerConfig(
                dataparser=_dataparser(scene), cache_images_type="uint8", train_cameras_sampling_seed=seed
            ),
            model=model,
        )
    else:
        pipeline = VanillaPipelineConfig(
            datamanager=VanillaDataManagerConfig(
                dataparser=_dataparser(scene), train_num_rays_per_batch=schedule.rgb_rays_per_batch
            ),
            model=model,
        )
    return TrainerConfig(
        method_name=f"{space}-{method}" if space == Space.LATENT else method,
        output_dir=output_dir,
        max_num_iterations=steps,
        steps_per_save=steps,
        steps_per_eval_batch=steps + 1,
        steps_per_eval_image=steps + 1,
        steps_per_eval_all_images=steps + 1,
        save_only_latest_checkpoint=True,
        mixed_precision=settings.mixed_precision,
        pipeline=pipeline,
        optimizers=optimizers,
        viewer=ViewerConfig(num_rays_per_chunk=1 << 12, quit_on_train_completion=True),
        vis="tensorboard",
        machine=MachineConfig(seed=seed),
    )


def _specification(entry: registry.Method) -> MethodSpecification:
    gpu_only = " (GPU only)" if entry.gpu_only else ""
    return MethodSpecification(
        config=trainer_config(Space.LATENT, entry.name, TwoStageSchedule()),
        description=f"{entry.description}{gpu_only} in the latent space of an autoencoder, two stages as in IG-AE "
        "(--pipeline.autoencoder).",
    )


# What pyproject.toml's `nerfstudio.method_configs` entry points name, one per registry method (Method.specification;
# tests/test_latent_methods.py checks both lists).
latent_tensorf = _specification(registry.METHODS["tensorf"])
latent_nerfacto = _specification(registry.METHODS["nerfacto"])
latent_vanilla_nerf = _specification(registry.METHODS["vanilla-nerf"])
latent_kplanes = _specification(registry.METHODS["kplanes"])
latent_instant_ngp = _specification(registry.METHODS["instant-ngp"])
latent_splatfacto = _specification(registry.METHODS["splatfacto"])


if __name__ == "__main__":
    # python -m igae.nerf.method_configs > igae/nerf/model_fields.py: the fields the config check reads
    import pprint

    print(
        '"""The fields of each method\'s model config classes, latent class first: what '
        "``benchmark.model.<method>`` may\n"
        "override, read by the config check (:mod:`igae.config`) while Snakemake builds the DAG, without importing\n"
        "nerfstudio. Written from the classes by ``python -m igae.nerf.method_configs > igae/nerf/model_fields.py``;\n"
        'tests/test_latent_methods.py compares the two."""\n\n'
        f"MODEL_FIELDS = {pprint.pformat(model_config_fields(), width=116, compact=True, sort_dicts=False)}"
    )
