"""The README's results section: generated from results/tables/*.csv, placed between README markers.

The tables are hand-made in igae.report.tables' column layout, with chosen numbers, so every figure in the Markdown is
checkable by hand.
"""

import pandas as pd
import pytest

from igae.cli import main
from igae.report.summary import BEGIN_MARKER, END_MARKER, results_markdown, update_readme
from igae.report.tables import ABLATION_COLUMNS, AE_RECONSTRUCTION_COLUMNS, LATENT_NVS_COLUMNS, TIMING_COLUMNS

VERSIONS = "python=3.11.9;torch=2.14.1;nerfstudio=1.1.5"
SHA = {"standard": "a" * 64, "igae": "b" * 64, "control": "c" * 64}
PSNR = {  # (method, space or AE) -> decoded PSNR per scene s0, s1, s2
    ("tensorf", "standard"): [18.0, 18.5, 17.5],  # 18.00 ± 0.50
    ("tensorf", "igae"): [19.0, 19.6, 18.7],  # 19.10 ± 0.46 (sample std: sqrt(0.42 / 2))
    ("tensorf", "control"): [18.1, 18.2, 18.3],  # an ablation variant: in the ablation rows, not a column
    ("tensorf", "rgb"): [25.0, 22.0, 28.0],  # 25.00 ± 3.00
    ("nerfacto", "standard"): [16.0, 17.0],
    ("nerfacto", "igae"): [17.0, 18.0],
    ("nerfacto", "rgb"): [10.0, 15.0],  # s0 failed: below its scene's floor (12 dB), left out of the mean
}
NOT_CONVERGED = ("nerfacto", "igae", "s1")  # curve still rising 0.52 dB at its cap
FAILED = ("nerfacto", "rgb", "s0")


