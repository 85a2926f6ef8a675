"""Scenes (nerfstudio-format datasets) and the real-image set."""


rule scene_dataset:
    """Write every scene of one dataset from its source (igae/scenes/sources/registry.py: procedural, mesh, srn, shapenet,
    igae-data, nerfstudio, blender), each read back and checked."""
    output:
        directory("resources/scenes/{dataset}"),
    params:
        spec=lambda wc: config["scenes"][wc.dataset],
        image_size=config["image_size"],
        downloads=config["downloads"],  # the schema's default: resources/downloads
    log:
        "logs/scene_dataset/{dataset}.log",
    benchmark:
        "logs/benchmarks/scene_dataset/{dataset}.tsv"
    priority: 10
    threads: 1
    resources:
        runtime=240,  # minutes, for cluster executors (igae-data as one archive: 42.7 GB, 71 min at 10 MB/s)
        mem_mb=2000,
    script:
        "../scripts/scene_dataset.py"


rule real_images:
    """Square crops of real photographs, split by photo (stands in for ImageNet)."""
    output:
        directory("resources/real/{source}"),
    params:
        spec=config["real_images"],
        image_size=config["image_size"],
        downloads=config["downloads"],  # the schema's default: resources/downloads
    log:
        "logs/real_images/{source}.log",
    benchmark:
        "logs/benchmarks/real_images/{source}.tsv"
    priority: 10
    threads: 1
    resources:
        runtime=240,  # minutes, for cluster executors (igae-data: 45,000 downloads)
        mem_mb=8000,
    script:
        "../scripts/real_images.py"
