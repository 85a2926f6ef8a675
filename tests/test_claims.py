"""The paper's claims (igae.report.claims: BCa intervals, sign-flip p-values, verdicts), the config roles, the report
figures.

The tables here are hand-made latent_nvs / timing DataFrames whose paired differences and ratios are chosen, so each
verdict and estimate is known in advance.
"""

import logging
import math
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image
from scipy import stats
from snakemake.utils import validate

from igae.ae.autoencoder import AutoencoderCard, save_autoencoder, small_autoencoder
from igae.config import ConfigError, check_config, claim_roles
from igae.files import atomic_write_json
from igae.report.claims import (
    CLAIMS_COLUMNS,
    N_BOOT,
    UNIT_COLUMNS,
    bca_interval,
    claims_table,
    evidence,
    interval_label,
    paired_units,
    write_claims,
)
from igae.report.figures import ae_reconstruction_figure, claims_figure, convergence_figure

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "tests" / "data" / "tiny_config.yaml").read_text())

ROLES = {"standard": "standard", "igae": "igae", "control": "control"}
DIFFERENCES = {  # IG-AE - standard decoded PSNR (dB), one value per scene
    "tensorf": [1.0, 1.2, 0.8, 1.1, 0.9, 1.0],  # clearly positive: holds
    "nerfacto": [-1.0, -1.2, -0.8, -1.1, -0.9, -1.0],  # clearly negative: fails
    "kplanes": [1.0, -1.0, 0.5, -0.5, 0.2, -0.2],  # around zero: inconclusive
}


def nvs_row(method, scene, space, ae, psnr, rel_mse=math.nan, **extra):
    return {
        "method": method,
        "dataset": "heldout",
        "scene": scene,
        "space": space,
        "autoencoder": ae,
        "psnr": psnr,
        "ssim": 0.5,
        "latent_rel_mse": rel_mse,
        "config_hash": "cfg",
        "ae_sha256": f"sha-{ae}" if ae else "",
        "versions": "torch=2",
        "note": "",
        **extra,
    }


def latent_nvs(differences=DIFFERENCES, control_methods=()):
    """IG-AE = standard + difference; standard rel. MSE 0.4, IG-AE 0.1 (+ jitter); control = standard + 0.1 dB."""
    rows = []
    for method, values in differences.items():
        for index, difference in enumerate(values):
            scene = f"s{index}"
            rows.append(nvs_row(method, scene, "latent", "standard", 20.0 + index, 0.4))
            rows.append(nvs_row(method, scene, "latent", "igae", 20.0 + index + difference, 0.1 + 0.01 * index))
            rows.append(nvs_row(method, scene, "rgb", "", 25.0))
            if method in control_methods:
                rows.append(nvs_row(method, scene, "latent", "control", 20.1 + index, 0.3))
    rows.append({**nvs_row("instant-ngp", "", "", "", math.nan), "note": "skipped: GPU-only"})
    return pd.DataFrame(rows)


def timing(train_ratios, render_ratios=None, ae="igae", method="tensorf"):
    """The IG-AE's latent runs: latent train 10 s, RGB = 10 s x ratio (whole fits, and to the PSNR both reach);
    latent render 4 ms + decode 1 ms."""
    render_ratios = render_ratios or [1.0] * len(train_ratios)
    rows = [
        {
            "method": method,
            "dataset": "heldout",
            "scene": f"s{index}",
            "autoencoder": ae,
            "latent_train_s": 10.0,
            "rgb_train_s": 10.0 * train,
            "latent_s_to_target": 10.0,
            "rgb_s_to_target": 10.0 * train,
            "latent_render_ms": 4.0,
            "latent_decode_ms": 1.0,
            "rgb_render_ms": 5.0 * render,
            "config_hash": "cfg",
            "ae_sha256": f"sha-{ae}",
            "versions": "torch=2",
        }
        for index, (train, render) in enumerate(zip(train_ratios, render_ratios, strict=True))
    ]
    return pd.DataFrame(rows)


def row(table, claim, method):
    rows = table[(table["claim"] == claim) & (table["method"] == method)]
    assert len(rows) == 1, f"expected one {claim}/{method} row, got {len(rows)}"
    return rows.iloc[0]


