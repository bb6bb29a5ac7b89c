"""The document's tables as data (report.document.tree) and the writers laid out from them: CSV with numbers as
numbers and units in the header, Markdown pipe tables, LaTeX; all from the same cells, torch-free."""

from __future__ import annotations

import csv
import io

import pytest
from markupsafe import Markup

from reportgen.report.document.keyed import Emphasis, Fixed, Joined, Keyed
from reportgen.report.document.tree import Table, num, plain, row, rowhead, td, th
from reportgen.report.writers.export.latex import table_tex
from reportgen.report.writers.export.markdown import table_md
from reportgen.report.writers.export.spreadsheet import csv_text

pytestmark = pytest.mark.unit


def _runs_table() -> Table:
    """Two runs: one repeated (mean ± std), one with a single seed and no test accuracy recorded."""
    table = Table(3, "Comparison of runs", "comparison", "data compare")
    table.head = [row(th("Run"), th("Parameters", numeric=True), th("Test accuracy", numeric=True),
                      th("Training time", numeric=True))]
    repeated = Joined([Keyed("runs.a.aggregate.accuracy.mean", 0.9868, "pct"),
                       Keyed("runs.a.aggregate.accuracy.std", 0.0026, "pct")], " ± ", ("mean", "std"))
    table.body = [row(td("a ★", "run-id"), num(Keyed("models.cnn.total_params", 136484)), num(Emphasis(repeated)),
                      num(Keyed("runs.a.train_seconds", 97.25, "secs")), classes="best", data_run="a"),
                  row(td("b", "run-id"), num(Keyed("models.cnn.total_params", 136484)),
                      num(Keyed("runs.b.test.accuracy", None, "pct", found=False)),
                      num(Keyed("runs.b.train_seconds", 3.5, "secs")), data_run="b")]
    return table


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_a_cell_knows_its_numbers_their_keys_and_its_printed_text():
    cell = _runs_table().body[0].cells[2]
    assert [k.key for k in cell.parts] == ["runs.a.aggregate.accuracy.mean", "runs.a.aggregate.accuracy.std"]
    assert [k.value for k in cell.parts] == [0.9868, 0.0026] and cell.names == ("mean", "std") and cell.pure
    assert cell.text == "98.68\u00a0% ± 0.26\u00a0%"
    assert str(cell.html) == ('<strong><span data-key="runs.a.aggregate.accuracy.mean" data-fmt="pct">98.68\u00a0%'
                              '</span> <span class="joint">± <span data-key="runs.a.aggregate.accuracy.std" '
                              'data-fmt="pct">0.26\u00a0%</span></span></strong>')
    missing = _runs_table().body[1].cells[2]
    assert missing.parts == () and not missing.pure and missing.text == "—"
    text = td("a <b> & c")
    assert text.parts == () and str(text.html) == "a &lt;b&gt; &amp; c" and text.text == "a <b> & c"


def test_csv_writes_recorded_numbers_in_the_unit_the_header_names():
    rows = _rows(csv_text(_runs_table()))
    assert rows == [
        ["Run", "Parameters", "Test accuracy, mean (%)", "Test accuracy, std (%)", "Training time (s)"],
        ["a ★", "136484", "98.68", "0.26", "97.25"],
        ["b", "136484", "", "", "3.5"],
    ]


def test_csv_of_labelled_rows_puts_the_unit_in_the_label_and_keeps_text_as_printed():
    table = Table(1, "Test metrics of a", "metrics")
    sizes = Joined([Keyed("dataset.sizes.train", 1200), Keyed("dataset.sizes.validation", 300)], " / ",
                   ("train", "validation"))
    table.body = [row(rowhead("Test accuracy"), num(Keyed("runs.a.test.accuracy", 0.5, "pct"))),
                  row(rowhead("Optimizer"), td("Adam (weight decay 0.0001)")),
                  row(rowhead("Training / validation images"), td(sizes))]
    assert _rows(csv_text(table)) == [["Test accuracy (%)", "50.0", ""],
                                      ["Optimizer", "Adam (weight decay 0.0001)", ""],
                                      ["Training / validation images", "1200", "300"]]


def test_csv_spans_fill_their_columns_and_the_widths_agree():
    table = Table(2, "Parameters", "parameters")
    table.head = [row(th("Layer"), th("Formula"), th("Count", numeric=True))]
    table.body = [row(td("conv1"), td("1 × 4 × 3 × 3 + 4 = 40", "formula"), num(Keyed("models.m.layers.0.params", 40)))]
    table.foot = [row(th("Total", span=2), th(Keyed("models.m.total_params", 40), numeric=True))]
    rows = _rows(csv_text(table))
    assert rows == [["Layer", "Formula", "Count"], ["conv1", "1 × 4 × 3 × 3 + 4 = 40", "40"], ["Total", "", "40"]]


