"""Snakemake: real test images and eval views, each AE's reconstruction D(E(x)) (rule figure_ae_reconstruction)."""

from pathlib import Path

from igae.report.figures import ae_reconstruction_figure
from igae.runtime import logged_job, resolve_device
from igae.scenes.dataset_io import load_scene

with logged_job(snakemake.log[0], snakemake.threads) as log:  # noqa: F821 (injected by Snakemake)
    real = sorted((Path(snakemake.input.real) / "test").glob("*.png"))[:3]  # noqa: F821
    scene = load_scene(snakemake.params.scene)  # noqa: F821
    views = [scene.file_paths[index] for index in scene.eval_indices[:2]]
    images = [(f"real {path.stem}", path) for path in real]
    images += [(f"{scene.folder.name} {Path(view).stem}", scene.folder / view) for view in views]
    autoencoders = [(Path(folder).name, folder) for folder in snakemake.input.autoencoders]  # noqa: F821
    device = resolve_device(snakemake.config["device"])  # noqa: F821
    ae_reconstruction_figure(autoencoders, images, snakemake.output[0], device=device)  # noqa: F821
    log(f"images {[str(path) for _, path in images]}, autoencoders {[name for name, _ in autoencoders]}")
