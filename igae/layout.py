"""Where the workflow's stages write, relative to its working directory: the paths its rules' outputs spell with
wildcards, as functions of the names those take. Code that names another stage's files outside a rule (the
autoencoder kinds' inputs, the tables' inputs, ``igae tables --config``) builds them here, so that they agree.

:data:`OUTPUTS` lists the run's tables and figures, each with its title and caption: the rules that write them
(``workflow/rules/report.smk``, through ``reported()`` of ``common.smk``), the run's final outputs, ``igae tables``,
the summary's inputs and the results page all read this one list. Adding a table or a figure is one entry here, its
caption file and the code that writes it (docs/extending.md#a-table-or-a-figure)."""

from __future__ import annotations

from dataclasses import dataclass


def scene_dataset(dataset: str) -> str:
    """The scene folders of one ``scenes.<dataset>`` entry (rule scene_dataset)."""
    return f"resources/scenes/{dataset}"


def real_images(config: dict) -> str:
    """The real-image set of the config's ``real_images`` entry (rule real_images)."""
    return f"resources/real/{config['real_images']['source']}"


def autoencoder(name: str) -> str:
    """The folder of the autoencoder ``autoencoders.<name>`` (rules prepare_autoencoder, train_igae)."""
    return f"results/autoencoders/{name}"


def ae_eval(name: str) -> str:
    """The reconstruction quality of one autoencoder (rule evaluate_autoencoder)."""
    return f"results/ae_eval/{name}.json"


def latent_run(ae: str, method: str, dataset: str, scene: str, seed: int) -> str:
    """One latent NeRF fit (rule fit_latent_nerf)."""
    return f"results/runs/latent/{ae}/{method}/{dataset}/{scene}/seed{seed}"


def rgb_run(method: str, dataset: str, scene: str, seed: int) -> str:
    """One RGB NeRF fit (rule fit_rgb_nerf)."""
    return f"results/runs/rgb/{method}/{dataset}/{scene}/seed{seed}"


TABLES = "results/tables"
"""The folder of the CSV tables (rules tables, claims)."""
FIGURES = "results/figures"
"""The folder of the PNG figures."""
SUMMARY = "results/summary.md"
"""The Markdown results section made from the tables (rule summary)."""
RESULTS_PAGE = "results/results.html"
"""The self-contained results page (rule results_page)."""


@dataclass(frozen=True)
class Output:
    """One table (a CSV under :data:`TABLES`) or figure (a PNG under :data:`FIGURES`) of a run."""

    file: str
    """Its file name, ``latent_nvs.csv`` or ``claims.png``: the suffix says which it is."""
    title: str
    """Its heading on the results page."""
    rule: str
    """The rule that writes it (``workflow/rules/report.smk``)."""
    category: str
    """Its category in the Snakemake report (``snakemake --report``)."""

    @property
    def name(self) -> str:
        """The file name without its suffix: ``latent_nvs``."""
        return self.file.rsplit(".", 1)[0]

    @property
    def kind(self) -> str:
        """``table`` or ``figure``."""
        return "table" if self.file.endswith(".csv") else "figure"

    @property
    def path(self) -> str:
        """Where the run writes it, relative to the working directory."""
        return f"{TABLES if self.kind == 'table' else FIGURES}/{self.file}"

    @property
    def caption(self) -> str:
        """Its caption file in ``workflow/report/`` (reStructuredText), shown by the report and the results page."""
        return f"{self.kind}_{self.name}.rst"


OUTPUTS = (
    Output("claims.csv", "Claims", rule="claims", category="Claims"),
    Output("latent_nvs.csv", "Latent novel-view synthesis (Tab. 2)", rule="tables", category="Tables"),
    Output("ae_reconstruction.csv", "Autoencoder reconstruction (Tab. 1)", rule="tables", category="Tables"),
    Output("timing.csv", "Training and rendering time (Tab. 5)", rule="tables", category="Tables"),
    Output("ablation.csv", "Ablation", rule="tables", category="Tables"),
    Output("qualitative.png", "Qualitative comparison", rule="figure_qualitative", category="Figures"),
    Output("convergence.png", "Convergence", rule="figure_convergence", category="Figures"),
    Output("claims.png", "Claims, forest plot", rule="claims", category="Claims"),
    Output("ae_reconstruction.png", "Autoencoder reconstructions", rule="figure_ae_reconstruction", category="Figures"),
    Output("igae_training.png", "IG-AE training curves", rule="figure_igae_training", category="Figures"),
)
"""Every table and figure of a run, tables first, in the order of the results page's sections."""


def output(file: str) -> Output:
    """The entry of :data:`OUTPUTS` for a file name; raises naming the known ones."""
    for entry in OUTPUTS:
        if entry.file == file:
            return entry
    raise KeyError(f"igae: no table or figure {file!r} in igae.layout.OUTPUTS ({', '.join(o.file for o in OUTPUTS)})")


def written_by(rule: str) -> list[Output]:
    """The tables and figures one rule writes, in :data:`OUTPUTS` order."""
    return [entry for entry in OUTPUTS if entry.rule == rule]


def tables() -> list[Output]:
    """The tables of :data:`OUTPUTS`."""
    return [entry for entry in OUTPUTS if entry.kind == "table"]


def figures() -> list[Output]:
    """The figures of :data:`OUTPUTS`."""
    return [entry for entry in OUTPUTS if entry.kind == "figure"]


def final_outputs() -> list[str]:
    """What a whole run makes (rule all): every table and figure, the summary and the results page."""
    return [*(entry.path for entry in OUTPUTS), SUMMARY, RESULTS_PAGE]
