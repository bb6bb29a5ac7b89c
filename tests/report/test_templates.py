"""Template packs (assignment, paper, lab), override folders and the sandbox, from fixed results: no training."""

# Every pack's HTML and stylesheet is snapshot-tested (syrupy: tests/report/__snapshots__/test_templates.ambr), so a template
# change shows as a diff. After an intended change, review the diff, then: python -m pytest tests/report/test_templates.py
# --snapshot-update

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from golden import loaded, record, results  # noqa: F401 (fixtures)
from reportgen.report.document import assemble as document
from reportgen.report.figures import draw as figures
from reportgen.report.figures.cache import Entry
from reportgen.report.writers import html as render
from reportgen.errors import UserError
from reportgen.report.wording.formatting import pct, secs
from reportgen.results.record import Results, parse_results, parse_run

pytestmark = pytest.mark.unit  # torch-free, from the committed golden results: the unit tier runs it with torch blocked

PACKS = ("assignment", "paper", "lab")
WIDE_IN_PAPER = ("parameters", "comparison", "results-table", "tradeoff")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


@pytest.fixture(scope="module")
def figs(record, loaded) -> dict[str, str]:
    """The real figures (deterministic SVG), drawn once."""
    return figures.draw_all(record, loaded.sections)


def _with(results: dict, pack: str, paper: str = "a4") -> Results:
    return parse_results(results | {"report": results["report"] | {"template": pack, "paper": paper}})


def _html(results, loaded, figs, pack: str, paper: str = "a4", override: Path | None = None) -> str:
    doc = document.build(_with(results, pack, paper), loaded.sections, figs, loaded.base_dir)
    return render.render_html(doc, override)


def _stubs(figs: dict[str, Entry]) -> dict[str, Entry]:
    """Each figure as an empty, named SVG with its text alternative: snapshots follow the templates and the figures'
    words, not matplotlib's drawing."""
    return {key: Entry(f'<svg class="figure-stub" data-figure="{key}"></svg>', b"", fig.alt)
            for key, fig in figs.items()}


def _readable(html: str) -> str:
    """The HTML without its stylesheet and embedded JSON (snapshotted or tested elsewhere)."""
    html = re.sub(r"(<style>).*?(</style>)", r"\1/* the pack's stylesheet: see the stylesheet snapshots */\2", html,
                  count=1, flags=re.DOTALL)
    return re.sub(r'(<script type="application/json"[^>]*>)(.*?)(</script>)',
                  lambda m: f"{m[1]}[embedded JSON, {len(m[2]):,} characters]{m[3]}", html, flags=re.DOTALL)


@pytest.fixture(scope="module")
def soups(results, loaded, figs) -> dict[str, BeautifulSoup]:
    """Each pack's report, parsed."""
    return {pack: BeautifulSoup(_html(results, loaded, figs, pack), "html.parser") for pack in PACKS}


# ---- the fixture itself ------------------------------------------------------------------------------------------

