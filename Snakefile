# igae-bench: the IG-AE paper's experiments as one Snakemake DAG.
#   snakemake --cores all                         the default configuration (offline, CPU)
#   snakemake --cores all --configfile <file>     another complete configuration

# Each config file is complete: with --configfile, config.yaml is not loaded underneath it (no silent merging).
if not workflow.overwrite_configfiles:
    from igae.config import check_config_syntax

    check_config_syntax("config.yaml")  # a YAML error as file:line:column (Snakemake's message has neither)

    configfile: "config.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/scenes.smk"
include: "workflow/rules/autoencoders.smk"
include: "workflow/rules/nerf.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        layout.final_outputs(),
    default_target: True