def write_table_set(folder, convergence=True, claims=True):
    """A consistent results/tables/ folder: AE reconstruction, NVS (+ a skipped method), timing, ablation, claims."""
    folder.mkdir(parents=True, exist_ok=True)
    provenance = {"config_hash": "3f2a9c0d81b4", "versions": VERSIONS}
    ae_rows = [
        {"autoencoder": ae, "data": data, "psnr": psnr, "ssim": ssim, "lpips": None, "n_images": n,
         "lpips_reason": "LPIPS unavailable: no AlexNet weights", "ae_sha256": SHA[ae], **provenance}
        for ae, synthetic, real in [("standard", 19.24, 19.44), ("igae", 19.05, 20.05), ("control", 22.57, 21.99)]
        for data, psnr, ssim, n in [("synthetic", synthetic, 0.812, 36), ("real", real, 0.7, 12)]
    ]  # fmt: skip
    pd.DataFrame(ae_rows, columns=AE_RECONSTRUCTION_COLUMNS).to_csv(folder / "ae_reconstruction.csv", index=False)

    nvs_rows, timing_rows = [], []
    for (method, which), psnrs in PSNR.items():
        space, ae = ("rgb", "") if which == "rgb" else ("latent", which)
        for index, psnr in enumerate(psnrs):
            scene = f"s{index}"
            converged = (method, which, scene) != NOT_CONVERGED
            steps = 300 + 20 * index if converged else 420
            nvs_rows.append(
                {"method": method, "dataset": "heldout", "scene": scene, "space": space, "autoencoder": ae,
                 "psnr": psnr, "ssim": 0.6, "latent_rel_mse": (0.4 if ae == "standard" else 0.2) if ae else None,
                 "n_views": 3, "ae_sha256": SHA.get(ae, ""), **provenance, "note": "", "seed": 1234,
                 "status": "failed" if (method, which, scene) == FAILED else "ok", "floor_psnr": 12.0,
                 "curve_final_psnr": psnr, "curve_delta_db": 0.05 if converged else 0.52, "converged": converged,
                 "stop_reason": "converged" if converged else "cap", "steps": steps, "step_cap": 420}
            )  # fmt: skip
            if space == "latent":
                timing_rows.append(
                    {"method": method, "dataset": "heldout", "scene": scene, "autoencoder": ae,
                     "latent_train_s": 10.0, "rgb_train_s": 20.0 + 5 * index, "latent_render_ms": 4.0,
                     "latent_decode_ms": 30.0, "rgb_render_ms": 1020.0, "train_speedup": (20.0 + 5 * index) / 10.0,
                     "step_speedup": (20.0 + 5 * index) / 10.0, "train_speedup_at_quality": (15.0 + 5 * index) / 10.0,
                     "render_speedup": 1020.0 / 34.0, "iterations": 400, "rgb_iterations": 400,
                     "ae_sha256": SHA[ae], **provenance}
                )  # fmt: skip
    nvs_rows.append({"method": "instant-ngp", "note": "skipped: GPU-only (nerfacc's CUDA extension)"})
    convergence_columns = [
        "seed", "status", "floor_psnr", "curve_final_psnr", "curve_delta_db", "converged", "stop_reason", "steps",
        "step_cap",
    ]  # fmt: skip
    columns = [c for c in LATENT_NVS_COLUMNS if convergence or c not in convergence_columns]
    pd.DataFrame(nvs_rows).reindex(columns=columns).to_csv(folder / "latent_nvs.csv", index=False)
    pd.DataFrame(timing_rows, columns=TIMING_COLUMNS).to_csv(folder / "timing.csv", index=False)

    ablation_rows = [
        {"method": "tensorf", "dataset": "heldout", "autoencoder": ae, "role": role, "n_scenes": 3,
         "psnr": pd.Series(PSNR[("tensorf", ae)]).mean(), "psnr_std": pd.Series(PSNR[("tensorf", ae)]).std(),
         "ssim": 0.6, "latent_rel_mse": 0.3, "ae_psnr": 19.0, "ae_sha256": SHA[ae]}
        for ae, role in [("standard", "main"), ("igae", "main"), ("control", "variant")]
    ]  # fmt: skip
    pd.DataFrame(ablation_rows, columns=ABLATION_COLUMNS).to_csv(folder / "ablation.csv", index=False)

    if claims:
        bca = {"interval": "BCa", "confidence": 0.9, "n_boot": 10000, "bootstrap_seed": 0, "datasets": "heldout",
               **provenance, "ae_sha256": SHA["igae"]}  # fmt: skip
        claim_rows = [
            {"claim": "igae_beats_standard", "method": "tensorf", "statement": "IG-AE gives higher decoded PSNR",
             "statistic": "mean paired dPSNR (dB)", "null": 0.0, "estimate": 1.1, "ci_low": 0.6, "ci_high": 1.5,
             "p_value": 1 / 64, "p_opposite": 1.0, "test": "sign-flip exact 2^6", "n": 6, "verdict": "holds",
             "note": "", **bca},
            {"claim": "igae_beats_standard", "method": "nerfacto", "statement": "IG-AE gives higher decoded PSNR",
             "statistic": "mean paired dPSNR (dB)", "null": 0.0, "estimate": 1.0, "ci_low": None, "ci_high": None,
             "p_value": 1 / 16, "p_opposite": 1.0, "test": "sign-flip exact 2^4", "n": 4, "verdict": "inconclusive",
             "note": "n = 4 < 5: too few", **bca},
            {"claim": "latent_renders_faster", "method": "tensorf", "statement": "Latent renders faster",
             "statistic": "geometric mean of render ms ratios (x)", "null": 1.0, "estimate": 0.5, "ci_low": 0.4,
             "ci_high": 0.6, "p_value": 1.0, "p_opposite": 1 / 32, "test": "sign-flip exact 2^5", "n": 5,
             "verdict": "fails", "note": "", **bca},
        ]  # fmt: skip
        if claims == "old":  # claims.csv of igae.report.claims before the BCa intervals and the sign-flip test
            claim_rows = [
                {key: value for key, value in claim.items() if key not in ("interval", "confidence", "test")}
                | {"p_value": None, "p_opposite": None}
                for claim in claim_rows
            ]
        pd.DataFrame(claim_rows).to_csv(folder / "claims.csv", index=False)
    return folder


RUN = {"date": "2026-11-25", "wall_seconds": 1700, "cores": 2, "machine": "AMD EPYC, no GPU", "config": "config.yaml"}