def test_markdown_and_latex_print_the_cells_as_the_report_does():
    table = _runs_table()
    md = table_md(table)
    assert md.splitlines()[:4] == ["**Table 3.** Comparison of runs", "",
                                   "| Run | Parameters | Test accuracy | Training time |", "| --- | ---: | ---: | ---: |"]
    assert "| a ★ | 136,484 | 98.68\u00a0% ± 0.26\u00a0% | 1\u00a0min 37\u00a0s |" in md
    tex = table_tex(table, "tab:comparison", "report.html")
    assert r"\label{tab:comparison}" in tex and r"\begin{tabular}{lrrr}" in tex
    assert r"a $\star$ & 136,484 & 98.68\,\% $\pm$ 0.26\,\% & 1~min 37~s \\" in tex
    assert r"b & 136,484 & --- & 3.5~s \\" in tex


def test_markdown_escapes_what_would_become_markup():
    table = Table(1, "Runs | *all*", "runs")
    table.head = [row(th("Run"))]
    table.body = [row(td("a|b_c <script>"))]
    md = table_md(table)
    assert r"Runs \| \*all\*" in md and r"| a\|b\_c &lt;script&gt; |" in md and "<script>" not in md


def test_plain_text_drops_tags_of_markup_keeps_text_as_written_and_no_break_spaces():
    assert plain(Markup("a\u00a0%  <b>b</b>\n c &amp; d")) == "a\u00a0% b c & d"
    assert plain("x <b> & y") == "x <b> & y"


def test_text_that_a_spreadsheet_would_run_as_a_formula_is_kept_as_text():
    table = Table(1, "Runs", "runs")
    table.head = [row(th("Run"), th("Δ", numeric=True))]
    table.body = [row(td('=HYPERLINK("https:evil.example","x")'), num(Keyed("paired.0.pairs.0.difference", -0.5, "pts"))),
                  row(td("@SUM(A1)"), num(Keyed("paired.0.pairs.1.difference", 0.25, "pts"))),
                  row(td("\uff1dcmd"), num(Keyed("paired.0.pairs.2.difference", None, "pts", found=False)))]
    assert _rows(csv_text(table))[1:] == [["'=HYPERLINK(\"https:evil.example\",\"x\")", "-50.0"],
                                          ["'@SUM(A1)", "25.0"], ["'\uff1dcmd", ""]]


def test_a_stated_number_is_a_number_in_the_csv_and_plain_text_in_the_html():
    table = Table(4, "Images per class", "counts")
    table.head = [row(th("Class"), th("Images", numeric=True), th("Share", numeric=True))]
    table.body = [row(td("cat"), num(Keyed("dataset.exploration.counts.per_class.0", 3)),
                      num(Fixed(0.75, "pct"))), row(td("dog"), num(Keyed("dataset.exploration.counts.per_class.1", 1)),
                                                    num(Fixed(None, "pct")))]
    table.foot = [row(th("All classes"), num(Keyed("dataset.exploration.counts.total", 4)), num(Fixed(1, "pct")))]
    assert _rows(csv_text(table)) == [["Class", "Images", "Share (%)"], ["cat", "3", "75.0"], ["dog", "1", ""],
                                      ["All classes", "4", "100"]]
    assert str(table.foot[0].cells[2].html) == "100.00\u00a0%"  # no data-key: check has nothing to recompute


HOSTILE_PROSE = """A paragraph.

```
first line

![tracker](http://evil.example/track.png) [click me](http://evil.example/phish) <img src=x onerror=alert(1)>
```

After the code.
"""


