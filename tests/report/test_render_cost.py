"""Rendering cost: figures are drawn once per result and cached under OUT/cache/figures; the PDF gets PNG figures."""

from __future__ import annotations

import io
import json
import re
import shutil

import pytest
from pypdf import PdfReader

from reportgen import build
from reportgen.report.figures.cache import RASTER_DPI

FIGURE = re.compile(r'<figure [^>]*data-key="([^"]+)">(.*?)</figure>', re.DOTALL)


def _figures(html: str) -> dict[str, str]:
    """Each figure's markup (SVG and caption) by its key."""
    return {m[1]: m[2] for m in FIGURE.finditer(html)}


def _copy(tiny_build, tmp_path):
    """The tiny build's manifest folder and output (run cache, figure cache) copied, so the session's stays as is."""
    folder = shutil.copytree(tiny_build.manifest.parent, tmp_path / "tiny")
    return folder / tiny_build.manifest.name, folder / tiny_build.out.name


def _rebuild(manifest, out, *overrides: str, with_pdf: bool = True):
    """`reportgen build` through the pipeline's stages: (outcome, rendered files)."""
    pipe = build.Pipeline.open(manifest, overrides, out)
    results = pipe.run(lambda *args, **kwargs: None)
    return pipe.outcome, pipe.render(results, with_pdf=with_pdf)


@pytest.mark.slow
def test_prose_and_template_changes_draw_no_figure_and_train_nothing(tiny_build, tmp_path):
    manifest, out = _copy(tiny_build, tmp_path)
    before = _figures(tiny_build.html)
    assert len(before) == 12
    (manifest.parent / "intro.md").write_text("# Introduction\n\nRewritten prose, nothing else.\n", "utf-8")
    outcome, files = _rebuild(manifest, out)
    assert (outcome.trained, outcome.cached) == (0, 3)
    assert outcome.figures == {"drawn": 0, "cached": 12}
    html = files[out / "report.html"].decode("utf-8")
    assert "Rewritten prose, nothing else." in html
    assert _figures(html) == before  # the very same SVG, byte for byte

    # the PDF shows each figure as a PNG at print resolution, as wide as the HTML's vector figure
    reader = PdfReader(io.BytesIO(files[out / "report.pdf"]))
    images = {x.idnum: x.get_object() for page in reader.pages  # pages share one resource dictionary
              for x in (page["/Resources"].get("/XObject") or {}).values() if x.get_object()["/Subtype"] == "/Image"}
    widths_px = sorted(x["/Width"] for x in images.values())
    widths_pt = sorted(float(m) for m in re.findall(r'<svg [^>]*?width="([\d.]+)pt"', "".join(before.values())))
    assert len(widths_px) == len(widths_pt) == 12
    assert all(abs(px - pt / 72 * RASTER_DPI) <= 2 for px, pt in zip(widths_px, widths_pt))
    assert all(f.lstrip().startswith("<svg") for f in _figures(html).values()) and "<img" not in html

    # a template override changes the markup, not the figures
    override = manifest.parent / "templates" / "sections"
    override.mkdir(parents=True)
    (override / "repository.html.j2").write_text('<section class="repository"><p>Code lives elsewhere.</p>'
                                                 "</section>\n", "utf-8")
    outcome, files = _rebuild(manifest, out, with_pdf=False)
    html = files[out / "report.html"].decode("utf-8")
    assert "Code lives elsewhere." in html
    assert outcome.trained == 0 and outcome.figures == {"drawn": 0, "cached": 12}
    assert _figures(html) == before


@pytest.mark.slow
def test_changed_result_redraws_only_its_figures(tiny_build, tmp_path):
    manifest, out = _copy(tiny_build, tmp_path)
    outcome, files = _rebuild(manifest, out, "experiments.sgd.train.epochs=1", with_pdf=False)
    assert (outcome.trained, outcome.cached) == (1, 2)
    # sgd's curves and confusion matrix, and the comparison's three figures (which show every run)
    assert outcome.figures == {"drawn": 6, "cached": 6}
    before, after = _figures(tiny_build.html), _figures(files[out / "report.html"].decode("utf-8"))
    assert sorted(k for k in before if before[k] != after[k]) == [
        "acc/5/sgd", "bars/7", "cm/6/sgd", "cmgrid/7", "cmp/7", "loss/5/sgd"]


@pytest.mark.slow
def test_corrupt_figure_cache_entry_is_redrawn(tiny_build, tmp_path):
    manifest, out = _copy(tiny_build, tmp_path)
    entries = sorted((out / "cache" / "figures").glob("*.json"))
    assert len(entries) == 12 and not list(entries[0].parent.glob("*.tmp"))
    truncated, tampered = entries[0], entries[1]
    truncated.write_bytes(truncated.read_bytes()[:1000])
    record = json.loads(tampered.read_text("utf-8"))
    tampered.write_text(json.dumps(record | {"svg": record["svg"].replace("<path", "<path fill='red'", 1)}), "utf-8")
    outcome, files = _rebuild(manifest, out)
    assert outcome.figures == {"drawn": 2, "cached": 10}
    assert _figures(files[out / "report.html"].decode("utf-8")) == _figures(tiny_build.html)
    assert json.loads(tampered.read_text("utf-8")) == record  # drawn again: the same bytes as drawn first
    assert json.loads(truncated.read_text("utf-8"))["key"] == truncated.stem
    outcome, _ = _rebuild(manifest, out, with_pdf=False)
    assert outcome.figures == {"drawn": 0, "cached": 12}
