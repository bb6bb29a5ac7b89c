"""Live prose: result references, cross-references, citations and math are evaluated; nothing else is."""

from __future__ import annotations

import re

import pytest

from reportgen.report.wording.formatting import pct
from reportgen.report.prose.placing import place_math
from reportgen.report.prose.references import Context, Labels, ProseReferenceError, expand
from reportgen.results.record import parse_results

from manifests import BARE, MEASURE, NET, manifest_text


def _ctx(results: dict, **kw) -> Context:
    """The references' context of a build's results (results.json as parsed), typed as the document holds them."""
    labels = Labels(sections={"lr": 4}, figures={"lr": [{"number": 7, "id": "fig-7"}, {"number": 8, "id": "fig-8"}]},
                    tables={"lr": [{"number": 3, "id": "tab-3"}]})
    references = kw.get("references", {"he2016": "K. He et al. *Deep residual learning*. 2016."})
    return Context(parse_results(results), labels, references)


def _shown(source: str, ctx: Context) -> str:
    """Prose expanded, keyed numbers placed, tags dropped: the text a reader sees."""
    return re.sub(r"<[^>]+>", "", place_math(expand(source, ctx), ctx))


def test_result_references_print_the_runs_numbers_formatted(tiny_build):
    r = tiny_build.results
    base = r["runs"]["base"]
    ctx = _ctx(r)
    text = _shown("Base reached @{base.accuracy} (@{base.accuracy:pct1}); lr @{base.lr}; "
                  "@{tiny_cnn.params} parameters; @{dataset.train} training images.", ctx)
    assert pct(base["test"]["accuracy"]) in text and pct(base["test"]["accuracy"], 1) in text
    assert f"lr {base['config']['optimizer']['lr']:g}" in text
    assert f"{r['models']['tiny_cnn']['total_params']:,} parameters" in text
    assert f"{r['dataset']['sizes']['train']:,} training images" in text


def test_each_referenced_number_is_a_span_tied_to_its_results_key(tiny_build):
    r = tiny_build.results
    best = max((run for run in r["runs"].values() if run["test"]["accuracy"] is not None),
               key=lambda run: run["test"]["accuracy"])
    r = {**r, "runs": {rid: {**run, "group": "all"} for rid, run in r["runs"].items()}}
    ctx = _ctx(r)
    html = place_math(expand("@{base.accuracy:pct1}, @{best(all).loss}, @{tiny_cnn.params}, @{dataset.test}, "
                             "@{dataset.classes} classes, @{base.optimizer}", ctx), ctx)
    spans = re.findall(r'<span data-key="([^"]+)" data-fmt="([^"]+)">([^<]*)</span>', html)
    assert [(k, f) for k, f, _ in spans] == [("runs.base.test.accuracy", "pct:1"),
                                             (f"runs.{best['id']}.test.loss", "dec:4"),
                                             ("models.tiny_cnn.total_params", "num"), ("dataset.sizes.test", "num")]
    assert spans[0][2] == pct(r["runs"]["base"]["test"]["accuracy"], 1)
    assert "10 classes" in html and html.endswith(", adam")  # counts and words are plain text, tied to no key


def test_a_number_inside_an_attribute_stays_plain_text(tiny_build):
    ctx = _ctx(tiny_build.results)
    expand("@{base.accuracy}", ctx)
    html = place_math('<img alt="REPORTGENKEY0X"> REPORTGENKEY0X', ctx)
    assert html.startswith('<img alt="' + pct(tiny_build.results["runs"]["base"]["test"]["accuracy"]) + '">')
    assert html.count("<span data-key=") == 1


def test_best_of_an_experiment_names_the_most_accurate_run(tiny_build):
    r = tiny_build.results
    best = max((run for run in r["runs"].values() if run["test"]["accuracy"] is not None),
               key=lambda run: run["test"]["accuracy"])
    r = {**r, "runs": {rid: {**run, "group": "all"} for rid, run in r["runs"].items()}}
    assert expand("@{best(all).id}", _ctx(r)) == best["id"].replace("_", "\\_")


def test_cross_references_and_citations_become_numbered_links(tiny_build):
    ctx = _ctx(tiny_build.results)
    text = expand("See @fig:lr, @fig:lr/2, @tab:lr and @sec:lr [@he2016]; again [@he2016].", ctx)
    assert "[Figure 7](#fig-7)" in text and "[Figure 8](#fig-8)" in text and "[Table 3](#tab-3)" in text
    assert "[Section 4](#sec-4)" in text and text.count("(#ref-1)") == 2 and ctx.cited == ["he2016"]


@pytest.mark.parametrize("source, message", [
    ("x\n  @{nope.accuracy}", "no run, model or `dataset` named 'nope'"),
    ("@{base.colour}", "not 'colour'"),
    ("@{base.accuracy:percent}", "unknown format 'percent'"),
    ("@fig:missing", "no figure in a section labelled 'missing'"),
    ("@fig:lr/3", "has 2 figure(s)"),
    ("[@knuth1984]", "no reference 'knuth1984'"),
])
def test_an_unknown_reference_is_an_error_with_its_position(tiny_build, source, message):
    with pytest.raises(ProseReferenceError) as info:
        expand(source, _ctx(tiny_build.results))
    assert message in str(info.value)
    if source.startswith("x\n"):
        assert (info.value.line, info.value.column) == (2, 3)


