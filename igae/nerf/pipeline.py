"""The two-stage latent NeRF pipeline of the paper (docs/paper.md#nerf-schedule).

Stage 1, latent supervision (steps [0, latent_steps)): the method's own losses on encoded latents.
Stage 2, RGB alignment (steps [latent_steps, end)): the latent loss is off; ``loss_d`` = w * MSE(D(render), x) on a
full decoded image drives both the NeRF and the decoder. When stage 2 begins every optimizer is reset (the official
code resets the NeRF optimizers; the decoder's starts then, so its learning rate decays over stage 2 only).

nerfstudio's viewer shows a latent pipeline decoded: :mod:`igae.nerf.viewer`.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackLocation
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig

from igae.ae.autoencoder import LatentNormalizer, decode, load_with_card
from igae.ae.latents import check_latents_match, encode_scene
from igae.nerf.data.ray_datamanager import LatentDataManagerConfig
from igae.nerf.viewer import LatentViewer, latent_display_control, serve_shipped_viser_client

serve_shipped_viser_client()  # before any viewer of a latent run starts its viser server


@dataclass
class LatentPipelineConfig(VanillaPipelineConfig):
    """Latent NeRF pipeline: a nerfstudio model rendering latents, the autoencoder's decoder, two stages."""

    _target: type = field(default_factory=lambda: LatentPipeline)
    datamanager: LatentDataManagerConfig = field(default_factory=LatentDataManagerConfig)
    autoencoder: Path | None = None
    """An igae-bench autoencoder folder (diffusers files + card.json), e.g. results/autoencoders/igae."""
    latent_steps: int = 10_000
    """Stage 1: iterations of latent supervision."""
    loss_d_weight: float = 0.01
    """Weight of the RGB alignment loss on the decoded rendering (pixels in [0, 1])."""
    reset_optimizers_at_stage_2: bool = True
    """Reset the NeRF's optimizers and schedulers when stage 2 begins (as the official code does). The decoder's are
    always reset then, so its learning rate decays over stage 2 only."""
    train_post_quant_conv: bool = True
    """Stage 2 fine-tunes ``post_quant_conv`` with the decoder; False (``parity: official``) the decoder only."""
    clamp_alignment: bool = True
    """Clamp the decoded rendering to the image range before the alignment loss; False (``parity: official``)
    compares the decoder's raw output, whose out-of-range pixels then keep their gradient."""
    normalizer_eps: float = 1e-4
    """Clamp margin of the latent normaliser's inverse (IG-AE training's); the official extension's is 1e-6."""