def test_paired_differences_give_holds_fails_and_inconclusive():
    units = paired_units(latent_nvs(), timing([2.0, 3.0, 4.0]), ROLES)
    assert list(units.columns) == UNIT_COLUMNS
    table = claims_table(units, ROLES, n_boot=2000)
    assert list(table.columns) == CLAIMS_COLUMNS
    for method, expected in (("tensorf", "holds"), ("nerfacto", "fails"), ("kplanes", "inconclusive")):
        result = row(table, "igae_beats_standard", method)
        assert result.estimate == pytest.approx(np.mean(DIFFERENCES[method]))
        assert result.ci_low <= result.estimate <= result.ci_high
        assert (result.verdict, result.n, result.null) == (expected, 6, 0.0), method
        assert (result.interval, result.confidence, result.test) == ("BCa", 0.9, "sign-flip exact 2^6"), method
    tensorf, nerfacto = row(table, "igae_beats_standard", "tensorf"), row(table, "igae_beats_standard", "nerfacto")
    # six positive differences: only the observed signs give a mean that large, 1 of the 2^6 flips
    assert (tensorf.p_value, tensorf.p_opposite) == (1 / 64, 1.0)
    assert (nerfacto.p_value, nerfacto.p_opposite) == (1.0, 1 / 64)
    around_zero = row(table, "igae_beats_standard", "kplanes")
    assert around_zero.ci_low < 0 < around_zero.ci_high and around_zero.p_value > 0.5
    assert "contains the null 0" in around_zero.note
    assert tensorf.ae_sha256 == "igae:sha-igae;standard:sha-standard" and tensorf.datasets == "heldout"
    provenance = (tensorf.config_hash, tensorf.versions, tensorf.n_boot, tensorf.bootstrap_seed)
    assert provenance == ("cfg", "torch=2", 2000, 0)
    assert "igae - standard (dB)" in tensorf.statistic and tensorf.note == ""
    consistency = row(table, "igae_more_3d_consistent", "tensorf")  # 0.4 - (0.1 + 0.01 i), i = 0..5
    assert consistency.estimate == pytest.approx(0.3 - 0.025) and consistency.verdict == "holds"
    assert "instant-ngp" not in set(table["method"])  # its row carries a note, no metrics
    assert "gain_from_3d_terms" not in set(table["claim"])  # no control was fitted


def test_ratio_claims_are_geometric_means_with_a_bca_interval_on_the_log_scale():
    ratios, render = [2.0, 8.0, 4.0, 1.5, 3.0], [10.0, 40.0, 20.0, 10.0, 15.0]
    table = claims_table(paired_units(latent_nvs(), timing(ratios, render), ROLES), ROLES, n_boot=500, seed=7)
    train = row(table, "latent_trains_faster", "tensorf")
    assert train.estimate == pytest.approx((2 * 8 * 4 * 1.5 * 3) ** 0.2)  # 3.2x, where the arithmetic mean says 3.7x
    assert row(table, "latent_renders_faster", "tensorf").estimate == pytest.approx((10 * 40 * 20 * 10 * 15) ** 0.2)
    by_scipy = stats.bootstrap(  # the same interval, asked of scipy directly on the log ratios
        (np.log(ratios),), np.mean, n_resamples=500, confidence_level=0.9, method="BCa", rng=np.random.default_rng(7)
    ).confidence_interval
    assert (train.ci_low, train.ci_high) == pytest.approx((math.exp(by_scipy.low), math.exp(by_scipy.high)))
    assert 1.0 < train.ci_low < train.estimate < train.ci_high
    assert (train.null, train.verdict, train.p_value) == (1.0, "holds", 1 / 32) and train.ae_sha256 == "igae:sha-igae"
    # a ratio of exactly 1 is a log ratio of 0: flipping its sign changes nothing, so 2 of the 32 flips reach the mean
    ties = claims_table(paired_units(latent_nvs(), timing([2.0, 8.0, 4.0, 1.0, 3.0]), ROLES), ROLES)
    assert row(ties, "latent_trains_faster", "tensorf")[["p_value", "verdict"]].tolist() == [2 / 32, "inconclusive"]