def test_code_and_lookalikes_are_left_alone(tiny_build):
    source = "`@{nope.accuracy}` and\n\n```\n@fig:none $x$\n```\n\n{{ 7*7 }} costs $5 and $10, mail a@b.c"
    assert expand(source, _ctx(tiny_build.results)) == source


def test_math_is_drawn_as_svg_after_sanitizing(tiny_build):
    ctx = _ctx(tiny_build.results)
    text = expand("Ratio $\\frac{1}{N} + \\frac{1}{D_K^2}$ here.\n\n$$x^2$$", ctx)
    assert "REPORTGENMATH0X" in text and "REPORTGENMATH1X" in text and len(ctx.math) == 2
    html = place_math("<p>Ratio REPORTGENMATH0X here.</p>\n<p>REPORTGENMATH1X</p>", ctx)
    assert '<span class="math math-inline"><svg' in html and '<div class="math math-display"><svg' in html
    again = _ctx(tiny_build.results)
    expand("Ratio $\\frac{1}{N} + \\frac{1}{D_K^2}$ here.\n\n$$x^2$$", again)
    assert again.math == ctx.math  # deterministic SVG
    twice = _ctx(tiny_build.results)
    expand("$x^2$ and $x^2$", twice)
    ids = [i for svg in twice.math for i in re.findall(r'id="([^"]+)"', svg)]
    assert ids and len(ids) == len(set(ids)), "the same formula twice must not repeat SVG ids"
    with pytest.raises(ProseReferenceError, match="cannot typeset"):
        expand("$\\frac{1}{$ x", _ctx(tiny_build.results))


LIVE = manifest_text(
    BARE, report={"title": "Live prose",
                  "references": {"he2016": "K. He et al. *Deep residual learning for image recognition*. CVPR 2016."}},
    dataset={"image_size": None, "channels": None}, models={"cnn": NET}, train={"batch_size": None, "measure": MEASURE},
    experiments=[{"id": "lr", "model": "cnn", "sweep": {"optimizer.lr": [0.001, 0.01]}}],
    sections=["cover", {"prose": {"file": "live.md"}}, {"comparison": {"experiments": ["lr"], "label": "lr-study"}},
              {"parameters": {"label": "params"}}])
LIVE_MD = """\
# Introduction

The best learning rate was @{best(lr).lr}, reaching @{best(lr).accuracy} (see @fig:lr-study, @tab:lr-study
and @sec:lr-study). The CNN has @{cnn.params} parameters (@tab:params). Residual networks [@he2016] help.

$$\\frac{1}{N} + \\frac{1}{D_K^2}$$
"""


@pytest.mark.slow
def test_live_prose_in_a_build_agrees_with_the_tables_and_fails_on_unknown_names(tmp_path):
    import json

    from bs4 import BeautifulSoup

    from conftest import cli

    (tmp_path / "live.md").write_text(LIVE_MD, "utf-8")
    (tmp_path / "live.yaml").write_text(LIVE, "utf-8")
    result = cli("build", tmp_path / "live.yaml", "--out", tmp_path / "out", "--no-pdf")
    assert result.exit_code == 0, result.output
    r = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))
    best = max(r["runs"].values(), key=lambda run: run["test"]["accuracy"])
    soup = BeautifulSoup((tmp_path / "out" / "report.html").read_text("utf-8"), "html.parser")
    text = " ".join(soup.select_one("section.prose").get_text().split())
    assert f"was {best['config']['optimizer']['lr']:g}, reaching {pct(best['test']['accuracy'])}".replace("\xa0", " ") in text
    assert f"has {r['models']['cnn']['total_params']:,} parameters" in text
    links = {a.get_text(): a["href"] for a in soup.select("section.prose a")}
    for label, href in links.items():
        assert soup.find(id=href[1:]) is not None, f"{label} points nowhere"
    compare = soup.select_one("section.comparison")
    assert links["Figure 1"][1:] == compare.select_one("figure")["id"] and links["[1]"] == "#ref-1"
    assert links["Section 2"] == "#sec-2" and links["Table 3"][1:] == soup.select("section.parameters table")[0]["id"]  # the comparison has two
    assert soup.select_one("section.prose .math-display svg") is not None
    assert "Deep residual learning" in soup.select_one("ol.bibliography li#ref-1").get_text()
    from reportgen.grading.check.command import check_submission  # live numbers are keyed, and check recomputes them

    keys = [span["data-key"] for span in soup.select("section.prose span[data-key]")]
    assert f"runs.{best['id']}.test.accuracy" in keys and "models.cnn.total_params" in keys
    assert not check_submission(tmp_path / "out").findings
    (tmp_path / "live.md").write_text(LIVE_MD.replace("@fig:lr-study", "@fig:nowhere"), "utf-8")
    bad = cli("build", tmp_path / "live.yaml", "--out", tmp_path / "out", "--no-pdf")
    assert bad.exit_code == 2 and f"{tmp_path / 'live.md'}:3:" in bad.output and "'nowhere'" in bad.output
