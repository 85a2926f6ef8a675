"""Snakemake: GT / RGB NeRF / latent NeRF per AE on the same eval views (rule figure_qualitative)."""

import json
from pathlib import Path

from igae import layout
from igae.report.figures import qualitative_figure
from igae.runtime import logged_job

config = snakemake.config  # noqa: F821 (injected by Snakemake)
bench = config["benchmark"]
with logged_job(snakemake.log[0]) as log:  # noqa: F821
    rgb_run = Path(snakemake.input.rgb_runs[0])  # noqa: F821
    method, dataset, scene, seed = rgb_run.parts[-4:]  # layout.rgb_run: .../{method}/{dataset}/{scene}/seed{seed}
    seed = int(seed.removeprefix("seed"))
    columns = [(f"RGB {method}", rgb_run)] + [
        (f"latent {method}, AE {ae}", Path(layout.latent_run(ae, method, dataset, scene, seed)))
        for ae in bench["autoencoders"]
    ]
    views = [row["view"] for row in json.loads((rgb_run / "metrics.json").read_text())["per_image"]][:3]
    qualitative_figure(Path(layout.scene_dataset(dataset)) / scene, columns, views, snakemake.output[0])  # noqa: F821
    log(f"figure of {dataset}/{scene}, views {views}")