def test_a_skewed_sample_gets_a_bca_interval_not_the_percentile_one():
    sample = np.array([0.1, 0.2, 0.2, 0.3, 0.4, 0.6, 3.0])  # one large value: a right-skewed bootstrap distribution
    low, high, note = bca_interval(sample, n_boot=N_BOOT, seed=3)
    # by hand (Efron & Tibshirani 14.3): scipy draws the resamples as rng.integers(0, n, (n_boot, n))
    n = len(sample)
    means = sample[np.random.default_rng(3).integers(0, n, size=(N_BOOT, n))].mean(axis=1)  # (N_BOOT,)
    normal = statistics.NormalDist()
    z0 = normal.inv_cdf((np.sum(means < sample.mean()) + np.sum(means <= sample.mean())) / (2 * N_BOOT))
    jackknife = (sample.sum() - sample) / (n - 1)  # (n,) the mean without each value
    spread = jackknife.mean() - jackknife
    acceleration = (spread**3).sum() / (6 * ((spread**2).sum()) ** 1.5)
    z = np.array([normal.inv_cdf(0.05), normal.inv_cdf(0.95)])  # a two-sided 90 % interval
    levels = [normal.cdf(z0 + (z0 + zi) / (1 - acceleration * (z0 + zi))) for zi in z]
    assert (low, high) == pytest.approx(tuple(np.quantile(means, levels)), rel=1e-9) and note == ""
    by_scipy = stats.bootstrap(
        (sample,), np.mean, n_resamples=N_BOOT, confidence_level=0.9, method="BCa", rng=np.random.default_rng(3)
    ).confidence_interval
    assert (low, high) == pytest.approx((by_scipy.low, by_scipy.high))
    percentile_low, percentile_high = np.percentile(means, [5, 95])  # what igae.report.claims reported before
    assert high - percentile_high > 0.2 and low > percentile_low  # BCa follows the skew: shifted up, wider above


def test_four_units_are_inconclusive_even_with_a_huge_effect():
    table = claims_table(paired_units(latent_nvs({"tensorf": [30.0, 31.0, 32.0, 33.0]}), timing([3.0]), ROLES), ROLES)
    result = row(table, "igae_beats_standard", "tensorf")
    assert result.estimate == pytest.approx(31.5) and result.n == 4
    assert result.p_value == 1 / 16 and result.test == "sign-flip exact 2^4"  # the smallest p of 4 units: > 0.05
    assert math.isnan(result.ci_low) and math.isnan(result.ci_high) and result.verdict == "inconclusive"
    assert result.note.startswith("n = 4 < 5: no exact sign-flip test can reach p < 0.05 (smallest p = 2^-4")
    one = row(table, "latent_trains_faster", "tensorf")  # a single unit: no test at all
    assert one.n == 1 and math.isnan(one.p_value) and one.test == "" and one.verdict == "inconclusive"


def test_five_positive_units_hold_with_the_exact_p_of_one_in_32():
    result = evidence(np.array([0.5, 1.0, 1.5, 2.0, 2.5]))
    assert (result.p_value, result.p_opposite, result.test) == (1 / 32, 1.0, "sign-flip exact 2^5")
    assert 0 < result.ci_low < 1.5 < result.ci_high and (result.verdict, result.note) == ("holds", "")
    # one negative unit: flipping it gives a larger mean, so 2 of the 32 flips reach the observed one
    mixed = evidence(np.array([1.0, 2.0, 3.0, 4.0, -0.5]))
    assert mixed.ci_low > 0 and mixed.p_value == 2 / 32 and mixed.verdict == "inconclusive"
    assert "above the null but the sign-flip p = 0.062 >= 0.05" in mixed.note
    many = evidence(np.linspace(0.1, 2.0, 20))  # 2^20 flips: Monte-Carlo, and no random flip reaches all-positive
    assert (many.test, many.p_value, many.verdict) == ("sign-flip Monte-Carlo 9999", 1 / 10_000, "holds")