def test_fixture_numbers_agree_with_each_other(results):
    """The fixture was checked by hand; these are the checks, so a regenerated fixture gets them too."""
    model = results["models"]["tiny_cnn"]
    # 1×4×3×3+4 (conv) + 2×4 (BatchNorm γ, β) + 64×16+16 (fc1) + 16×10+10 (fc2)
    assert [layer["params"] for layer in model["layers"] if layer["params"]] == [40, 8, 1040, 170]
    assert model["total_params"] == sum(layer["params"] for layer in model["layers"]) == 1258
    assert model["keras_total_params"] == 1258 + model["buffer_params"] == 1266
    assert list(results["runs"]) == ["adam", "sgd"]
    for run in results["runs"].values():
        test, cm = run["test"], run["test"]["confusion_matrix"]
        assert run["status"] == "completed" and len(run["epochs"]) == run["config"]["epochs"] == 2
        assert sum(map(sum, cm)) == test["support"] == results["dataset"]["sizes"]["test"] == 360
        assert test["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(len(cm))) / test["support"])
        assert [c["support"] for c in test["per_class"]] == [sum(row) for row in cm]
        assert run["measured"]["params"] == model["total_params"]
        assert run["measured"]["macs"] == 4 * 8 * 8 * 9 + 64 * 16 + 16 * 10  # BatchNorm and pooling not counted
    assert results["runs"]["adam"]["test"]["accuracy"] == pytest.approx(309 / 360)
    assert results["runs"]["sgd"]["test"]["accuracy"] == pytest.approx(181 / 360)


# ---- snapshots ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pack", PACKS)
def test_html_snapshot(pack, results, loaded, figs, snapshot):
    assert _readable(_html(results, loaded, _stubs(figs), pack)) == snapshot


@pytest.mark.parametrize("pack", PACKS)
def test_stylesheet_snapshot(pack, snapshot):
    assert render.stylesheet(render.environment(pack), "a4") == snapshot


def _declaration_set(css: str) -> set[tuple[str, str, str, str]]:
    """(media, selector, property, value) of every declaration, @media blocks included."""
    import tinycss2

    def walk(rules, media=""):
        for rule in rules:
            if rule.type == "qualified-rule":
                for d in tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True):
                    if d.type == "declaration":
                        yield (media, tinycss2.serialize(rule.prelude).strip(), d.lower_name,
                               tinycss2.serialize(d.value).strip() + (" !important" if d.important else ""))
            elif rule.type == "at-rule" and rule.lower_at_keyword == "media":
                yield from walk(tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True),
                                tinycss2.serialize(rule.prelude).strip())

    return set(walk(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)))


def test_packs_share_one_base_stylesheet_and_hold_only_their_differences():
    root = render.templates_root()
    base = _declaration_set((root / "base" / "style.css").read_text("utf-8"))
    own = {pack: _declaration_set((root / pack / "style.css").read_text("utf-8")) for pack in PACKS}
    assert base and all(own.values())
    assert {pack: sorted(own[pack] & base) for pack in PACKS} == {pack: [] for pack in PACKS}
    shared = set.intersection(*own.values())  # the same declaration in every pack belongs in the base ...
    assert shared <= {("print", "body", "max-width", "none")}  # ... unless it must follow a pack's own rule


@pytest.mark.parametrize("pack", PACKS)
def test_letter_changes_only_the_page_size(pack, snapshot):
    env = render.environment(pack)
    a4, letter = render.stylesheet(env, "a4"), render.stylesheet(env, "letter")
    changed = [line for line in difflib.unified_diff(a4.splitlines(), letter.splitlines(), "A4", "Letter", n=0, lineterm="")
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-@page { size: A4; }", "-@page landscape { size: A4 landscape; }",
                       "+@page { size: letter; }", "+@page landscape { size: letter landscape; }"]
    assert "\n".join(changed) == snapshot


def test_rendering_twice_is_byte_identical(results, record, loaded, figs):
    again = figures.draw_all(record, loaded.sections)
    assert again == figs
    for pack in PACKS:
        assert _html(results, loaded, figs, pack) == _html(results, loaded, again, pack)


# ---- what each pack prints ---------------------------------------------------------------------------------------

def test_assignment_has_cover_page_contents_and_numbered_sections(soups):
    soup = soups["assignment"]
    cover = soup.select_one("section.cover")
    assert [_norm(p.text) for p in cover.select("p.department, p.institution")] == ["Department of Tests",
                                                                                     "Test University"]
    assert _norm(cover.h1.text) == "Handwritten digits with a tiny CNN"
    assert [[_norm(td.text) for td in tr.select("td")] for tr in cover.select("table.team tbody tr")] == [
        ["Ada Lovelace", "T001"], ["Alan Turing", "T002"]]
    assert _norm(cover.select_one("p.date").text) == "15 January 2024"
    toc = [_norm(a.text) for a in soup.select("nav.contents ol.toc > li > a")]
    assert toc[:3] == ["1 Introduction", "2 CNN Model", "3 Model Parameters"] and len(toc) == 11
    assert _norm(soup.select_one("section.repository a").text) == "https://example.org/small"


