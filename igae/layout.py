"""Where the workflow's stages write, relative to its working directory: the paths its rules' outputs spell with
wildcards, as functions of the names those take. Code that names another stage's files outside a rule (the
autoencoder kinds' inputs, the tables' inputs, ``igae tables --config``) builds them here, so that they agree."""

from __future__ import annotations


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
"""The folder of the CSV tables (rule tables)."""