def test_equal_values_give_a_point_interval_and_a_note_not_a_nan():
    slower = claims_table(paired_units(latent_nvs(), timing([0.5] * 5), ROLES), ROLES)
    result = row(slower, "latent_trains_faster", "tensorf")
    assert result[["estimate", "ci_low", "ci_high"]].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert (result.verdict, result.p_opposite) == ("fails", 1 / 32)
    assert "all 5 paired values are equal: BCa is undefined" in result.note
    zero = evidence(np.zeros(5))  # no effect at all: the interval is the null itself
    assert (zero.ci_low, zero.ci_high, zero.p_value, zero.p_opposite) == (0.0, 0.0, 1.0, 1.0)
    assert zero.verdict == "inconclusive" and "contains the null 0" in zero.note


def test_the_same_input_gives_the_same_table_and_the_seed_moves_only_the_resampling():
    values = np.array(DIFFERENCES["kplanes"])
    assert bca_interval(values, seed=3) == bca_interval(values, seed=3)
    assert bca_interval(values, seed=3)[:2] != bca_interval(values, seed=4)[:2]
    many = np.linspace(-0.5, 1.0, 20)  # Monte-Carlo p: seeded too
    assert evidence(many, seed=3) == evidence(many, seed=3) and evidence(many, seed=3) != evidence(many, seed=4)
    units = paired_units(latent_nvs(), timing([2.0, 3.0, 4.0, 5.0, 6.0]), ROLES)
    shuffled = paired_units(latent_nvs().sample(frac=1.0, random_state=0), timing([2.0, 3.0, 4.0, 5.0, 6.0]), ROLES)
    by_row = lambda table: table.set_index(["claim", "method"]).sort_index()  # noqa: E731 (rows follow table order)
    pd.testing.assert_frame_equal(by_row(claims_table(units, ROLES)), by_row(claims_table(shuffled, ROLES)))


def test_seeds_are_units_and_a_table_without_seeds_is_one_seed():
    nvs = latent_nvs({"tensorf": [1.0, 2.0]})
    assert set(paired_units(nvs, timing([2.0]), ROLES)["seed"]) == {0}
    two_seeds = pd.concat([nvs.assign(seed=0), nvs.assign(seed=1, psnr=nvs["psnr"] + 1)], ignore_index=True)
    units = paired_units(two_seeds, timing([2.0]).assign(seed=0), ROLES)
    beats = units[units["claim"] == "igae_beats_standard"]
    assert sorted(zip(beats.scene, beats.seed, strict=True)) == [("s0", 0), ("s0", 1), ("s1", 0), ("s1", 1)]


def test_the_control_claim_covers_only_the_methods_the_control_ran():
    units = paired_units(latent_nvs(control_methods=("tensorf",)), timing([2.0, 3.0, 4.0]), ROLES)
    table = claims_table(units, ROLES)
    gain = table[table["claim"] == "gain_from_3d_terms"]
    assert list(gain["method"]) == ["tensorf"]
    assert gain.iloc[0].estimate == pytest.approx(np.mean(DIFFERENCES["tensorf"]) - 0.1)
    assert gain.iloc[0].ae_sha256 == "igae:sha-igae;control:sha-control"
    no_control = {**ROLES, "control": None}
    without = paired_units(latent_nvs(control_methods=("tensorf",)), timing([2.0]), no_control)
    assert "gain_from_3d_terms" not in set(without["claim"])


def test_write_claims_reads_the_csvs_and_writes_claims_csv(tmp_path):
    latent_nvs().to_csv(tmp_path / "latent_nvs.csv", index=False)
    timing([2.0, 3.0, 4.0]).to_csv(tmp_path / "timing.csv", index=False)
    table, units = write_claims(tmp_path / "latent_nvs.csv", tmp_path / "timing.csv", tmp_path / "claims.csv", ROLES)
    written = pd.read_csv(tmp_path / "claims.csv")
    assert list(written.columns) == CLAIMS_COLUMNS and len(written) == len(table) == 3 * 2 + 2
    assert written.set_index(["claim", "method"]).loc[("igae_beats_standard", "nerfacto"), "verdict"] == "fails"
    assert len(units) == 3 * 6 * 2 + 3 * 2