def test_markdown_states_the_run_and_the_numbers(tmp_path):
    markdown = results_markdown(write_table_set(tmp_path / "results" / "tables"), RUN)

    assert "igae summary" in markdown and "do not edit by hand" in markdown
    run_line = next(line for line in markdown.splitlines() if line.startswith("**Run**"))
    for expected in ["2026-11-25", "1700 s wall (28.3 min)", "2 cores", "AMD EPYC", "config `config.yaml`",
                     "`3f2a9c0d81b4`", "standard `aaaaaaaaaaaa`", "igae `bbbbbbbbbbbb`", "torch 2.14.1",
                     "nerfstudio 1.1.5"]:  # fmt: skip
        assert expected in run_line
    assert "| standard | 19.24 | 0.812 | 19.44 | 0.700 |" in markdown  # AE x synthetic/real
    assert "LPIPS not reported: LPIPS unavailable" in markdown
    # tensorf: mean ± sample std over the 3 scenes, all converged; control is an ablation variant, not a column
    tensorf = "| tensorf | heldout | 3 | 18.00 ± 0.50 (3/3) | 19.10 ± 0.46 (3/3) | 25.00 ± 3.00 (3/3) | 0.400 / 0.200 |"
    assert tensorf in markdown
    nerfacto = "| nerfacto | heldout | 2 | 16.50 ± 0.71 (2/2) | 17.50 ± 0.71 (1/2) | 15.00 (2/2, **1 failed**) |"
    assert nerfacto in markdown  # the failed RGB fit is counted, and left out of the mean
    assert "**failed**: fits whose eval PSNR is below their scene's floor" in markdown
    assert "- `instant-ngp`: skipped: GPU-only (nerfacc's CUDA extension)" in markdown
    assert "seed 1234" in markdown
    # claims: estimate [interval, as the table names it], one-sided p, n, verdict, and how a verdict is decided
    assert "| claim | method | statistic | estimate [90 % BCa CI] | p | n | verdict |" in markdown
    claims = [line.split(" | ", 2)[2] for line in markdown.splitlines() if line.startswith("| igae_beats_standard |")]
    assert claims == [
        "mean paired dPSNR (dB) | 1.10 [0.60, 1.50] | 0.016 | 6 | **holds** |",
        "mean paired dPSNR (dB) | 1.00 [—, —] | 0.062 | 4 | **inconclusive** (n = 4 < 5: too few) |",
    ]
    assert "| 0.500 [0.400, 0.600] | 1; opposite 0.031 | 5 | **fails** |" in markdown  # the p it failed with
    rule = "Verdicts: `holds` needs n ≥ 5 paired units, the 90 % BCa interval above the null and a one-sided sign-flip"
    assert rule in markdown
    # speed: median (min-max) over tensorf's 9 latent fits (3 AEs x 3 scenes): at equal PSNR 15/10, 20/10, 25/10;
    # per step and whole fits 20/10, 25/10, 30/10
    assert "| tensorf | 9 | 400 / 400 | 2.0× (1.5–2.5) | 2.5× (2.0–3.0) | 2.5× (2.0–3.0) | 30.0× | 30.0 |" in markdown
    # per method and space / AE: converged, capped, failed, steps; then the fits that did not converge or failed
    assert "**Fits** (`latent_nvs.csv`): 17 of 18 converged" in markdown and "1 failed" in markdown
    assert "| tensorf | latent / igae | 3 | 3 | 0 | 0 | 320 (300–340) | 420 |" in markdown
    assert "| nerfacto | latent / igae | 2 | 1 | 1 | 0 | 360 (300–420) | 420 |" in markdown
    assert "| nerfacto | RGB | 2 | 2 | 0 | 1 | 310 (300–320) | 420 |" in markdown
    assert (
        "- `nerfacto` heldout/s1 seed 1234, latent / igae: not converged (trend +0.52 dB, 420 steps, stopped: cap)"
        in markdown
    )
    assert "- `nerfacto` heldout/s0 seed 1234, RGB: **failed**, 10.00 dB < floor 12.00 dB; converged" in markdown
    assert "| tensorf | heldout | control | variant | 3 | 18.20 ± 0.10 |" in markdown


