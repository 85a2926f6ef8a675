"""From run folders to the paper's tables and figures."""


rule tables:
    """Long-format CSVs: AE reconstruction (Tab. 1), latent NVS (Tab. 2), timing (Tab. 5), ablation."""
    input:
        ae_eval=expand("results/ae_eval/{ae}.json", ae=list(AUTOENCODERS)),
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
    output:
        ae=report("results/tables/ae_reconstruction.csv", category="Tables"),
        nvs=report("results/tables/latent_nvs.csv", category="Tables"),
        timing=report("results/tables/timing.csv", category="Tables"),
        ablation=report("results/tables/ablation.csv", category="Tables"),
    params:
        skipped=SKIPPED_METHODS,
        ablation={"main": BENCH["autoencoders"], "variants": ABLATION_AES},
    log:
        "logs/tables.log",
    script:
        "../scripts/tables.py"


rule figure_qualitative:
    """GT / RGB NeRF / latent NeRF per AE, on the same eval views of the first benchmark scene."""
    input:
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
        datasets=expand("resources/scenes/{dataset}", dataset=BENCH["datasets"]),
    output:
        report("results/figures/qualitative.png", category="Figures"),
    log:
        "logs/figure_qualitative.log",
    script:
        "../scripts/figure_qualitative.py"


rule claims:
    """Each claim of the paper per method: 95 % paired bootstrap interval over (dataset, scene, seed), verdict."""
    input:
        nvs="results/tables/latent_nvs.csv",
        timing="results/tables/timing.csv",
    output:
        table=report("results/tables/claims.csv", category="Claims"),
        figure=report("results/figures/claims.png", category="Claims"),
    params:
        roles=CLAIM_ROLES,
    log:
        "logs/claims.log",
    script:
        "../scripts/claims.py"


rule figure_convergence:
    """Eval PSNR against training seconds, per method: latent runs (one colour per AE) beside RGB runs."""
    input:
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
    output:
        report("results/figures/convergence.png", category="Figures"),
    log:
        "logs/figure_convergence.log",
    script:
        "../scripts/figure_convergence.py"


rule figure_ae_reconstruction:
    """Real test images and eval views of the first benchmark scene, with each AE's reconstruction (Fig. 9)."""
    input:
        autoencoders=expand("results/autoencoders/{ae}", ae=list(AUTOENCODERS)),
        real=REAL,
        dataset=f"resources/scenes/{bench_scenes()[0][0]}",
    output:
        report("results/figures/ae_reconstruction.png", category="Figures"),
    params:
        scene="resources/scenes/{}/{}".format(*bench_scenes()[0]),
        device=config["device"],
    log:
        "logs/figure_ae_reconstruction.log",
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../scripts/figure_ae_reconstruction.py"


rule summary:
    """The results section of the README, generated from the tables (igae summary): never copied by hand."""
    input:
        tables=[path for path in final_outputs() if path.startswith("results/tables/")],
        figures=[path for path in final_outputs() if path.startswith("results/figures/")],
    output:
        report("results/summary.md", category="Summary"),
    params:
        tables="results/tables",
    log:
        "logs/summary.log",
    script:
        "../scripts/summary.py"