def test_claim_roles_default_custom_and_unknown():
    tiny = yaml.safe_load(yaml.safe_dump(TINY))
    assert claim_roles(tiny) == {"standard": "standard", "igae": "igae", "control": None}  # no control fitted
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert claim_roles(paper)["standard"] == "ostris"  # no AE named standard: the IG-AE's base
    assert claim_roles(yaml.safe_load((REPO / "config.yaml").read_text()))["control"] == "control"
    tiny["autoencoders"]["mine"] = {**tiny["autoencoders"]["igae"]}
    tiny["benchmark"]["autoencoders"].append("mine")
    tiny["benchmark"]["claims"] = {"igae": "mine", "control": "igae"}
    assert claim_roles(tiny) == {"standard": "standard", "igae": "mine", "control": "igae"}
    tiny["benchmark"]["claims"] = {"control": "contrl"}
    with pytest.raises(ConfigError, match=r"benchmark\.claims\.control = 'contrl' names no autoencoder"):
        check_config(tiny)


def test_the_schema_accepts_claim_roles_and_rejects_unknown_ones():
    schema = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["benchmark"]["claims"] = {"standard": "standard", "control": None}
    validate(config, schema)
    config["benchmark"]["claims"] = {"baseline": "standard"}
    with pytest.raises(Exception, match="baseline"):
        validate(config, schema)


def png_size(path):
    with Image.open(path) as image:
        image.load()
        return image.size


def test_claims_figure_draws_every_claim(tmp_path):
    units = paired_units(latent_nvs({**DIFFERENCES, "vanilla-nerf": [1.0]}), timing([2.0, 3.0, 4.0]), ROLES)
    table = claims_table(units, ROLES, n_boot=200)  # vanilla-nerf: one unit, no interval
    assert interval_label(table) == "90 % BCa"  # what each panel says its interval is
    with pytest.raises(ValueError, match="mixes intervals"):
        interval_label(table.assign(confidence=[0.95] + [0.9] * (len(table) - 1)))
    width, height = png_size(claims_figure(table, units, tmp_path / "claims.png"))
    assert width > 600 and height > 600
    empty = claims_figure(table.iloc[:0], units.iloc[:0], tmp_path / "empty.png")
    assert png_size(empty)[1] < height


def write_curve_run(run_dir, space, ae, scene, psnrs, curve=True):
    metrics = {"space": space, "method": "tensorf", "dataset": "heldout", "scene": scene, "autoencoder": ae}
    if curve:
        metrics["curve"] = [
            {"step": 10 * i, "train_seconds": 1.5 * i, "stage": "fit" if i < 3 else "align", "psnr": p}
            for i, p in enumerate(psnrs)
        ]
        metrics["converged"] = psnrs[-1] - psnrs[-2] < 0.1
    atomic_write_json(run_dir / "metrics.json", metrics)
    return run_dir


def test_convergence_figure_skips_runs_without_a_curve(tmp_path, caplog):
    runs = [
        write_curve_run(tmp_path / "igae0", "latent", "igae", "s0", [10.0, 14.0, 16.0, 17.0, 17.05]),
        write_curve_run(tmp_path / "igae1", "latent", "igae", "s1", [11.0, 15.0, 17.0, 18.0]),  # one point fewer
        write_curve_run(tmp_path / "std0", "latent", "standard", "s0", [9.0, 12.0, 14.0, 15.0, 15.5]),
        write_curve_run(tmp_path / "rgb0", "rgb", None, "s0", [12.0, 18.0, 21.0, 23.0, 24.0]),
        write_curve_run(tmp_path / "old", "rgb", None, "s1", [], curve=False),
    ]
    with caplog.at_level(logging.WARNING, logger="igae.report.figures"):
        out = convergence_figure(runs, tmp_path / "convergence.png")
    assert any("old/metrics.json has no curve" in message for message in caplog.messages)
    width, height = png_size(out)
    assert width > 300 and height > 200
    assert png_size(convergence_figure(runs[-1:], tmp_path / "none.png"))[1] < height  # only a message