def test_paper_has_title_block_and_no_cover_or_contents(soups):
    soup = soups["paper"]
    assert not soup.select("section.cover, nav.contents")
    block = soup.select_one("header.title-block")
    assert soup.main.find(True, recursive=False) is block  # first in the body: above the columns
    assert _norm(block.h1.text) == "Handwritten digits with a tiny CNN"
    authors = [[_norm(s.text) for s in li.select("span")] for li in block.select("li.author")]
    # an author's own affiliation, else the report's institution
    assert authors == [["Ada Lovelace", "Test University", "ada@example.org"],
                       ["Alan Turing", "Bletchley Park", "alan@example.org"]]
    assert _norm(block.select_one(".venue").text) == "EN0000 Testing · Assignment 00 · 15 January 2024"
    abstract = block.select_one(".abstract")
    assert abstract.select_one("strong").text == "tiny" and not abstract.find("b")  # Markdown, sanitized
    assert "Raw <b>HTML</b> in the abstract stays text." in _norm(abstract.text)
    assert _norm(block.select_one(".keywords").text) == "Keywords: CNN, handwritten digits, optimizers"
    heads = [_norm(h.text) for h in soup.select("main > section > h2")]
    assert heads[:4] == ["1 Introduction", "2 Model", "3 Parameters", "4 Training"]  # arabic, the paper's titles
    kinds = {s["class"][0] for s in soup.select("main > section")}
    assert set(WIDE_IN_PAPER) <= kinds


def _declarations(css: str) -> dict[str, dict[str, str]]:
    """Each selector's declarations outside @media and @page, later ones overriding earlier ones."""
    import tinycss2

    out: dict[str, dict[str, str]] = {}
    for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if rule.type == "qualified-rule":
            decls = out.setdefault(tinycss2.serialize(rule.prelude).strip(), {})
            for d in tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True):
                if d.type == "declaration":
                    decls[d.lower_name] = tinycss2.serialize(d.value).strip()
    return out


def test_paper_stylesheet_sets_columns_and_print_rules():
    css = render.stylesheet(render.environment("paper"), "letter")
    assert "main > section { columns: 2;" in css and "font: 9.5pt/" in css
    wide = re.search(r"main > section\.parameters,[^{]*\{\s*columns: auto; \}", css)
    assert wide and all(f"section.{kind}" in wide[0] for kind in WIDE_IN_PAPER)
    rules = _declarations(css)  # the shared base's rules and the pack's, merged as the cascade reads them
    assert rules["figure.figure"] == {"margin": "0.6em 0 0.9em", "text-align": "center", "break-inside": "avoid"}
    assert rules["table.data tr"] == {"break-inside": "avoid"}
    assert rules["table.data thead"] == {"display": "table-header-group"}
    assert "section.references ol" in rules
    assert all(rules[h]["break-after"] == "avoid" for h in ("h2", "h3", "h4, h5, h6"))
    assert css.rstrip().endswith("@page { size: letter; }\n@page landscape { size: letter landscape; }")


@pytest.mark.slow
def test_paper_numbers_a_references_list_in_brackets():
    import io

    from pypdf import PdfReader

    from reportgen.report.writers import pdf
    css = render.stylesheet(render.environment("paper"), "a4")
    html = (f"<html><head><style>{css}</style></head><body><section class=\"references\"><h2>References</h2>"
            "<ol class=\"bibliography\"><li>A. Author, A title, 2020.</li><li>B. Author, Another, 2021.</li></ol>"
            "</section></body></html>")
    text = _norm(PdfReader(io.BytesIO(pdf.render_pdf(html))).pages[0].extract_text())
    assert "[1] A. Author, A title, 2020. [2] B. Author, Another, 2021." in text


