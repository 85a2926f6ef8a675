"""``igae``: each stage of the benchmark as a command that runs alone (the workflow's rules call the same functions).

igae scenes --family photo --count 2 --out resources/scenes/heldout
igae real-images --out resources/real/skimage
igae encode --autoencoder results/autoencoders/igae --scene resources/scenes/heldout/photo_000 --out z.safetensors
igae fit --space latent --method tensorf --scene <scene> --autoencoder <ae> --latents <z> --out <run>
igae score results/runs/latent/igae/tensorf/heldout/photo_000/seed1234
igae view results/runs/latent/igae/tensorf/heldout/photo_000/seed1234
igae tables --config config.yaml
igae summary --tables results/tables --out results/summary.md --readme docs/results.md --headline README.md
igae check-config config.yaml
igae store results/autoencoders/igae assets/autoencoders/igae
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from igae import layout
from igae.nerf.registry import METHODS


def _scenes(args):
    from igae.scenes.procedural import build_procedural_dataset

    folders = build_procedural_dataset(
        args.out, args.family, args.count, args.views, args.image_size, args.eval_fraction, args.seed
    )
    print("\n".join(map(str, folders)))


def _mesh_scenes(args):
    from igae.scenes.mesh import MeshSceneConfig, build_mesh_dataset, mesh_files

    files = [Path(f) for f in args.meshes]
    files = [file for path in files for file in (mesh_files(path) if path.is_dir() else [path])]
    config = MeshSceneConfig(
        views=args.views,
        image_size=args.image_size,
        eval_fraction=args.eval_fraction,
        up_axis=args.up_axis,
        shading=args.shading,
    )
    for folder in build_mesh_dataset(args.out, files, config, args.seed):
        print(folder)


def _store(args):
    from igae.ae.autoencoder import store_autoencoder

    card = store_autoencoder(args.source, args.out, args.image_size, args.storage)
    print(f"{args.out}: {card.name} stored as {args.storage}, sha256 {card.sha256}")


def _real_images(args):
    from igae.scenes.real_images import build_real_images

    build_real_images(args.out, image_size=args.image_size, seed=args.seed)


def _encode(args):
    from igae.ae.autoencoder import load_with_card
    from igae.ae.latents import encode_scene
    from igae.runtime import resolve_device

    device = resolve_device(args.device)
    ae, card = load_with_card(args.autoencoder, device)
    encode_scene(ae, card, args.scene, args.out, device=device)


def _fit(args):
    from igae.nerf.fit import fit
    from igae.nerf.method_configs import TwoStageSchedule
    from igae.runtime import resolve_device

    schedule = TwoStageSchedule(**json.loads(args.schedule))
    fit(
        args.space,
        args.method,
        Path(args.scene),
        Path(args.out),
        schedule,
        autoencoder=args.autoencoder,
        latents=args.latents,
        model_overrides=json.loads(args.model),
        seed=args.seed,
        device=resolve_device(args.device),
        labels={
            "dataset": Path(args.scene).parent.name,
            "scene": Path(args.scene).name,
            "autoencoder": Path(args.autoencoder).name if args.autoencoder else None,
        },
        curve=not args.no_curve,
    )


def _score(args):
    from igae.nerf.scoring import score_run

    if args.scene and len(args.runs) > 1:
        raise ValueError("--scene names the scene of one run; score runs of other scenes one at a time")
    for run in map(Path, args.runs):
        try:
            old = json.loads((run / "metrics.json").read_text())["mean"]["psnr"]
        except (OSError, ValueError, KeyError, TypeError):
            old = None  # score_run says what is wrong with the file
        new = score_run(run, scene=args.scene)["mean"]["psnr"]
        print(f"{run}: PSNR {new:.4f} dB" + (f" (was {old:.4f})" if isinstance(old, float) else ""))


def _view(args):
    from igae.nerf.view_run import view

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    view(args.run_folder, host=args.host, port=args.port, max_res=args.max_res)


def _tables(args):
    from igae.config import cuda_available, load_config, table_inputs
    from igae.report.tables import write_tables

    config = load_config(args.config)
    inputs = table_inputs(config, cuda_available(config["device"]))  # the rule's inputs and params
    root = Path(args.directory)
    for name, path in write_tables(**inputs.arguments(root), out_dir=root / layout.TABLES).items():
        print(f"{name}: {path}")


def _summary(args):
    from igae.files import atomic_write_text
    from igae.report.summary import headline_markdown, results_markdown, this_machine, update_readme

    run = {**this_machine(), "wall_seconds": args.wall_seconds, "config": args.config}
    if args.machine:
        run["machine"] = args.machine
    markdown = results_markdown(args.tables, run)
    if args.out:
        print(f"summary: {atomic_write_text(args.out, markdown)}")
    if args.readme:
        print(f"{args.readme}: {'updated' if update_readme(args.readme, markdown) else 'unchanged'}")
    if args.headline:
        changed = update_readme(args.headline, headline_markdown(args.tables, run), block="headline")
        print(f"{args.headline}: {'updated' if changed else 'unchanged'}")
    if not args.out and not args.readme and not args.headline:
        print(markdown, end="")


def _check_config(args):
    from igae.config import load_config

    load_config(args.config)
    print(f"{args.config}: valid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="igae", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    scenes = commands.add_parser("scenes", help="render a procedural scene dataset")
    scenes.add_argument("--family", choices=("primitives", "photo"), required=True)
    scenes.add_argument("--count", type=int, required=True)
    scenes.add_argument("--views", type=int, default=24)
    scenes.add_argument("--image-size", type=int, default=128)
    scenes.add_argument("--eval-fraction", type=float, default=0.125)
    scenes.add_argument("--seed", type=int, default=0)
    scenes.add_argument("--out", required=True)
    scenes.set_defaults(run=_scenes)

    meshes = commands.add_parser("mesh-scenes", help="render mesh files (or folders of them) into scene folders")
    meshes.add_argument("meshes", nargs="+", help="OBJ/GLB/GLTF/PLY/OFF/STL files, or folders of them")
    meshes.add_argument("--out", required=True)
    meshes.add_argument("--views", type=int, default=24)
    meshes.add_argument("--image-size", type=int, default=128)
    meshes.add_argument("--eval-fraction", type=float, default=0.125)
    meshes.add_argument("--up-axis", choices=("y", "z"), default="y")
    meshes.add_argument("--shading", choices=("lit", "unlit"), default="lit")
    meshes.add_argument("--seed", type=int, default=0)
    meshes.set_defaults(run=_mesh_scenes)

    store = commands.add_parser(
        "store", help="copy an autoencoder folder with its weights stored as float16 (how checkpoints are shipped)"
    )
    store.add_argument("source", help="autoencoder folder (results/autoencoders/<ae>)")
    store.add_argument("out", help="folder to write (assets/autoencoders/<ae>)")
    store.add_argument("--storage", default="float16", choices=["float16", "float32"])
    store.add_argument("--image-size", type=int, default=128, help="image size its latent background is taken at")
    store.set_defaults(run=_store)
    real = commands.add_parser("real-images", help="crops of scikit-image's photographs, split by photo")
    real.add_argument("--out", required=True)
    real.add_argument("--image-size", type=int, default=128)
    real.add_argument("--seed", type=int, default=0)
    real.set_defaults(run=_real_images)

    encode = commands.add_parser("encode", help="encode every frame of a scene with an autoencoder folder")
    encode.add_argument("--autoencoder", required=True)
    encode.add_argument("--scene", required=True)
    encode.add_argument("--out", required=True)
    encode.add_argument("--device", default="auto")
    encode.set_defaults(run=_encode)

    fit = commands.add_parser("fit", help="fit and evaluate one NeRF, latent or RGB")
    fit.add_argument("--space", choices=("latent", "rgb"), required=True)
    fit.add_argument("--method", default="tensorf", choices=list(METHODS))
    fit.add_argument("--scene", required=True)
    fit.add_argument("--out", required=True)
    fit.add_argument("--autoencoder", help="latent space: an autoencoder folder")
    fit.add_argument("--latents", help="latent space: the scene's latents file (igae encode)")
    fit.add_argument("--schedule", default="{}", help='JSON of TwoStageSchedule fields, e.g. {"latent_steps": 300}')
    fit.add_argument("--model", default="{}", help="JSON of model config overrides")
    fit.add_argument("--seed", type=int, default=1234)
    fit.add_argument("--device", default="auto")
    fit.add_argument(
        "--no-curve", action="store_true", help="measure no convergence curve (an adaptive schedule then runs its cap)"
    )
    fit.set_defaults(run=_fit)

    score = commands.add_parser(
        "score", help="re-score run folders from their saved renders; rewrites each metrics.json in place"
    )
    score.add_argument("runs", nargs="+", help="run folders written by igae fit (results/runs/...)")
    score.add_argument("--scene", help="the scene folder, when it is no longer where the run recorded it")
    score.set_defaults(run=_score)

    view = commands.add_parser(
        "view", help="open nerfstudio's viewer on a run folder (latent runs decoded); prints its URL"
    )
    view.add_argument(
        "run_folder",
        metavar="run",
        help="a run folder written by igae fit (results/runs/...), or its nerfstudio config.yml",
    )
    view.add_argument("--host", default="127.0.0.1", help="address to serve on (default: %(default)s; 0.0.0.0: all)")
    view.add_argument("--port", type=int, help="port to serve on (default: the first free one from 7007)")
    view.add_argument(
        "--max-res",
        type=int,
        help="the viewer's Max res at start, pixels (default: latent runs 256 on a CPU, 512 on a GPU; RGB runs 512)",
    )
    view.add_argument(
        "--threads", type=int, help="torch's CPU threads (default: torch's; 1 is faster on a CPU busy with other jobs)"
    )
    view.set_defaults(run=_view)

    tables = commands.add_parser(
        "tables", help="write results/tables/*.csv from the result files a config names, as the workflow's rule does"
    )
    tables.add_argument("--config", default="config.yaml", help="the config file the run used")
    tables.add_argument(
        "--directory", "-d", default=".", help="the run's working directory (snakemake -d), holding results/"
    )
    tables.set_defaults(run=_tables)

    summary = commands.add_parser("summary", help="the README's results section, from results/tables/*.csv")
    summary.add_argument("--tables", default=layout.TABLES, help="the folder of the CSV tables (default: %(default)s)")
    summary.add_argument("--out", help="write the Markdown here (default: print it, unless --readme)")
    summary.add_argument("--readme", help="replace the section between its results:begin/end marker lines")
    summary.add_argument("--headline", help="replace the claims between its headline:begin/end marker lines")
    summary.add_argument("--wall-seconds", type=float, help="the run's wall time, stated in the summary")
    summary.add_argument("--config", help="the config file the run used, stated in the summary")
    summary.add_argument("--machine", help="the machine the run used (default: this one)")
    summary.set_defaults(run=_summary)

    check = commands.add_parser("check-config", help="validate a config file (schema and cross-references)")
    check.add_argument("config")
    check.set_defaults(run=_check_config)

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        message = str(error)
        print(message if message.startswith("igae: ") else f"igae: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
