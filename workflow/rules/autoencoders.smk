"""Autoencoders (pretrained, trained here, IG-AE), their reconstruction quality, and the encoded latents."""

REAL = f"resources/real/{config['real_images']['source']}"


def prepare_inputs(wc):
    """A shipped checkpoint is an input (replacing it re-runs the rule); training needs the real images."""
    spec = AUTOENCODERS[wc.ae]
    if spec["kind"] != "trained":
        return {}
    if spec.get("checkpoint") and config["use_shipped_checkpoints"]:
        return {"checkpoint": spec["checkpoint"]}
    return {"real": REAL}


def prepare_threads(wc):
    """Training runs first in the DAG, with nothing to share the cores with; copying or loading needs one."""
    return max(1, workflow.cores or 1) if "real" in prepare_inputs(wc) else 1


rule prepare_autoencoder:
    """Load a pretrained AE (hub id or folder), copy a shipped checkpoint, or train a standard AE on real images."""
    input:
        unpack(prepare_inputs),
    output:
        directory("results/autoencoders/{ae}"),
    wildcard_constraints:
        ae=alternatives(PLAIN_NAMES),
    params:
        spec=lambda wc: spec_json(wc.ae),
        use_shipped=config["use_shipped_checkpoints"],
        device=config["device"],
    log:
        "logs/prepare_autoencoder/{ae}.log",
    benchmark:
        "benchmarks/prepare_autoencoder/{ae}.tsv"
    priority: 10  # on the critical path: the IG-AE starts from it
    threads: prepare_threads
    resources:
        runtime=240,  # minutes, for cluster executors
        mem_mb=4000,
        gpu_share=lambda wc: gpu_share("prepare_autoencoder") if "real" in prepare_inputs(wc) else 0,  # nerf.smk
    script:
        "../scripts/prepare_autoencoder.py"


rule train_igae:
    """Fine-tune the base AE jointly with latent Tri-Planes of the synthetic scenes (warm-up, then joint phase)."""
    input:
        base=lambda wc: f"results/autoencoders/{AUTOENCODERS[wc.ae]['base']}",
        scenes=lambda wc: f"resources/scenes/{AUTOENCODERS[wc.ae]['scenes']}",
        real=REAL,
    output:
        directory("results/autoencoders/{ae}"),
    wildcard_constraints:
        ae=alternatives(IGAE_NAMES),
    params:
        spec=lambda wc: spec_json(wc.ae),
        device=config["device"],
    log:
        "logs/train_igae/{ae}.log",
    benchmark:
        "benchmarks/train_igae/{ae}.tsv"
    priority: 10  # the longest job: start it as soon as it can run
    threads: 1  # with 2 cores, the standard AE's NeRFs run beside it
    resources:
        runtime=2880,  # minutes, for cluster executors
        mem_mb=8000,
        gpu_share=lambda wc: gpu_share("train_igae"),  # GPU_SHARE in nerf.smk
    script:
        "../scripts/train_igae.py"


rule evaluate_autoencoder:
    """Reconstruction quality D(E(x)) on the benchmark scenes' views (synthetic) and the real test images."""
    input:
        ae="results/autoencoders/{ae}",
        scenes=expand("resources/scenes/{dataset}", dataset=BENCH["datasets"]),
        real=REAL,
    output:
        "results/ae_eval/{ae}.json",
    params:
        device=config["device"],
    log:
        "logs/evaluate_autoencoder/{ae}.log",
    threads: 1
    resources:
        runtime=60,  # minutes, for cluster executors
        mem_mb=4000,
        gpu_share=lambda wc: gpu_share("evaluate_autoencoder"),  # GPU_SHARE in nerf.smk
    script:
        "../scripts/evaluate_autoencoder.py"


rule encode_latents:
    """Encode every frame of one scene once per AE; shared by every method fitted on it."""
    input:
        ae="results/autoencoders/{ae}",
        dataset="resources/scenes/{dataset}",
    output:
        "results/latents/{ae}/{dataset}/{scene}.safetensors",
    params:
        device=config["device"],
    log:
        "logs/encode_latents/{ae}/{dataset}/{scene}.log",
    threads: 1
    resources:
        runtime=30,  # minutes, for cluster executors
        mem_mb=2000,
        gpu_share=lambda wc: gpu_share("encode_latents"),  # GPU_SHARE in nerf.smk
    script:
        "../scripts/encode_latents.py"