def _rendered(md: str) -> str:
    """report.md as a CommonMark viewer with raw HTML and tables shows it."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").render(md)


def test_prose_in_the_markdown_export_stays_one_html_block_even_after_an_empty_line_in_code():
    from reportgen.report.prose.markdown import to_html
    from reportgen.report.writers.export.markdown import markdown

    prose = to_html(HOSTILE_PROSE)
    table = Table(1, "Runs of [x](http://evil.example)", "runs")
    table.head = [row(th("Run"))]
    table.body = [row(td("<img src=x onerror=alert(1)>")), row(td("- a"))]
    doc = {"report": {"title": "1. Title [a](javascript:alert(1))", "subtitle": "---", "course": "www.evil.example",
                      "team": [{"name": "- x", "id": "<b>1</b>"}]},
           "abstract_html": prose, "figures": [],
           "sections": [{"number": 1, "title": "Notes", "html": prose,
                         "blocks": [("table", table), ("text", "+ a [link](http://evil.example)"),
                                    ("list", ["![i](http://evil.example/i.png)"])]}]}
    shown = _rendered(markdown(doc, {}))
    assert "evil.example/track.png" in shown  # still there, as the code's text
    assert "<img" not in shown and "<a " not in shown and "<ol" not in shown and "<ul>\n<li>- " not in shown
    assert "<hr" not in shown and "onerror" not in shown.replace("onerror=alert(1)&gt;", "")
    assert shown.count("<pre>") == 2 and "After the code." in shown  # the code block and the text after it kept



def test_a_run_id_stands_alone_in_the_csv_with_what_the_report_shows_beside_it_in_a_note():
    table = Table(2, "Comparison of runs", "comparison")
    table.head = [row(th("Run"), th("Epochs", numeric=True))]
    table.body = [row(td(Markup('a ★ <span class="status-tag">(stalled)</span>'), "run-id", ident="a"),
                      num(Keyed("runs.a.config.epochs", 3))),
                  row(td("b", "run-id", ident="b"), num(Keyed("runs.b.config.epochs", 3)))]
    assert _rows(csv_text(table)) == [["Run", "Run, note", "Epochs"], ["a", "★ (stalled)", "3"], ["b", "", "3"]]


def test_each_figure_is_exported_as_its_print_png_a_prose_figures_own_image_or_its_svg():
    import base64

    from reportgen.report.writers.export import figure_files

    jpeg = b"\xff\xd8\xff\xe0 a jpeg's bytes"
    doc = {"figures": [
        {"number": 1, "name": "training-a-loss", "png": b"\x89PNG drawn", "svg": "<svg/>"},
        {"number": 2, "name": "prose-photo", "png": b"", "svg": "",
         "src": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()},
        {"number": 3, "name": "comparison-curves", "png": b"", "svg": "<svg>vector</svg>"},
        {"number": 4, "name": "prose-refused", "png": b"", "svg": "", "src": ""}]}
    assert figure_files(doc) == {1: ("figures/training-a-loss.png", b"\x89PNG drawn"),
                                 2: ("figures/prose-photo.jpg", jpeg),
                                 3: ("figures/comparison-curves.svg", b"<svg>vector</svg>")}


def test_an_empty_join_prints_only_its_end():
    assert str(td(Joined([], " + ", ())).html) == "" and td(Joined([], " + ", ())).parts == ()
    assert Joined([], " + ", (), end=" = 0").__html__() == " = 0"


def test_an_unnumbered_table_has_element_ids_of_its_own():
    from reportgen.report.document.assemble import Numbering
    from reportgen.report.document.views.model_tables import inverted_residual

    numbering = Numbering()
    settings = {"original": [[1, 16, 1, 1]], "custom": [[1, 8, 1, 1]]}
    first, second = (numbering.unnumbered(inverted_residual(settings), "settings", name) for name in ("mob", "mob2"))
    assert (first.number, first.id) == (None, None)
    assert first.caption_id == "report-settings-mob-caption" != second.caption_id == "report-settings-mob2-caption"


def _deep_model(blocks: int) -> tuple:
    """The golden results with a model `deep` of `blocks` top-level blocks of one convolution each, and the model's
    entry as its section holds it."""
    from golden import golden_results
    from reportgen.report.document.views.models import worded
    from reportgen.results.record import parse_results

    layers = [{"name": f"b{i}.conv", "type": "Conv2d", "params": 40, "trainable": 40, "buffers": 0,
               "output_shape": [4, 8, 8], "formula": "1 × 4 × 3 × 3 + 4 = 40", "buffer_formula": "", "config": {}}
              for i in range(blocks)]
    groups = [{"name": f"b{i}", "type": "Block", "start": i, "end": i + 1, "depth": 0, "params": 40, "trainable": 40,
               "buffers": 0, "output_shape": [4, 8, 8], "formula": "40", "config": {}} for i in range(blocks)]
    data = golden_results()
    data["models"]["deep"] = data["models"]["tiny_cnn"] | {"layers": layers, "groups": groups}
    results = parse_results(data)
    model = results.models["deep"]
    return results, {"name": "deep", "summary": model, **worded(model)}


def test_the_first_32_blocks_fold_each_by_its_own_box_and_the_rest_stay_open():
    from reportgen.report.document.tree import FOLDING
    from reportgen.report.document.views.model_tables import layer_counts
    from reportgen.report.writers import html as render

    results, model = _deep_model(FOLDING + 8)
    table = Table(2, "Parameters of deep, layer by layer", "parameters-deep")
    layer_counts(table, results, model)
    assert [b.fold for b in table.bodies] == [f"b{k}" for k in range(FOLDING)] + [None] * 8
    html = render.environment("assignment").get_template("sections/_table.html.j2").render(tab=table)
    boxes = [line for line in html.splitlines() if line.startswith('<input type="checkbox" class="fold"')]
    assert len(boxes) == len(table.bodies) == html.count("<tbody")  # the k-th box folds the k-th body
    ids = [f"tab-2-fold-{k + 1}" for k in range(FOLDING)]
    assert [f'id="{i}"' in box for i, box in zip(ids, boxes)] == [True] * FOLDING
    assert all("disabled" in box for box in boxes[FOLDING:])
    assert [html.count(f'<label for="{i}" class="fold-label">') for i in ids] == [1] * FOLDING
    assert html.count("fold-label") == FOLDING
    assert render.fold_rules().count(">tr:not(.block-head)") == FOLDING  # a rule for each box that folds
