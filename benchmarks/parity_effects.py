"""The effect of each `parity: official` switch on the tiny configuration (tests/data/tiny_config.yaml), one at a time.

    .venv/bin/python benchmarks/parity_effects.py [--out /tmp/parity_effects]

Builds the tiny config's data (2 synthetic scenes of 6 views, 1 held-out scene, skimage crops) and trains its standard
AE once, then:
- IG-AE switches: trains the tiny IG-AE (3 warm-up + 3 joint steps) with one switch on, and reads the IG-AE's own
  curves at the end (held-out latent / decoded PSNR of the Tri-Planes, real test-image reconstruction PSNR);
- latent-NeRF switches: fits latent TensoRF (3 + 1 steps) on the held-out scene with the paper IG-AE and one switch on;
- `parity: official` as a whole: the IG-AE job and the fit with every switch on.
Prints one row per switch: its metrics and the difference to `parity: paper` (dB). One thread (torch.set_num_threads).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/parity_effects"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    from igae.ae.autoencoder import load_with_card
    from igae.ae.igae_training import IGAECurveData, SceneViews, train_igae
    from igae.ae.kinds.igae import scene_split, train_igae_job
    from igae.ae.kinds.registry import autoencoder_entry, build_autoencoder
    from igae.ae.latents import encode_scene
    from igae.ae.training_configs import IGAEParity, epochs_to_steps, igae_training_config
    from igae.nerf import method_configs
    from igae.nerf.fit import fit
    from igae.nerf.method_configs import TwoStageSchedule
    from igae.scenes.dataset_io import load_scene, scene_folders
    from igae.scenes.procedural import build_procedural_dataset
    from igae.scenes.real_images import build_real_images, load_real_images

    config = yaml.safe_load((REPO / "tests/data/tiny_config.yaml").read_text())
    out, size = args.out, config["image_size"]
    shutil.rmtree(out, ignore_errors=True)
    synthetic, heldout = config["scenes"]["synthetic"], config["scenes"]["heldout"]
    for name, spec in (("synthetic", synthetic), ("heldout", heldout)):
        build_procedural_dataset(
            out / "scenes" / name, spec["family"], spec["count"], views=spec["views"], image_size=size,
            eval_fraction=spec["eval_fraction"], seed=spec["seed"],
        )  # fmt: skip
    build_real_images(out / "real", image_size=size, seed=config["real_images"]["seed"])
    standard = {"name": "standard", **config["autoencoders"]["standard"], "image_size": size}
    build_autoencoder(standard, {"real": out / "real"}, out / "ae" / "standard", log=lambda _: None)
    igae_spec = autoencoder_entry({"name": "igae", **config["autoencoders"]["igae"], "image_size": size})
    folders = {
        "base_dir": out / "ae" / "standard",
        "scenes_dir": out / "scenes" / "synthetic",
        "real_dir": out / "real",
    }
    rows = []

    # --- IG-AE switches, one at a time (train_igae directly; the job's data preparation) ---
    base_ae_dir = out / "ae" / "standard"
    scene_data = [load_scene(folder) for folder in scene_folders(folders["scenes_dir"])]
    real = load_real_images(out / "real", "train", uint8=True)
    real_test = load_real_images(out / "real", "test", uint8=True)

    def igae_metrics(config_changes: dict, parity: IGAEParity, split: str = "paper") -> dict:
        splits = [scene_split(data, split, synthetic["eval_fraction"]) for data in scene_data]
        scenes = [
            SceneViews.from_scene_data(data, train, uint8=True)
            for data, (train, _) in zip(scene_data, splits, strict=True)
        ]
        held = [
            SceneViews.from_scene_data(data, ev, uint8=True) for data, (_, ev) in zip(scene_data, splits, strict=True)
        ]
        train_views = sum(len(scene.images) for scene in scenes)
        training = igae_spec.training
        cfg, _ = igae_training_config(epochs_to_steps(training, train_views), "cpu")
        cfg = replace(cfg, curve_points=1, **config_changes)
        ae, card = load_with_card(base_ae_dir)
        result = train_igae(
            ae, card.normalizer, scenes, real, cfg, log=lambda _: None,
            curve_data=IGAECurveData(heldout=held, real=real_test), parity=parity,
        )  # fmt: skip
        last = result.curves[-1]
        return {key: last[key] for key in ("latent_psnr_heldout", "decoded_psnr_heldout", "ae_psnr_real")}

    igae_switches = {
        "paper (reference)": ({}, IGAEParity(), "paper"),
        "Tri-Planes frozen in the joint phase": ({"parity_freeze_triplanes_in_joint": True}, IGAEParity(), "paper"),
        "warm-up latents encoded every step": ({"cache_warmup_latents": False}, IGAEParity(), "paper"),
        "plane axes xy-xz-zx": ({}, IGAEParity(plane_axes="xy-xz-zx"), "paper"),
        "quant convs frozen": ({}, IGAEParity(train_quant_convs=False), "paper"),
        "real images in a fixed order": ({}, IGAEParity(reshuffle_real_images=False), "paper"),
        "IG-AE split floor (5 of 6 views train)": ({}, IGAEParity(), "official"),
    }
    reference = None
    for name, (changes, parity, split) in igae_switches.items():
        started = time.perf_counter()
        metrics = igae_metrics(changes, parity, split)
        reference = reference or metrics
        rows.append(("IG-AE", name, metrics, reference, time.perf_counter() - started))
        print(f"{name}: {metrics}", flush=True)

    # --- latent NeRF switches, one at a time, with the paper IG-AE ---
    train_igae_job(igae_spec, **folders, out_dir=out / "ae" / "igae", log=lambda _: None)
    train_igae_job(
        igae_spec, **folders, out_dir=out / "ae" / "igae_official", log=lambda _: None, parity="official",
        scene_eval_fraction=synthetic["eval_fraction"],
    )  # fmt: skip
    base_background = json.loads((base_ae_dir / "card.json").read_text())["latent_background"]
    shutil.copytree(out / "ae" / "igae", out / "ae" / "igae_base_background")
    card_path = out / "ae" / "igae_base_background" / "card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "latent_background": base_background}))
    scene = scene_folders(out / "scenes" / "heldout")[0]
    schedule = TwoStageSchedule(**config["benchmark"]["schedule"])
    schedule = replace(schedule, **config["benchmark"]["schedule_overrides"]["tensorf"])
    model = config["benchmark"]["model"]["tensorf"]
    official_pipeline = dict(method_configs.OFFICIAL_PIPELINE)

    def nerf_metrics(name: str, ae: str, sample: bool = False, pipeline: dict | None = None) -> dict:
        ae_dir = out / "ae" / ae
        latents = out / "latents" / f"{name}.safetensors"
        encode_scene(*load_with_card(ae_dir), scene, latents, sample=sample)
        method_configs.OFFICIAL_PIPELINE = pipeline or {}  # one switch at a time (the module's table)
        result = fit(
            "latent", "tensorf", scene, out / "runs" / name, schedule, autoencoder=ae_dir, latents=latents,
            model_overrides=model, seed=config["benchmark"]["seeds"][0], log=lambda _: None, curve=False,
            parity="official" if pipeline else "paper",
        )  # fmt: skip
        method_configs.OFFICIAL_PIPELINE = official_pipeline
        latent = result.get("latent_mean") or {}
        latent_psnr = next((value for key, value in latent.items() if key.endswith("psnr")), float("nan"))
        return {"psnr": result["mean"]["psnr"], "latent_psnr": latent_psnr}

    nerf_switches = {
        "paper (reference)": ("igae", False, None),
        "NeRF targets: one posterior sample per view": ("igae", True, None),
        "IG-AE latent background = the base AE's": ("igae_base_background", False, None),
        "stage 2 without post_quant_conv": ("igae", False, {"train_post_quant_conv": False}),
        "no clamp before the alignment loss": ("igae", False, {"clamp_alignment": False}),
        "normaliser eps 1e-6": ("igae", False, {"normalizer_eps": 1e-6}),
        "parity: official, all switches (IG-AE job and fit)": ("igae_official", True, official_pipeline),
    }
    reference = None
    for index, (name, (ae, sample, pipeline)) in enumerate(nerf_switches.items()):
        started = time.perf_counter()
        metrics = nerf_metrics(f"run{index}", ae, sample, pipeline)
        reference = reference or metrics
        rows.append(("latent NeRF", name, metrics, reference, time.perf_counter() - started))
        print(f"{name}: {metrics}", flush=True)

    print("\n| stage | switch | metrics (dB) | difference to paper (dB) | seconds |")
    print("|---|---|---|---|---|")
    for stage, name, metrics, ref, seconds in rows:
        values = ", ".join(f"{key} {value:.3f}" for key, value in metrics.items())
        deltas = ", ".join(f"{key} {metrics[key] - ref[key]:+.3f}" for key in metrics)
        print(f"| {stage} | {name} | {values} | {deltas} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