def test_older_tables_without_claims_or_convergence(tmp_path):
    markdown = results_markdown(write_table_set(tmp_path / "tables", convergence=False, claims=False), RUN)

    assert "| tensorf | heldout | 3 | 18.00 ± 0.50 | 19.10 ± 0.46 | 25.00 ± 3.00 | 0.400 / 0.200 |" in markdown
    assert "Claims" not in markdown and "converged" not in markdown.lower() and "seed" not in markdown
    older = results_markdown(write_table_set(tmp_path / "older", claims="old"), RUN)  # no interval kind: none claimed
    assert "| estimate [CI] | p |" in older and "| 1.10 [0.60, 1.50] | — | 6 | **holds** |" in older
    assert "Verdicts:" not in older


def test_missing_table_names_the_file(tmp_path):
    tables = write_table_set(tmp_path / "tables")
    (tables / "latent_nvs.csv").unlink()
    with pytest.raises(FileNotFoundError, match="latent_nvs.csv"):
        results_markdown(tables)


README = "# Project\n\n## Results\n\nintro\n\n{begin}\nold generated text\n{end}\n\nhand-written text after\n"


def test_update_readme_replaces_only_between_markers_and_is_idempotent(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README.format(begin=BEGIN_MARKER, end=END_MARKER))
    markdown = results_markdown(write_table_set(tmp_path / "tables"), RUN)

    assert update_readme(readme, markdown) is True
    text = readme.read_text()
    assert text.startswith("# Project\n\n## Results\n\nintro\n\n" + BEGIN_MARKER + "\n")
    assert text.endswith(END_MARKER + "\n\nhand-written text after\n")
    assert "old generated text" not in text and markdown.strip() in text
    assert update_readme(readme, markdown) is False and readme.read_text() == text


@pytest.mark.parametrize(
    "begin,end", [("", END_MARKER), (BEGIN_MARKER, ""), (END_MARKER, BEGIN_MARKER)], ids=["no-begin", "no-end", "order"]
)
def test_update_readme_without_markers_raises(tmp_path, begin, end):
    readme = tmp_path / "README.md"
    readme.write_text(README.format(begin=begin, end=end))
    with pytest.raises(ValueError, match=r"README\.md.*results:begin.*results:end"):
        update_readme(readme, "anything")


def test_cli_writes_summary_and_readme(tmp_path, capsys):
    tables = write_table_set(tmp_path / "results" / "tables")
    readme = tmp_path / "README.md"
    readme.write_text(README.format(begin=BEGIN_MARKER, end=END_MARKER))
    out = tmp_path / "results" / "summary.md"

    argv = ["summary", "--tables", str(tables), "--out", str(out), "--readme", str(readme), "--wall-seconds", "1700"]
    assert main([*argv, "--config", "config.yaml"]) == 0
    assert "1700 s wall" in out.read_text() and out.read_text().strip() in readme.read_text()
    assert f"{readme}: updated" in capsys.readouterr().out
    assert main(["summary", "--tables", str(tmp_path / "nowhere")]) == 1
    assert "nowhere/ae_reconstruction.csv does not exist" in capsys.readouterr().err


def test_the_headline_holds_the_claims_compactly_and_goes_between_its_own_markers(tmp_path):
    from igae.report.summary import headline_markdown

    tables = write_table_set(tmp_path / "tables")
    headline = headline_markdown(tables, {"date": "2026-12-02", "wall_seconds": 3600, "machine": "AMD EPYC"})
    claims = pd.read_csv(tables / "claims.csv")
    assert "2026-12-02 · 60 min wall · AMD EPYC" in headline
    assert "| claim | method | estimate [" in headline and "statistic" not in headline
    assert all(f"**{verdict}**" in headline for verdict in claims["verdict"])
    readme = tmp_path / "README.md"
    readme.write_text(README.format(begin="<!-- headline:begin -->", end="<!-- headline:end -->"))
    assert update_readme(readme, headline, block="headline") is True
    assert headline.strip() in readme.read_text()
    with pytest.raises(ValueError, match=r"results:begin"):  # the results block is not there
        update_readme(readme, headline)
    (tables / "claims.csv").unlink()
    assert "| method |" in headline_markdown(tables)  # no claims: the decoded-PSNR table instead
