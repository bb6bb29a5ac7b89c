"""Every page fits and works for everyone: no text off a PDF page, no screen that scrolls sideways, no word broken
inside, nothing axe-core finds against WCAG 2.1 AA (light and dark), blocks that fold by keyboard, a tagged PDF."""

from __future__ import annotations

import io

import pypdf
import pytest

from browser import needs_axe, open_page
from conftest import REPO, cli
from pdf_layout import text_outside
from golden import golden_manifest, golden_results
from reportgen.report.document import assemble as document
from reportgen.report.figures import draw as figures
from reportgen.report.figures.cache import FigureCache
from reportgen.report.writers import html as render
from reportgen.report.writers import pdf
from reportgen.results.record import parse_results

PACKS = ("assignment", "paper", "lab")
WIDTHS = (390, 1280)


@pytest.fixture(scope="module")
def documents() -> dict[str, dict]:
    """The committed golden results' document in each pack, with its real figures."""
    loaded, results = golden_manifest(), golden_results()
    figs = figures.draw_all(parse_results(results), loaded.sections, FigureCache(None, raster=True))  # as a build
    return {pack: document.build(parse_results(results | {"report": results["report"] | {"template": pack}}),
                                 loaded.sections, figs, loaded.base_dir) for pack in PACKS}


def _tags(node, kinds: dict, alts: list) -> None:
    """Count the structure elements of a tagged PDF by kind and collect the figures' alternative texts."""
    node = node.get_object()
    if isinstance(node, pypdf.generic.ArrayObject):
        for kid in node:
            _tags(kid, kinds, alts)
    elif isinstance(node, pypdf.generic.DictionaryObject):
        kind = node.get("/S")
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "/Figure" and "/Alt" in node:
            alts.append(str(node["/Alt"]))
        if "/K" in node:
            _tags(node["/K"], kinds, alts)


def tagged(data: bytes) -> tuple[str, dict, list[str]]:
    """A PDF's language, its structure elements by kind and its figures' alternative texts."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    root, kinds, alts = reader.trailer["/Root"], {}, []
    _tags(root["/StructTreeRoot"]["/K"], kinds, alts)
    return str(root.get("/Lang")), kinds, alts


@pytest.mark.parametrize("pack", PACKS)
def test_no_text_lands_outside_the_text_area_of_a_pdf_page(pack, documents):
    data = pdf.render_pdf(render.render_html(documents[pack], medium="print"))
    assert text_outside(data, pack) == {}
    lang, kinds, alts = tagged(data)
    assert lang == "en"  # tagged (PDF/UA-1): tables with header cells, the figures with their alternatives
    assert kinds["/Table"] >= len(documents[pack]["tables"]) and kinds["/TH"] and kinds["/Caption"]
    assert alts == [f["alt"] for f in documents[pack]["figures"]] and all(a.strip() for a in alts)


@pytest.mark.slow
@needs_axe
@pytest.mark.parametrize("pack", PACKS)
@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_fits_every_screen_and_passes_axe(pack, width, documents):
    page = open_page(render.render_html(documents[pack]), width)
    assert page["width"] == width
    assert page["scrollWidth"] <= page["clientWidth"] and page["outside"] == [], "wide tables scroll in a box"
    assert page["broken"] == [], "words break between words or at an id's separators, never inside"
    assert page["violations"] == []


@pytest.mark.slow
@needs_axe
def test_the_dark_palette_passes_axe(documents):
    page = open_page(render.render_html(documents["assignment"]), 1280, dark=True)
    assert page["dark"] is True and page["violations"] == []


@pytest.mark.slow
@needs_axe
def test_blocks_fold_by_keyboard_and_a_real_report_fits(tmp_path):
    """fashion-mnist's residual blocks: each folds by its own box, which the keyboard reaches."""
    out = tmp_path / "fm"
    result = cli("build", REPO / "experiments" / "fashion-mnist.yaml", "--smoke", "--out", out)
    assert result.exit_code == 0, result.output
    assert text_outside(out / "report.pdf") == {}
    page = open_page(out / "report.html", 390)
    assert page["scrollWidth"] <= page["clientWidth"] and page["outside"] == [] and page["violations"] == []
    folds = page["folds"]
    assert [f["label"] for f in folds] == ["res1", "res2", "stem", "block1", "block2"]
    assert all(f["tabbable"] and f["focused"] and f["hidden"] > 0 and f["exact"] and f["restored"] for f in folds)
