"""The metric protocol (PSNR, SSIM, LPIPS availability), perceptual losses, and timing helpers."""

import time
import urllib.request

import numpy as np
import pytest
import skimage.data
import skimage.transform
import torch
import torchvision
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import structural_similarity_index_measure

from igae import metrics
from igae.metrics import (
    ALEXNET_WEIGHTS_FILE,
    DEFAULT_PROTOCOL,
    build_perceptual_loss,
    image_metrics,
    latent_metrics,
    lpips_status,
    psnr,
    ssim,
    summarize,
)
from igae.timing import IterationTimer, median_time_ms, peak_memory_mb


def photo(name: str, height: int = 48, width: int = 64) -> torch.Tensor:
    """A real photograph shipped with scikit-image, resized: (H, W, 3) float32 in [0, 1]."""
    image = skimage.transform.resize(getattr(skimage.data, name)(), (height, width), anti_aliasing=True)
    return torch.from_numpy(image.astype(np.float32))


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """torch.hub points at an empty folder and every download path raises: any download attempt fails the test."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def no_download(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args[:1]}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(urllib.request, "urlopen", no_download)
    metrics._cached_lpips_alex.cache_clear()
    return tmp_path / "hub"


def test_psnr_of_a_constant_offset_of_0_1_is_20_db():
    target = photo("astronaut").double() * 0.8
    assert psnr(target + 0.1, target).item() == pytest.approx(20.0, abs=1e-9)


def test_ssim_of_an_image_with_itself_is_one():
    image = photo("chelsea")
    assert ssim(image, image).item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("second", ["noisy", "chelsea"])
def test_ssim_matches_skimage_gaussian_ssim(second):
    first = photo("astronaut")
    noise = torch.from_numpy(np.random.default_rng(0).normal(0.0, 0.08, first.shape).astype(np.float32))
    other = (first + noise).clamp(0, 1) if second == "noisy" else photo(second)
    expected = structural_similarity(
        first.double().numpy(),
        other.double().numpy(),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1,
        channel_axis=-1,
    )
    assert ssim(first, other).item() == pytest.approx(expected, abs=1e-4)


def test_ssim_matches_torchmetrics_ssim_map_on_the_valid_region():
    # torchmetrics >= 1.5 (PR #2721) also averages the reflect-padded 5-pixel border; its map inside equals ours.
    first, other = photo("astronaut"), photo("coffee")
    to_nchw = lambda image: image.double().permute(2, 0, 1)[None]  # noqa: E731
    _, ssim_map = structural_similarity_index_measure(
        to_nchw(first), to_nchw(other), data_range=1.0, return_full_image=True
    )
    assert ssim(first, other).item() == pytest.approx(ssim_map[..., 5:-5, 5:-5].mean().item(), abs=1e-4)


def test_lpips_is_unavailable_without_alexnet_weights_and_reported_as_none(offline_hub):
    available, reason = lpips_status()
    assert not available
    assert ALEXNET_WEIGHTS_FILE in reason and str(offline_hub) in reason
    result = image_metrics(photo("astronaut"), photo("chelsea"))
    assert result["lpips"] is None and result["psnr"] > 0


def test_a_file_that_is_not_torchvisions_alexnet_does_not_enable_lpips(offline_hub):
    checkpoints = offline_hub / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / ALEXNET_WEIGHTS_FILE).write_bytes(b"not the weights")
    available, reason = lpips_status()
    assert not available and "sha256" in reason


def test_lpips_backbone_is_loaded_from_the_local_alexnet_file(tmp_path, offline_hub):
    torch.manual_seed(0)
    features = torchvision.models.alexnet().features  # stand-in weights: this checks the loading, not the values
    weights = tmp_path / "alexnet.pth"
    torch.save({f"features.{key}": value for key, value in features.state_dict().items()}, weights)
    model = metrics._load_lpips_alex(weights, "cpu")
    assert torch.equal(model.net.slice2[1].weight, features[3].weight)  # features.3 = second conv
    assert not any(parameter.requires_grad for parameter in model.parameters())


def test_build_lpips_loss_without_weights_names_the_missing_file(offline_hub):
    with pytest.raises(FileNotFoundError, match=ALEXNET_WEIGHTS_FILE):
        build_perceptual_loss("lpips-alex", "cpu")


@pytest.fixture(scope="module")
def stlpips_loss():
    return build_perceptual_loss("stlpips-alex", "cpu")


def test_auto_perceptual_loss_falls_back_to_stlpips_and_says_it_is_not_lpips(offline_hub):
    loss = build_perceptual_loss("auto", "cpu")
    assert loss.label.startswith("stlpips-alex") and "not LPIPS" in loss.label


def test_stlpips_loss_is_zero_for_identical_images_and_positive_otherwise(stlpips_loss):
    first = photo("astronaut", 32, 32).permute(2, 0, 1)[None] * 2 - 1  # (1, 3, 32, 32) in [-1, 1]
    other = photo("chelsea", 32, 32).permute(2, 0, 1)[None] * 2 - 1
    assert stlpips_loss(first, first).item() == pytest.approx(0.0, abs=1e-6)
    assert stlpips_loss(first, other).item() > 0.01


def test_stlpips_loss_is_frozen_and_passes_gradients_to_its_input(stlpips_loss):
    target = photo("astronaut", 32, 32).permute(2, 0, 1)[None] * 2 - 1
    pred = (target + 0.1).clone().requires_grad_(True)
    stlpips_loss(pred, target).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert not any(parameter.requires_grad for parameter in stlpips_loss.network.parameters())


def test_latent_metrics_work_on_any_channel_count_and_skip_ssim_below_the_window():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(2, 16, 16, 4, generator=generator, dtype=torch.float64) * 0.9  # (B, H/8, W/8, C) latents
    assert latent_metrics(target + 0.1, target)["psnr"] == pytest.approx(20.0, abs=1e-9)
    assert latent_metrics(target[:, :8, :8], target[:, :8, :8])["ssim"] is None


def test_summarize_ignores_missing_values_but_reports_no_partial_lpips_mean():
    rows = [
        {"view": "a", "psnr": 20.0, "ssim": 0.5, "lpips": 0.1},
        {"view": "b", "psnr": 30.0, "ssim": None, "lpips": None},
    ]
    summary = summarize(rows)
    assert summary["psnr"] == 25.0 and summary["psnr_std"] == 5.0
    assert summary["ssim"] == 0.5 and summary["lpips"] is None


def test_protocol_records_the_pinned_choices():
    recorded = DEFAULT_PROTOCOL.as_dict()
    assert recorded["name"] == "igae-v1" and recorded["lpips_net"] == "alex" and recorded["ssim_window"] == 11


def test_iteration_timer_sums_iterations_per_stage():
    timer = IterationTimer("cpu")
    for stage in ("latent", "latent", "align"):
        with timer.iteration(stage):
            time.sleep(0.02)
    assert timer.iterations == 3 and timer.stage_iterations == {"latent": 2, "align": 1}
    assert 0.06 <= timer.total_seconds < 0.5 and timer.stage_seconds["latent"] >= 0.04


def test_median_time_ms_measures_the_call_and_peak_memory_is_reported_on_cpu():
    assert 15.0 <= median_time_ms(lambda: time.sleep(0.02), warmup=1, repeats=3, device="cpu") < 200.0
    assert peak_memory_mb("cpu") > 10.0