class LatentPipeline(VanillaPipeline):
    config: LatentPipelineConfig

    def __init__(self, config: LatentPipelineConfig, device: str, test_mode="val", world_size=1, local_rank=0, **kw):
        if config.autoencoder is None:
            raise ValueError("the latent pipeline needs an autoencoder folder: --pipeline.autoencoder <folder>")
        autoencoder, card = load_with_card(config.autoencoder, device)
        config.model.latent_channels = card.latent_channels
        config.model.latent_background = tuple(card.latent_background)
        config.datamanager.latent_scale = card.latent_scale
        config.datamanager.camera_res_scale_factor = 1.0 / card.downsample
        if config.datamanager.latents is None:  # ns-train without `igae encode`: encode next to the outputs
            data = Path(config.datamanager.data or config.datamanager.dataparser.data)
            scene_key = hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:12]
            config.datamanager.latents = (
                Path("outputs/latents") / f"{data.name}-{scene_key}-{card.sha256[:12]}.safetensors"
            )
            if not config.datamanager.latents.exists():
                encode_scene(autoencoder, card, data, config.datamanager.latents, device=device)
        check_latents_match(
            config.datamanager.latents, card, Path(config.datamanager.data or config.datamanager.dataparser.data)
        )
        super().__init__(config, device, test_mode=test_mode, world_size=world_size, local_rank=local_rank, **kw)
        self.autoencoder = autoencoder
        self.autoencoder.requires_grad_(False)
        for parameter in self.decoder_parameters():
            parameter.requires_grad_(True)
        self.card = card
        self.normalizer = LatentNormalizer(scale=card.latent_scale, eps=config.normalizer_eps)
        # ns-render gets decoded RGB; the benchmark's own timing renders latents only (latent_renders_only)
        self._latent_only = threading.local()
        self.model.decode_outputs = self._decode_full_render
        # nerfstudio's viewer finds these on the pipeline: the panel's "Latent view" switch, and the viewer's set-up
        self.latent_display = latent_display_control()
        self.latent_viewer = LatentViewer(self)

    @contextlib.contextmanager
    def latent_renders_only(self):
        """Whole-camera renders without the decoded image, so render and decode times are measured apart. Per
        thread: a viewer's render thread and the trainer's never switch each other's decoding."""
        before = getattr(self._latent_only, "active", False)
        self._latent_only.active = True
        try:
            yield
        finally:
            self._latent_only.active = before

    def _decode_full_render(self, latent_image: torch.Tensor) -> torch.Tensor | None:
        """``rgb_decoded`` of a whole-camera render (:class:`LatentImageMetrics`); None inside latent_renders_only."""
        return None if getattr(self._latent_only, "active", False) else self.decode_latent_image(latent_image)

    def decoder_parameters(self) -> list[torch.nn.Parameter]:
        post_quant_conv = getattr(self.autoencoder, "post_quant_conv", None)  # AutoencoderTiny has none
        train_it = post_quant_conv is not None and self.config.train_post_quant_conv
        extra = list(post_quant_conv.parameters()) if train_it else []
        return list(self.autoencoder.decoder.parameters()) + extra

    def get_param_groups(self):
        return {**super().get_param_groups(), "decoder": self.decoder_parameters()}

    def in_stage_2(self, step: int) -> bool:
        return step >= self.config.latent_steps

    def decode_latent_image(self, latent_image: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """(h, w, C) rendering in [0, 1] -> (H, W, 3) decoded image in [0, 1] (``clamp``; else unclamped)."""
        raw = self.normalizer.from_unit(latent_image).permute(2, 0, 1)[None]  # (1, C, h, w)
        return (decode(self.autoencoder, raw, clamp=clamp)[0].permute(1, 2, 0) + 1) / 2

    @torch.no_grad()
    def score_eval_view(self, index: int, latent_render: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """The official extension's four metric families for one eval view (:func:`igae.nerf.scoring.latent_view_row`,
        the code that scores a run's saved renders too), and the decoded render (H, W, 3)."""
        from igae.metrics import read_rgb
        from igae.nerf.scoring import latent_view_row

        dataset = self.datamanager.eval_dataset
        encoded = dataset.latents[index].to(latent_render.device)  # (h, w, C) in [0, 1]
        target = read_rgb(dataset.image_filenames[index]).to(latent_render.device)  # (H, W, 3)
        decoded = self.decode_latent_image(latent_render)
        row = latent_view_row(latent_render, encoded, decoded, self.decode_latent_image(encoded), target)
        decoded = decoded.clamp(0, 1)
        return row, decoded

    @torch.no_grad()
    def get_average_eval_image_metrics(self, step=None, output_path=None, get_std: bool = False):
        """What ns-eval reports: the four metric families averaged over every eval view (decoded RGB included)."""
        from igae.metrics import summarize

        self.eval()
        dataset = self.datamanager.eval_dataset
        rows = []
        with self.latent_renders_only():
            for index in range(len(dataset)):
                camera = dataset.cameras[index : index + 1].to(self.device)
                rows.append(self.score_eval_view(index, self.model.get_outputs_for_camera(camera)["rgb"])[0])
        summary = summarize(rows)
        self.train()
        keep = (lambda k: True) if get_std else (lambda k: not k.endswith("_std"))
        return {k: v for k, v in summary.items() if v is not None and keep(k)}

    def get_train_loss_dict(self, step: int):
        ray_bundle, batch = self.datamanager.next_train(step)
        outputs = self.model(ray_bundle)
        metrics = self.model.get_metrics_dict(outputs, batch)
        if not self.in_stage_2(step):
            return outputs, self.model.get_loss_dict(outputs, batch, metrics), metrics
        dataset = self.datamanager.train_dataset
        height, width, channels = dataset.latents.shape[1:]
        decoded = self.decode_latent_image(
            outputs["rgb"].reshape(height, width, channels), clamp=self.config.clamp_alignment
        )
        target = dataset.rgb(batch["image_idx"]).to(decoded.device)
        loss_d = F.mse_loss(decoded, target)
        metrics["rgb_psnr"] = -10 * torch.log10(loss_d.detach())
        return outputs, {"loss_d": self.config.loss_d_weight * loss_d}, metrics

    def get_training_callbacks(self, training_callback_attributes):
        callbacks = super().get_training_callbacks(training_callback_attributes)
        optimizers = training_callback_attributes.optimizers

        def reset_optimizers(step: int):
            for name, params in self.get_param_groups().items():
                if name != "decoder" and not self.config.reset_optimizers_at_stage_2:
                    continue
                group_config = optimizers.config[name]
                optimizers.optimizers[name] = group_config["optimizer"].setup(params=params)
                if group_config["scheduler"]:
                    optimizers.schedulers[name] = (
                        group_config["scheduler"]
                        .setup()
                        .get_scheduler(optimizer=optimizers.optimizers[name], lr_init=group_config["optimizer"].lr)
                    )

        at_stage_2 = TrainingCallback(
            where_to_run=[TrainingCallbackLocation.BEFORE_TRAIN_ITERATION],
            func=reset_optimizers,
            iters=(self.config.latent_steps,),
        )
        return callbacks + [at_stage_2]