def test_lab_has_compact_header_and_question_cards(soups, results):
    soup = soups["lab"]
    assert not soup.select("section.cover")
    header = soup.select_one("header.lab-header")
    meta = {_norm(div.dt.text): _norm(div.dd.text) for div in header.select("dl.lab-meta > div")}
    assert meta == {"Course": "EN0000 Testing · Assignment 00", "Institution": "Department of Tests, Test University",
                    "Team": "Ada Lovelace (T001), Alan Turing (T002)", "Date": "15 January 2024"}
    assert [_norm(a.text) for a in soup.select("nav.contents ol.toc ol a")][-1] == "Q1 Does the optimizer matter?"
    cards = soup.select("section.notebook article.question-card")
    assert [_norm(c.h3.text) for c in cards] == ["Q1 Does the optimizer matter?"]
    card = cards[0]
    assert card.select_one(".question strong").text == "Adam" and card.select_one(".comment em").text == "faster"
    parts = [child["class"][0] for child in card.find_all("div", recursive=False)]
    assert parts == ["question", "notebook-run", "notebook-run", "comment"]
    for run_div in card.select(".notebook-run"):
        run = results["runs"][run_div["data-run"]]
        assert _norm(run_div.select_one('[data-metric="notebook-accuracy"]').text) == _norm(pct(run["test"]["accuracy"]))
        assert _norm(run_div.select_one('[data-fact="time"]').text) == _norm(secs(run["train_seconds"]))
        assert run_div.select_one("figure.figure svg") is not None
    assert len(card.select("table.summary")) == 1 and "see Table" in _norm(card.select(".notebook-run")[1].text)
    assert _norm(soup.select_one("section.notebook h2").text) == "9 Questions"


@pytest.mark.parametrize("pack", PACKS)
def test_every_pack_numbers_figures_and_tables_in_order_with_unique_ids(pack, soups):
    soup = soups[pack]
    figs = [_norm(f.figcaption.text).split(".")[0] for f in soup.select("figure.figure")]
    tabs = [_norm(c.text).split(".")[0] for c in soup.select("table.data > caption") if c.text.startswith("Table")]
    assert figs == [f"Figure {i}" for i in range(1, 14)]
    assert tabs == [f"Table {i}" for i in range(1, len(tabs) + 1)] and len(tabs) >= 14
    ids = [t["id"] for t in soup.find_all(id=True)]
    assert len(ids) == len(set(ids))
    assert not soup.select("script:not([type='application/json'])")


@pytest.mark.slow
def test_paper_pdf_keeps_every_figure_and_table(results, record, loaded, figs):
    """WeasyPrint's columns and page breaks lose nothing: every caption is in the PDF, on Letter pages."""
    import io

    from pypdf import PdfReader

    from reportgen.report.writers import pdf
    from reportgen.report.figures.cache import FigureCache

    cache = FigureCache(None, raster=True)  # as builds do: vector figures in the HTML, raster ones in the PDF
    drawn = figures.draw_all(record, loaded.sections, cache)
    doc = document.build(_with(results, "paper", "letter"), loaded.sections, drawn, loaded.base_dir)
    html, printed = render.render_html(doc), render.render_html(doc, medium="print")
    captions = [_norm(c.text).split(".")[0] + "." for c in BeautifulSoup(html, "html.parser").select(
        "figcaption, table.data > caption")]
    assert html.count("<svg") >= len(drawn) > 0 and printed.count('<img class="figure-raster"') == len(drawn)
    reader = PdfReader(io.BytesIO(pdf.render_pdf(printed)))
    assert sum(len(page.images) for page in reader.pages) >= len(drawn)
    text = _norm(" ".join(page.extract_text() for page in reader.pages))
    assert [c for c in captions if c not in text] == []
    assert all((round(p.mediabox.width), round(p.mediabox.height)) == (612, 792) for p in reader.pages)
    assert "Does the optimizer matter?" in text and "Adam converges faster here." in text


# ---- override folders --------------------------------------------------------------------------------------------

def _override(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "templates"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, "utf-8")
    return folder


