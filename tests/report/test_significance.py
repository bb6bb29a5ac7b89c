"""Honest comparisons: seed aggregates, paired tests against scipy/statsmodels, the star, and findings that hold up."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from pypdf import PdfReader
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from reportgen.cli import main
from reportgen.report.wording import findings
from reportgen.report.wording.significance import winner
from reportgen.run import statistics
from reportgen.run.paired import compare_runs
from reportgen.run.repeats import repeat_seeds

from manifests import SMALL, manifest_text, variant
from planted import aggregate, paired, planted_model, planted_results, planted_run, planted_summary

PROSE = "Adam: @{adam.accuracy} ± @{adam.accuracy.std} (95 % CI @{adam.accuracy.ci}); best: @{best(sgd).accuracy}."
REPEATS = variant(SMALL, report={"title": "Repeats"}, train={"epochs": 3, "repeats": 3, "measure": None},
                  experiments=[{"id": "adam", "model": "net"},
                               {"id": "sgd", "model": "net", "train": {"optimizer": {"name": "sgd", "lr": 0.05}}}],
                  sections=[{"prose": {"text": PROSE}}, {"training": {"experiments": ["adam"]}}, "comparison",
                            {"results_table": {"columns": ["run", "accuracy", "f1"]}}])
REPEATS_MANIFEST = manifest_text(REPEATS)


# ---- the statistics against the libraries -------------------------------------------------------------------------

@pytest.mark.unit
def test_summary_is_numpy_mean_and_std_with_a_student_t_interval():
    values = [0.91, 0.94, 0.925, 0.9]
    got = statistics.summary(values)
    sem = np.std(values, ddof=1) / math.sqrt(len(values))
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sem)
    assert got["mean"] == pytest.approx(np.mean(values)) and got["std"] == pytest.approx(np.std(values, ddof=1))
    assert (got["ci_low"], got["ci_high"]) == (pytest.approx(low), pytest.approx(high)) and got["interval"] == "t"
    many = statistics.summary(list(np.linspace(0.8, 0.9, 40)))
    assert many["interval"] == "normal" and many["ci_low"] == pytest.approx(
        stats.norm.interval(0.95, loc=0.85, scale=np.std(np.linspace(0.8, 0.9, 40), ddof=1) / math.sqrt(40))[0])
    one = statistics.summary([0.5])
    assert one["mean"] == 0.5 and one["std"] is None and one["ci_low"] is None


def _planted(n: int, a_only: int, b_only: int, both: int, seed: int = 0):
    """Correctness vectors of two classifiers with these agreement counts, shuffled."""
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * (n - both - a_only - b_only), dtype=bool)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * (n - both - a_only - b_only), dtype=bool)
    order = np.random.default_rng(seed).permutation(n)
    return a[order], b[order]


@pytest.mark.unit
@pytest.mark.parametrize("a_only,b_only", [(30, 10), (12, 11), (0, 6), (5, 0)])
def test_mcnemar_and_bootstrap_agree_with_statsmodels_and_scipy(a_only, b_only):
    a, b = _planted(400, a_only, b_only, 300)
    got = statistics.paired_test(a, b)
    table = [[300, a_only], [b_only, 400 - 300 - a_only - b_only]]
    assert got["p"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert got["p"] == pytest.approx(stats.binomtest(min(a_only, b_only), a_only + b_only, 0.5).pvalue)
    assert (got["a_only"], got["b_only"], got["both"]) == (a_only, b_only, 300)
    diff = a.astype(np.int8) - b.astype(np.int8)
    ref = stats.bootstrap((diff,), np.mean, n_resamples=statistics.RESAMPLES, method="percentile",
                          random_state=np.random.default_rng(statistics.BOOTSTRAP_SEED)).confidence_interval
    assert (got["ci_low"], got["ci_high"]) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert got["difference"] == pytest.approx((a_only - b_only) / 400)
    assert got["ci_low"] <= got["difference"] <= got["ci_high"]


@pytest.mark.unit
def test_holm_is_statsmodels_holm():
    ps = [0.01, 0.04, 0.03, 0.2]
    assert statistics.holm(ps) == pytest.approx(list(multipletests(ps, method="holm")[1]))
    assert statistics.holm(ps)[:3] == pytest.approx([0.04, 0.09, 0.09]) and statistics.holm([]) == []


@pytest.mark.unit
def test_predictions_round_trip_and_pairs_only_on_the_same_test_set():
    labels = np.arange(300) % 10
    good = np.where(np.arange(300) % 7 == 0, (labels + 1) % 10, labels)
    bad = np.where(np.arange(300) % 3 == 0, (labels + 1) % 10, labels)
    stored = statistics.encode_predictions(good, labels)
    assert [list(x) for x in statistics.decode_predictions(stored)] == [list(good), list(labels)]
    other = statistics.encode_predictions(bad[:200], labels[:200])
    runs = {"g": {"predictions": stored}, "b": {"predictions": statistics.encode_predictions(bad, labels)},
            "x": {"predictions": other}, "f": {"predictions": None}}
    entry = compare_runs(["g", "b", "x", "f"], runs)
    assert entry["tested"] == ["g", "b"] and entry["excluded"] == ["x", "f"]
    (pair,) = entry["pairs"]
    assert pair["a_only"] == 100 - 15 and pair["p_holm"] == pair["p"] < 1e-6


@pytest.mark.unit
def test_repeat_seeds_start_with_the_runs_own_and_are_stable():
    assert repeat_seeds(7, 1) == [7]
    three, four = repeat_seeds(7, 3), repeat_seeds(7, 4)
    assert three[0] == 7 and four[:3] == three and len(set(four)) == 4


# ---- the star and the findings on planted records -----------------------------------------------------------------

def _run(rid, acc, epochs=(), status="completed", model="m", **extra):
    return planted_run(rid, acc, epochs, status, model, **extra)


def _agg(mean, std, low, high, n=3):
    return aggregate(planted_summary(mean, std, low, high, n))


@pytest.mark.unit
def test_a_tie_within_noise_has_no_clear_winner_and_no_star():
    runs = [_run("a", 0.9167), _run("b", 0.9139)]
    results = planted_results(runs, [paired("a", "b", 0.62, 0.0028, -0.011, 0.017)])
    win = winner(runs, results)
    assert win.best == ["a"] and not win.clear and win.starred == []
    lead = findings.findings(runs, {}, results)[0]
    assert lead.startswith("No clear winner: a (91.67\u00a0%) and the runner-up, b (91.39\u00a0%), are indistinguishable")
    assert "0.28 points (95 % CI -1.10 to 1.70, p = 0.620)" in lead


@pytest.mark.unit
def test_a_clear_win_is_starred_and_stated_with_its_numbers():
    runs = [_run("b", 0.88), _run("a", 0.92)]
    results = planted_results(runs, [paired("b", "a", 0.001, -0.04, -0.06, -0.02)])
    win = winner(runs, results)
    assert win.clear and win.starred == ["a"] and win.basis == "paired"
    lead = findings.findings(runs, {}, results)[0]
    assert lead == ("a has the best test accuracy, 92.00\u00a0%, and beats the runner-up, b (88.00\u00a0%), by 4.00 "
                    "points (95 % CI 2.00 to 6.00, p = 0.001); McNemar's exact test.")


@pytest.mark.unit
def test_with_seeds_the_star_needs_confidence_intervals_that_do_not_overlap():
    apart = [_run("a", 0.9, aggregate=_agg(0.95, 0.004, 0.94, 0.96)), _run("b", 0.9, aggregate=_agg(0.9, 0.01, 0.88, 0.92))]
    assert winner(apart, None).starred == ["a"] and winner(apart, None).basis == "seeds"
    close = [apart[0], _run("b", 0.9, aggregate=_agg(0.93, 0.01, 0.905, 0.955))]
    assert winner(close, None).starred == []
    assert "overlap, so there is no clear winner" in findings.findings(close, {})[0]
    # exact ties without any statistics: both named, neither starred
    tied = winner([_run("x", 0.5), _run("y", 0.5)], None)
    assert tied.best == ["x", "y"] and tied.starred == []


@pytest.mark.unit
def test_a_stalled_run_is_described_as_stalled_and_nothing_more():
    rising = [(2.3026, 2.3020), (2.3025, 2.3030), (2.3024, 2.3050), (2.3023, 2.3080), (2.3022, 2.3100)]
    out = findings.findings([_run("flat", 0.1, rising, status="stalled"), _run("ok", 0.9)], {})
    about = [s for s in out if "flat" in s and not s.startswith("ok has")]
    assert about == ["flat stayed at chance level: its test accuracy is 10.00\u00a0%."]  # no class count: no chance


@pytest.mark.unit
def test_one_noisy_last_epoch_is_not_over_fitting():
    curve = [(2.0, 1.5), (1.0, 0.8), (0.6, 0.5), (0.4, 0.3), (0.3, 0.2), (0.25, 0.15), (0.2, 0.12), (0.18, 0.1),
             (0.15, 0.09), (0.13, 0.08), (0.12, 0.07), (0.11, 0.06), (0.1, 0.05), (0.09, 0.017), (0.08, 0.0296)]
    assert findings.overfitting(_run("sgd", 0.97, curve)) is None


@pytest.mark.unit
def test_real_over_fitting_is_reported_with_the_numbers_it_rests_on():
    curve = [(2.0, 1.6), (1.2, 1.0), (0.8, 0.7), (0.5, 0.62), (0.35, 0.66), (0.25, 0.74), (0.18, 0.83), (0.12, 0.93)]
    sentence = findings.overfitting(_run("big", 0.8, curve))
    assert sentence is not None and "over-fitting from epoch 5." in sentence
    assert "was lowest at epoch 4 (0.6600)" in sentence and "training loss fell from 0.5000 to 0.1200" in sentence
    # the same curve on a diverged or stalled run is no over-fitting
    assert findings.overfitting(_run("big", 0.8, curve, status="stalled")) is None
    # a flat, noisy validation loss around a plateau is not either
    noisy = [(1.0 - 0.1 * i, 0.5 + (0.02 if i % 2 else -0.02)) for i in range(9)]
    assert findings.overfitting(_run("flat", 0.8, noisy)) is None


@pytest.mark.unit
def test_efficiency_only_compares_networks_of_different_sizes():
    same = [_run("a", 0.9), _run("b", 0.8)]
    assert findings.efficiency(same, {"m": planted_model(1000)}) is None
    mixed = same + [_run("c", 0.95, model="big")]
    text = findings.efficiency(mixed, {"m": planted_model(1000), "big": planted_model(2_000_000)})
    assert text.startswith("Accuracy per million parameters, best run of each network size: a (m), 90.00")
    assert "c (big), 95.00\u00a0% with 2,000,000 parameters (2.00 M), 47.5 % per million" in text


# ---- a repeats build, read back -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def repeats_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("repeats")
    (root / "m.yaml").write_text(REPEATS_MANIFEST)
    result = CliRunner().invoke(main, ["build", str(root / "m.yaml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = root / "output" / "m"
    return {"root": root, "out": out, "log": result.output, "results": json.loads((out / "results.json").read_text())}


@pytest.mark.slow
def test_repeats_build_stores_every_seed_and_aggregates_equal_numpy(repeats_build):
    results = repeats_build["results"]
    assert "trained 6 run(s)" in repeats_build["log"]
    for rid in ("adam", "sgd"):
        run = results["runs"][rid]
        seeds = run["repeats"]
        assert [s["seed"] for s in seeds] == repeat_seeds(0, 3) and run["config"]["repeats"] == 3
        assert seeds[0]["test"] == run["test"] and "predictions" not in json.dumps(run)
        accs = [s["test"]["accuracy"] for s in seeds]
        agg = run["aggregate"]["accuracy"]
        assert agg["values"] == accs and agg["mean"] == pytest.approx(np.mean(accs))
        assert agg["std"] == pytest.approx(np.std(accs, ddof=1))
        low, high = stats.t.interval(0.95, 2, loc=np.mean(accs), scale=np.std(accs, ddof=1) / math.sqrt(3))
        assert (agg["ci_low"], agg["ci_high"]) == (pytest.approx(low), pytest.approx(high))
        final = [s["epochs"][-1]["val_loss"] for s in seeds]
        assert run["aggregate"]["val_loss"]["mean"] == pytest.approx(np.mean(final))
        assert len(run["aggregate"]["curves"]["val_loss"]["std"]) == 3
    (entry,) = results["paired"]
    assert entry["runs"] == ["adam", "sgd"] and len(entry["pairs"]) == 1


@pytest.mark.slow
def test_repeats_report_shows_mean_and_std_bands_error_bars_and_intervals(repeats_build):
    results, out = repeats_build["results"], repeats_build["out"]
    soup = BeautifulSoup((out / "report.html").read_text(), "html.parser")
    rows = soup.select("section.comparison table.compare tbody tr")
    for row in rows:
        agg = results["runs"][row["data-run"]]["aggregate"]["accuracy"]
        cell = row.select_one('td[data-metric="cmp-accuracy"]')
        keys = [s["data-key"] for s in cell.select("span[data-key]")]
        assert keys == [f"runs.{row['data-run']}.aggregate.accuracy.mean", f"runs.{row['data-run']}.aggregate.accuracy.std"]
        assert "±" in cell.text and f"{agg['std'] * 100:.2f}" in cell.text
    note = soup.select_one("section.comparison .table-note").text
    assert "95 % confidence intervals of the mean test accuracy" in note and "(3 seeds)" in note
    pairs = soup.select("section.comparison table.pairs tbody tr")
    assert [r["data-pair"] for r in pairs] == ["adam | sgd"]
    figs = {f["data-key"].split("/")[0]: f for f in soup.select("section.comparison figure.figure")}
    assert "FillBetweenPolyCollection" in str(figs["cmp"]) and "LineCollection" in str(figs["bars"])
    assert "Error bars: 95 % confidence interval" in figs["bars"].figcaption.text
    training = soup.select_one("section.training")
    assert "Epoch log of adam (its first seed, 0, of 3)" in [c.text.split(". ", 1)[1] for c in training.select("caption")]
    seeds = ", ".join(str(s) for s in repeat_seeds(0, 3))
    assert f"{seeds} (3 repeats" in training.get_text(" ")
    prose = soup.select_one("section.prose p")
    keys = [s["data-key"] for s in prose.select("span[data-key]")]
    assert keys[:4] == ["runs.adam.aggregate.accuracy.mean", "runs.adam.aggregate.accuracy.std",
                        "runs.adam.aggregate.accuracy.ci_low", "runs.adam.aggregate.accuracy.ci_high"]
    text = " ".join(page.extract_text() for page in PdfReader(str(out / "report.pdf")).pages)
    mean, std = results["runs"]["adam"]["aggregate"]["accuracy"]["mean"], results["runs"]["adam"]["aggregate"]["accuracy"]["std"]
    assert re.search(rf"{mean * 100:.2f}\s*%\s*±\s*{std * 100:.2f}", text) and "Paired differences" in text
    check = CliRunner().invoke(main, ["check", str(out)])
    assert check.exit_code == 0, check.output


@pytest.mark.slow
def test_a_fourth_repeat_trains_only_the_new_seed(repeats_build):
    manifest = repeats_build["root"] / "m.yaml"
    result = CliRunner().invoke(main, ["build", str(manifest), "--no-pdf", "--set", "train.repeats=4"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "trained 2 run(s), 6 cached" in result.output
    assert re.findall(r"\] (\S+): training", result.output) == ["adam#4", "sgd#4"]


def test_a_seed_statistic_of_a_run_without_repeats_is_a_located_error_before_training(tmp_path):
    adam, sgd = REPEATS["experiments"]
    prose = {"prose": {"text": PROSE.replace("best: @{best(sgd).accuracy}.", "sgd: @{sgd.accuracy.ci}.")}}
    text = manifest_text(REPEATS, experiments=[adam, {**sgd, "train": {**sgd["train"], "repeats": 1}}],
                         sections=[prose, *REPEATS["sections"][1:]])
    (tmp_path / "m.yaml").write_text(text)
    result = CliRunner().invoke(main, ["build", str(tmp_path / "m.yaml"), "--no-pdf"])
    assert result.exit_code == 2, result.output
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "@{sgd.accuracy.ci}" in t)
    assert f"m.yaml:{line}:" in result.output and "sgd has no repeats (set train.repeats ≥ 2): no .ci of accuracy" \
        in result.output
    assert ": training " not in result.output and not (tmp_path / "output").exists()


@pytest.mark.unit
def test_an_interval_cut_at_0_or_100_percent_says_so():
    from reportgen.report.document.tree import plain
    from reportgen.report.document.views.comparison import confidence_note
    from reportgen.run.statistics import summary

    accs = {"wild": [0.9861, 0.1016, 0.0016], "steady": [0.9861, 0.9722, 0.9792], "perfect": [1.0, 1.0, 1.0]}
    runs = [planted_run(rid, values[0], aggregate=aggregate(summary(values, (0, 1)))) for rid, values in accs.items()]
    note = plain(confidence_note(planted_results(runs), runs))
    low, high = stats.t.interval(0.95, 2, loc=np.mean(accs["wild"]), scale=np.std(accs["wild"], ddof=1) / math.sqrt(3))
    assert low < 0 < 1 < high  # the t interval itself reaches past both ends
    cut = "with 3 seeds the t interval reaches past 0\u00a0% and 100\u00a0%, and is cut there"
    assert f"wild: 0.00\u00a0%–100.00\u00a0% (3 seeds; {cut})" in note
    assert note.count("cut there") == 1  # steady's interval is inside 0–100 %; perfect's is 100 % with no spread
    assert "perfect: 100.00\u00a0%–100.00\u00a0% (3 seeds)" in note
    high_only = planted_run("high", 0.999, aggregate=aggregate(summary([0.999, 0.95, 0.999], (0, 1))))
    note = plain(confidence_note(planted_results([high_only]), [high_only]))
    assert "(3 seeds; with 3 seeds the t interval reaches past 100\u00a0%, and is cut there)" in note
