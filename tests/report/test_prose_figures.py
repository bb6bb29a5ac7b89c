"""Prose images as figures: `![Caption](f.png){#fig:label width=60%}` numbered with the document's figures, linked
by `@fig:label`, sized, sanitized, with located console warnings for refused images; real renders read back."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image

from reportgen import build
from reportgen.report.prose import markdown as prose
from reportgen.report.document.views.prose import ProseWarnings

from conftest import cli
from manifests import TINY, manifest_text

INTRO = """\
# Introduction

As @fig:sample shows (and @fig:intro, the section's first figure, and @fig:intro/2, its second):

![A *sample* image](img/sample.png){#fig:sample width=60%}

![Second, unlabelled](img/sample.png){}

An inline image stays inline: ![inline](img/sample.png).
"""

LATER = """\
# Later

The late figure @fig:late follows every figure of the sections before it.

![The late figure](img/sample.png){#fig:late}
"""

SECTIONS = [{"prose": {"file": "intro.md", "label": "intro"}} if s == {"prose": {"file": "intro.md"}} else s
            for s in TINY["sections"]]  # the tiny manifest's, the intro labelled
AFTER = SECTIONS.index("comparison") + 1
WITH_LATER = manifest_text(sections=SECTIONS[:AFTER] + [{"prose": {"file": "later.md"}}] + SECTIONS[AFTER:])


def png(size=(60, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def copy_build(tiny_build, tmp_path: Path, manifest: str = WITH_LATER, intro: str = INTRO, later: str = LATER) -> Path:
    """The tiny build's folder (results and caches) in tmp, with new prose: prose is rendered, never trained."""
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_build.manifest.parent, folder)
    (folder / "img").mkdir(exist_ok=True)
    (folder / "img" / "sample.png").write_bytes(png())
    (folder / "intro.md").write_text(intro, "utf-8")
    (folder / "later.md").write_text(later, "utf-8")
    (folder / tiny_build.manifest.name).write_text(manifest, "utf-8")
    return folder / tiny_build.manifest.name


def render(manifest: Path, *extra: str):
    return cli("render", manifest, "--out", manifest.parent / "out", *extra)


def figure_numbers(soup: BeautifulSoup) -> list[int]:
    return [int(f["id"].removeprefix("fig-")) for f in soup.find_all("figure")]


def test_prose_figures_are_numbered_in_document_order_linked_and_sized(tiny_build, tmp_path):
    manifest = copy_build(tiny_build, tmp_path)
    result = render(manifest)
    assert result.exit_code == 0, result.output
    html = (manifest.parent / "out" / "report.html").read_text("utf-8")
    soup = BeautifulSoup(html, "html.parser")
    # one numbering for section and prose figures: 1..N in document order, ids unique
    assert figure_numbers(soup) == list(range(1, len(soup.find_all("figure")) + 1))
    sample = soup.find("figure", id="fig-1")
    assert sample["class"] == ["figure", "prose-figure"]
    assert sample["style"] == "width:60%;margin-left:auto;margin-right:auto"
    assert sample.img["src"].startswith("data:image/png;base64,") and sample.img["style"] == "width:100%"
    assert sample.figcaption.get_text(" ", strip=True) == "Figure 1. A sample image"
    assert sample.figcaption.em.get_text() == "sample"
    second = soup.find("figure", id="fig-2")
    assert "style" not in second.attrs and second.figcaption.get_text(" ", strip=True) == "Figure 2. Second, unlabelled"
    assert soup.find("figure", id="fig-3")["data-key"]  # the training section's first figure comes next
    intro = soup.find("figure", id="fig-1").find_parent("section")
    links = [(a["href"], a.get_text()) for a in intro.find_all("a") if a["href"].startswith("#fig-")]
    assert links == [("#fig-1", "Figure 1"), ("#fig-1", "Figure 1"), ("#fig-2", "Figure 2")]
    assert intro.find("img", alt="inline").find_parent("p")  # no attribute block: an inline image, as before
    late = soup.find("figure", class_="prose-figure", id=lambda i: i not in ("fig-1", "fig-2"))
    n = int(late["id"].removeprefix("fig-"))
    assert n == len(soup.find_all("figure")) and late.figcaption.get_text(" ", strip=True) == f"Figure {n}. The late figure"
    assert soup.find("a", href=f"#fig-{n}").get_text() == f"Figure {n}"
    assert "warning:" not in result.output

    from pypdf import PdfReader
    # the PDF: the same numbers, captions and links
    text = "\n".join(p.extract_text() for p in PdfReader(str(manifest.parent / "out" / "report.pdf")).pages)
    flat = re.sub(r"\s+", " ", text)
    assert "Figure 1. A sample image" in flat and "Figure 2. Second, unlabelled" in flat
    assert f"Figure {n}. The late figure" in flat and "As Figure 1 shows" in flat


def test_a_duplicate_figure_label_is_an_error_naming_both_places(tiny_build, tmp_path):
    twice = INTRO + "\n![Again](img/sample.png){#fig:sample}\n"
    manifest = copy_build(tiny_build, tmp_path, intro=twice)
    result = render(manifest, "--no-pdf")
    assert result.exit_code == 2
    assert re.search(r"intro\.md:11:1: figure label 'sample' is already the label of the figure at \S*intro\.md:5:1",
                     result.output), result.output
    clash = INTRO.replace("{#fig:sample width=60%}", "{#fig:intro}")  # the prose section's own label
    manifest = copy_build(tiny_build, tmp_path / "b", intro=clash)
    result = render(manifest, "--no-pdf")
    assert result.exit_code == 2 and "figure label 'intro' is already the label of section" in result.output


HOSTILE = [
    '{#fig:x" onload="alert(1) width=60%}',
    '{#fig:ok width="60%;background:url(http://evil.example/x)"}',
    '{#fig:ok style="position:fixed;top:0" .evil class=x onerror=alert(1)}',
    '{#fig:ok width=60%"><script>alert(1)</script>}',
    '{#fig:ok width=5%} ',
    "{#fig:ok width=1000%}",
    "{#fig:ok width=60px}",
    '{#fig:</figcaption><img src=x onerror=alert(1)> width=50%}',
    "{#fig:ok id=fig-999 width=50%}",
]


@pytest.mark.unit
@pytest.mark.parametrize("block", HOSTILE)
def test_hostile_attribute_blocks_never_reach_the_markup(block):
    text = f"![Cap](a.png){block}\n"
    found = prose.find_figures(text)
    notes: list = []
    html = prose.to_html(text, figures={f.line: {"number": 7, "width": f.width} for f in found}, notes=notes)
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find_all(["script", "style", "iframe", "object", "embed", "link", "svg", "base"])
    for el in soup.find_all(True):
        assert not [a for a in el.attrs if a.lower().startswith("on")], el
        assert set(el.attrs) <= {"id", "class", "style", "src", "alt", "href", "rel", "title"}, el
    [spec] = found  # every block is a figure's attribute block: the figure stays, with only what is allowed
    fig = soup.find("figure")
    assert fig["id"] == "fig-7" and fig["class"] == ["figure", "prose-figure"]
    if spec.width is None:  # an ignored width: the figure keeps its natural width
        assert "style" not in fig.attrs
    else:
        assert fig["style"] == f"width:{spec.width}%;margin-left:auto;margin-right:auto"
        assert 10 <= spec.width <= 100
    assert "evil.example" not in html and "position:fixed" not in html and "fig-999" not in html
    assert spec.problems  # every hostile block is noted as ignored


@pytest.mark.unit
def test_sanitizer_drops_figure_attributes_it_did_not_write():
    dirty = ('<figure id="fig-1 x" class="figure evil" style="width:5%;margin-left:auto;margin-right:auto">'
             '<img src="data:image/png;base64,AAAA" style="width:1000px"><figcaption class="x">c</figcaption></figure>')
    clean = BeautifulSoup(prose.sanitize(dirty), "html.parser")
    assert clean.figure.attrs == {"class": ["figure"]} and "style" not in clean.img.attrs
    assert clean.figcaption.attrs == {}


def test_refused_images_print_located_warnings_and_fail_under_strict(tiny_build, tmp_path):
    intro = INTRO + ("\nAn SVG ![drawing](x.svg) and a fake ![fake](fake.png).\n\n"
                     "![Remote](https://example.org/a.png){#fig:remote width=wide}\n")
    manifest = copy_build(tiny_build, tmp_path, intro=intro)
    (manifest.parent / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>')
    (manifest.parent / "fake.png").write_text("not an image")
    result = render(manifest, "--no-pdf")
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"warning: \S*intro\.md:11:8: image 'x\.svg' refused: SVG images are not embedded", out), out
    assert re.search(r"warning: \S*intro\.md:11:37: image 'fake\.png' refused: not a PNG, JPEG, GIF or WebP", out)
    assert re.search(r"warning: \S*intro\.md:13:1: image 'https://example\.org/a\.png' refused: remote images", out)
    assert re.search(r"warning: \S*intro\.md:13:1: figure attribute 'width=wide' ignored", out)
    soup = BeautifulSoup((manifest.parent / "out" / "report.html").read_text("utf-8"), "html.parser")
    remote = soup.find("figcaption", string=None, recursive=True)
    assert any("image not embedded: SVG" in s.get_text() for s in soup.select("span.image-refused"))
    assert remote is not None and soup.find("a", href=lambda h: h and "example.org/a.png" in h) is None

    pipe = build.Pipeline.open(manifest, out_dir=manifest.parent / "out", models=None)  # the hook --strict uses:
    results = pipe.recorded()  # render(strict=True) raises them all at once
    with pytest.raises(ProseWarnings) as err:
        pipe.render(results, with_pdf=False, strict=True)
    assert len(err.value.warnings) == 4 and pipe.outcome.warnings == err.value.warnings


@pytest.mark.unit
def test_a_missing_image_is_noted_with_its_position():
    notes: list = []
    html = prose.to_html("Text\n\nsee ![gone](nope.png) here\n", base_dir=Path("/nonexistent-dir-for-test"),
                         notes=notes)
    assert notes == [(3, 5, "image 'nope.png' refused: file not found: nope.png")]
    assert "image not embedded: file not found" in html