@pytest.mark.parametrize("pack", PACKS)
def test_override_extends_the_builtin_cover_and_replaces_one_block(pack, tmp_path, results, loaded, figs):
    folder = _override(tmp_path, {"sections/cover.html.j2": (
        '{% extends "builtin/sections/cover.html.j2" %}\n'
        '{% block cover_team %}<p class="our-team">{{ doc.report.team | map(attribute="name") | join(" & ") }}</p>'
        '{% endblock %}\n')})
    soup = BeautifulSoup(_html(results, loaded, _stubs(figs), pack, override=folder), "html.parser")
    cover = soup.select_one("#cover")
    assert _norm(cover.select_one("p.our-team").text) == "Ada Lovelace & Alan Turing"
    assert _norm(cover.h1.text) == "Handwritten digits with a tiny CNN"  # the other blocks are the pack's
    assert not cover.select("table.team, ul.authors, dd.team")
    assert "15 January 2024" in _norm(cover.text)


def test_override_stylesheet_replaces_the_packs_and_extra_css_is_appended(tmp_path):
    env = render.environment("paper", _override(tmp_path, {"style.css": "body { color: teal; }\n"}))
    root = render.templates_root()
    screen = "\n" + render.fold_rules() + (root / "base" / "screen.css").read_text("utf-8")  # every pack's, overrides' too
    assert render.stylesheet(env, "a4") == ("body { color: teal; }\n" + screen + "\n@page { size: A4; }\n"
                                            "@page landscape { size: A4 landscape; }\n")
    env = render.environment("paper", _override(tmp_path / "extra", {"extra.css": "h2 { color: navy; }\n"}))
    css = render.stylesheet(env, "letter")
    builtin = (root / "base" / "style.css").read_text("utf-8") + "\n" + (root / "paper" / "style.css").read_text("utf-8")
    assert render.builtin_stylesheet("paper") == builtin  # the shared base, then the pack's own rules
    assert css == (builtin + screen + "\n" + "h2 { color: navy; }\n" + "\n@page { size: letter; }\n"
                   "@page landscape { size: letter landscape; }\n")


@pytest.mark.parametrize("head", ["", '<meta http-equiv="Content-Security-Policy" content="default-src *">'])
def test_an_override_report_template_cannot_drop_the_csp(head, tmp_path, results, loaded, figs):
    folder = _override(tmp_path, {"report.html.j2": (
        f"<!DOCTYPE html><html><head>{head}<style>{{{{ css }}}}</style></head><body>\n"
        '{% for sec in doc.sections %}{% include "sections/" ~ sec.kind ~ ".html.j2" %}{% endfor %}\n'
        "</body></html>\n")})
    soup = BeautifulSoup(_html(results, loaded, _stubs(figs), "paper", override=folder), "html.parser")
    first = soup.head.find(True)
    assert first.name == "meta" and first["http-equiv"] == "Content-Security-Policy"
    assert first["content"] == render.CSP and soup.select_one("header.title-block h1")


@pytest.mark.parametrize("expression", ["{{ ''.__class__.__mro__ }}", "{{ doc.__class__ }}",
                                        "{{ doc.report.title.format.__globals__ }}"])
def test_override_templates_cannot_reach_python(expression, tmp_path, results, loaded, figs):
    folder = _override(tmp_path, {"sections/repository.html.j2": f"<p>{expression}</p>\n"})
    with pytest.raises(UserError, match="SecurityError"):
        _html(results, loaded, _stubs(figs), "assignment", override=folder)


def test_override_templates_cannot_include_files_outside_the_search_path(tmp_path, results, loaded, figs):
    (tmp_path / "secret.txt").write_text("secret", "utf-8")
    folder = _override(tmp_path, {"sections/repository.html.j2": '{% include "../secret.txt" %}\n'})
    with pytest.raises(UserError, match="TemplateNotFound"):
        _html(results, loaded, _stubs(figs), "assignment", override=folder)