def test_ae_reconstruction_figure_has_a_column_per_autoencoder(tmp_path):
    torch.manual_seed(0)
    ae = small_autoencoder(latent_channels=4, block_out_channels=(16, 16, 16, 16))
    card = AutoencoderCard("tiny", "trained", "test", 4, 8, 0.5, [0.5] * 4)
    save_autoencoder(ae, tmp_path / "ae", card)
    rng = np.random.default_rng(0)
    images = []
    for index in range(2):
        path = tmp_path / f"image_{index}.png"
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
        images.append((f"image {index}", path))
    one = ae_reconstruction_figure([("tiny", tmp_path / "ae")], images[:1], tmp_path / "one.png")
    two = ae_reconstruction_figure([("a", tmp_path / "ae"), ("b", tmp_path / "ae")], images, tmp_path / "two.png")
    (one_width, one_height), (two_width, two_height) = png_size(one), png_size(two)
    assert one_width > 300 and one_height > 150
    assert two_width == pytest.approx(one_width * 3 / 2, rel=0.02)
    assert two_height == pytest.approx(one_height * 2, rel=0.02)


def test_a_failed_rgb_reference_is_left_out_and_a_failed_latent_fit_is_kept():
    """RGB nerfacto-style collapse on s4 (below its scene's floor): the latent-vs-RGB claims lose that unit, n drops
    and the note names it. The standard AE's latent fit failed on s2: that is the standard AE's outcome, what
    igae_beats_standard compares, so the unit stays (leaving it out would drop the evidence against the failing AE)."""
    nvs = latent_nvs({"tensorf": DIFFERENCES["tensorf"]}).assign(status="ok")
    nvs.loc[(nvs["scene"] == "s2") & (nvs["autoencoder"] == "standard"), "status"] = "failed"
    times = timing([2.0, 3.0, 4.0, 2.5, 3.5, 3.0]).assign(latent_status="ok", rgb_status="ok")
    times.loc[times["scene"] == "s4", "rgb_status"] = "failed"
    times.loc[times["scene"] == "s1", "latent_status"] = "failed"
    table = claims_table(paired_units(nvs, times, ROLES), ROLES, n_boot=200)
    beats = row(table, "igae_beats_standard", "tensorf")
    assert (beats.n, beats.n_excluded) == (6, 0) and beats.estimate == pytest.approx(np.mean(DIFFERENCES["tensorf"]))
    assert "kept, a fit below its scene's floor being what is compared: s2/seed 0 (latent standard)" in beats.note
    for claim in ("latent_trains_faster", "latent_renders_faster"):  # a failed RGB fit is no reference to time
        result = row(table, claim, "tensorf")
        assert (result.n, result.n_excluded) == (5, 1), claim
        assert "1 of 6 units left out, n reduced to 5: the RGB fit failed" in result.note and "s4/seed 0" in result.note
        assert "s1/seed 0 (latent igae)" in result.note  # kept: it counts against the claim
    faster = row(table, "latent_trains_faster", "tensorf")
    assert faster.estimate == pytest.approx(np.exp(np.mean(np.log([2.0, 3.0, 4.0, 2.5, 3.0]))))
    every_rgb_failed = claims_table(paired_units(nvs, times.assign(rgb_status="failed"), ROLES), ROLES, n_boot=200)
    gone = row(every_rgb_failed, "latent_trains_faster", "tensorf")
    assert (gone.n, gone.n_excluded, gone.verdict) == (0, 6, "inconclusive") and math.isnan(gone.estimate)


def test_units_whose_fits_stopped_for_different_reasons_are_counted_in_the_note():
    times = timing([2.0, 3.0, 4.0, 2.5, 3.5]).assign(latent_stop_reason="converged", rgb_stop_reason="converged")
    times.loc[times["scene"].isin(["s0", "s3"]), "rgb_stop_reason"] = "cap"
    table = claims_table(paired_units(latent_nvs(), times, ROLES), ROLES, n_boot=200)
    assert (
        "2 of 5 units pair fits that stopped for different reasons"
        in row(table, "latent_trains_faster", "tensorf").note
    )
