"""From run folders to the paper's tables and figures."""

# Light rules (CSV and PNG files from the tables and run folders) run where Snakemake runs, never as cluster jobs.
localrules:
    tables,
    figure_qualitative,
    claims,
    figure_convergence,
    figure_igae_training,
    summary,
    results_page,


rule tables:
    """Long-format CSVs: AE reconstruction (Tab. 1), latent NVS (Tab. 2), timing (Tab. 5), ablation."""
    input:  # common.smk: TABLE_INPUTS, as `igae tables --config` reads them
        ae_eval=TABLE_INPUTS["ae_eval_files"],
        latent_runs=TABLE_INPUTS["latent_run_dirs"],
        rgb_runs=TABLE_INPUTS["rgb_run_dirs"],
    output:
        ae=report(
            "results/tables/ae_reconstruction.csv",
            caption="../report/table_ae_reconstruction.rst",
            category="Tables",
        ),
        nvs=report("results/tables/latent_nvs.csv", caption="../report/table_latent_nvs.rst", category="Tables"),
        timing=report("results/tables/timing.csv", caption="../report/table_timing.rst", category="Tables"),
        ablation=report("results/tables/ablation.csv", caption="../report/table_ablation.rst", category="Tables"),
    params:
        skipped=TABLE_INPUTS["skipped"],
        ablation=TABLE_INPUTS["ablation"],
    log:
        "logs/tables.log",
    benchmark:
        "logs/benchmarks/tables.tsv"
    script:
        "../scripts/tables.py"


rule figure_qualitative:
    """GT / RGB NeRF / latent NeRF per AE, on the same eval views of the first benchmark scene."""
    input:
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
        datasets=expand("resources/scenes/{dataset}", dataset=BENCH["datasets"]),
    output:
        report("results/figures/qualitative.png", caption="../report/figure_qualitative.rst", category="Figures"),
    log:
        "logs/figure_qualitative.log",
    benchmark:
        "logs/benchmarks/figure_qualitative.tsv"
    script:
        "../scripts/figure_qualitative.py"


rule claims:
    """Each claim of the paper per method, over paired (dataset, scene, seed) units: 90 % BCa interval, one-sided
    sign-flip p-value and verdict (igae.claims)."""
    input:
        nvs="results/tables/latent_nvs.csv",
        timing="results/tables/timing.csv",
    output:
        table=report("results/tables/claims.csv", caption="../report/table_claims.rst", category="Claims"),
        figure=report("results/figures/claims.png", caption="../report/figure_claims.rst", category="Claims"),
    params:
        roles=CLAIM_ROLES,
    log:
        "logs/claims.log",
    benchmark:
        "logs/benchmarks/claims.tsv"
    script:
        "../scripts/claims.py"


rule figure_convergence:
    """Eval PSNR against training seconds, per method: latent runs (one colour per AE) beside RGB runs."""
    input:
        latent_runs=latent_runs(),
        rgb_runs=rgb_runs(),
    output:
        report("results/figures/convergence.png", caption="../report/figure_convergence.rst", category="Figures"),
    log:
        "logs/figure_convergence.log",
    benchmark:
        "logs/benchmarks/figure_convergence.tsv"
    script:
        "../scripts/figure_convergence.py"


rule figure_ae_reconstruction:
    """Real test images and eval views of the first benchmark scene, with each AE's reconstruction (Fig. 9)."""
    input:
        autoencoders=expand("results/autoencoders/{ae}", ae=list(AUTOENCODERS)),
        real=REAL,
        dataset=f"resources/scenes/{bench_scenes(config)[0][0]}",
    output:
        report(
            "results/figures/ae_reconstruction.png",
            caption="../report/figure_ae_reconstruction.rst",
            category="Figures",
        ),
    params:
        scene="resources/scenes/{}/{}".format(*bench_scenes(config)[0]),
    log:
        "logs/figure_ae_reconstruction.log",
    benchmark:
        "logs/benchmarks/figure_ae_reconstruction.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=slurm_gpus(),  # it runs the autoencoders: a cluster job, with a GPU under device: cuda
    script:
        "../scripts/figure_ae_reconstruction.py"


rule figure_igae_training:
    """The IG-AE training curves (Tri-Plane fit, decoded renders, AE reconstruction) of every IG-AE kind AE."""
    input:
        autoencoders=expand("results/autoencoders/{ae}", ae=IGAE_NAMES),
    output:
        report("results/figures/igae_training.png", caption="../report/figure_igae_training.rst", category="Figures"),
    log:
        "logs/figure_igae_training.log",
    benchmark:
        "logs/benchmarks/figure_igae_training.tsv"
    script:
        "../scripts/figure_igae_training.py"


rule summary:
    """The results section of the README, generated from the tables (igae summary): never copied by hand."""
    input:
        tables=[path for path in final_outputs() if path.startswith("results/tables/")],
        figures=[path for path in final_outputs() if path.startswith("results/figures/")],
    output:
        report("results/summary.md", caption="../report/summary.rst", category="Summary"),
    params:
        tables=lambda wc, input: input.tables[0].rsplit("/", 1)[0],  # their folder, results/tables
    log:
        "logs/summary.log",
    benchmark:
        "logs/benchmarks/summary.tsv"
    script:
        "../scripts/summary.py"


rule results_page:
    """One self-contained page (igae.results_page): the answer first (claims' verdicts and forest plot, PSNR mean ± std
    per method, the qualitative figure), then every table and figure under its caption (what each column is). The
    Snakemake report opens it in one click from its start page; any browser opens the file."""
    input:
        tables=[path for path in final_outputs() if path.startswith("results/tables/")],
        figures=[path for path in final_outputs() if path.startswith("results/figures/")],
    output:
        report("results/results.html", caption="../report/results_page.rst", category="Results"),
    log:
        "logs/results_page.log",
    benchmark:
        "logs/benchmarks/results_page.tsv"
    script:
        "../report/results_page.py"