def test_an_unsafe_override_is_a_user_error(tmp_path, results, loaded, figs):
    folder = _override(tmp_path, {"sections/repository.html.j2": "<p>{{ ''.__class__.__mro__ }}</p>\n"})
    with pytest.raises(UserError, match="repository.html.j2"):
        _html(results, loaded, _stubs(figs), "assignment", override=folder)


@pytest.mark.parametrize("pack", PACKS)
def test_every_section_kinds_numbers_are_tied_to_results_and_check_clean(pack, results, loaded, figs, tmp_path):
    """All section kinds of the fixture, in each pack: every number in a data table carries its results key (row
    numbers, run counts and derived shares aside), and `check` recomputes each one from the embedded results."""
    from reportgen.grading.check.command import check_submission

    html = _html(results, loaded, figs, pack)
    (tmp_path / "report.html").write_text(html, "utf-8")
    report = check_submission(tmp_path)
    assert not report.findings, [f.message for f in report.findings]
    soup = BeautifulSoup(html, "html.parser")
    unkeyed = []
    for cell in soup.select("table.data td.num, table.data th.num"):
        text = _norm(cell.get_text(" "))
        if not re.search(r"\d", text) or cell.find("span", attrs={"data-key": True}) or cell.find_parent("thead"):
            continue
        table = cell.find_parent("table")
        index_column = cell.find_previous_sibling() is None and text.isdigit()  # the # column of layer lists
        derived = ("image-sizes" in table.get("class", []) or cell.find_parent("tfoot") is not None
                   or re.fullmatch(r"\d+ of \d+", text))  # epochs of a run that stopped early
        if not (index_column or derived):
            unkeyed.append((table.get("id"), text))
    assert not unkeyed
    for section in ("tradeoff", "results-table", "notebook", "evaluation", "parameters"):
        assert soup.select(f"section.{section} span[data-key]"), section


def test_per_run_tables_of_a_repeated_run_say_they_show_its_first_seed(results, loaded, figs):
    """Evaluation tables and the confusion matrix show the first seed of a repeated run, and say so."""
    import copy

    repeated = copy.deepcopy(results)
    adam = parse_run(repeated["runs"]["adam"])
    repeated["runs"]["adam"]["repeats"] = [adam.seed_record(seed).model_dump(mode="json", by_alias=True)
                                           for seed in (0, 3445257821, 3160638380)]
    soup = BeautifulSoup(_html(repeated, loaded, _stubs(figs), "assignment"), "html.parser")
    captions = [_norm(c.text) for c in soup.select("section.evaluation caption, section.evaluation figcaption")]
    first = "(its first seed, 0, of 3)"
    assert [c for c in captions if "adam" in c] == [
        f"Table 7. Test metrics of adam {first}", f"Table 8. Classification report of adam on the test set {first}",
        f"Figure 5. Confusion matrix of adam on the test set {first}"], captions
    assert not [c for c in captions if "sgd" in c and "first seed" in c]  # one seed: nothing to say


def test_a_stalled_run_is_described_by_its_numbers_against_guessing(results, loaded, figs):
    """"Stalled" says what was measured: the last validation accuracy against 1/classes, the loss hardly fallen."""
    import copy

    stalled = copy.deepcopy(results)
    run = stalled["runs"]["sgd"]
    run["status"] = "stalled"
    soup = BeautifulSoup(_html(stalled, loaded, _stubs(figs), "assignment"), "html.parser")
    notes = {_norm(p.text) for p in soup.select("section.training p.status, section.evaluation p.status")}
    last, first, classes = run["epochs"][-1], run["epochs"][0], len(stalled["dataset"]["classes"])
    assert notes == {f"Training stalled: after {len(run['epochs'])} epochs the validation accuracy was "
                     f"{_norm(pct(last['val_acc']))}, close to the {_norm(pct(1 / classes, 0))} of guessing among "
                     f"{classes} classes, and the training loss {last['train_loss']:.4f} "
                     f"(from {first['train_loss']:.4f})."}, notes
