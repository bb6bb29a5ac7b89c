"""`--export latex,csv,markdown`: tables as booktabs LaTeX with the HTML's exact cell texts, as CSV with the recorded
numbers (units in the header), the figures as PNG, numbers.tex with one \\newcommand per live-reference value
formatted as the HTML formats it, and report.md; all written from the document, checked here against the HTML."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import TINY_MANIFEST, cli, write_manifest
from manifests import TINY, manifest_text

from reportgen.report.wording import formatting
from reportgen.report.writers.export.latex import CommandNames, camel, escape, newcommand
from reportgen.results.keys import resolve

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _text(node) -> str:
    return re.sub(r"[ \t\n\r\f]+", " ", node.get_text()).strip(" ")


def html_tables(html: str) -> dict[int, dict]:
    """Each numbered data table of the HTML, read with BeautifulSoup: caption and rows (a colspan cell followed by
    empty cells), header rows, then body, then footer."""
    soup = BeautifulSoup(html, "html.parser")
    tables = {}
    for table in soup.select("table.data[id^=tab-]"):
        caption = table.find("caption")
        label = caption.find("span", class_="label")
        if label:
            label.extract()
        rows = []
        for part in ("thead", "tbody", "tfoot"):
            for section in table.find_all(part, recursive=False):
                for tr in section.find_all("tr", recursive=False):
                    row = []
                    for cell in tr.find_all(["td", "th"], recursive=False):
                        row += [_text(cell)] + [""] * (int(cell.get("colspan", 1)) - 1)
                    rows.append(row)
        width = max(len(r) for r in rows)
        tables[int(table["id"][4:])] = {"caption": _text(caption), "rows": [r + [""] * (width - len(r)) for r in rows]}
    return tables


def tex_rows(tex: str) -> list[list[str]]:
    """The cells of a booktabs tabular (\\multicolumn{n}{a}{x} → x and n-1 empty cells)."""
    body = tex.split("\\toprule\n", 1)[1].split("\\bottomrule", 1)[0]
    rows = []
    for line in body.splitlines():
        line = line.strip()
        if not line or line == "\\midrule":
            continue
        assert line.endswith("\\\\"), line
        row = []
        for cell in re.split(r"(?<!\\)&", line[:-2]):
            cell = cell.strip()
            m = re.fullmatch(r"\\multicolumn\{(\d+)\}\{[lrc]\}\{(.*)\}", cell)
            row += [m[2]] + [""] * (int(m[1]) - 1) if m else [cell]
        rows.append(row)
    return rows


class Exported:
    """A copy of the tiny build rendered without, then with the export: its HTML, PDF bytes and results."""

    def __init__(self, out: Path, html: str, pdf: bytes, results: dict):
        self.html, self.pdf, self.results = html, pdf, results


@pytest.fixture(scope="module")
def exported(tiny_build, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "out"
    shutil.copytree(tiny_build.out, out)
    plain = cli("render", tiny_build.manifest, "--out", out)  # the report as the manifest makes it now
    assert plain.exit_code == 0, plain.output
    before = Exported(out, (out / "report.html").read_text("utf-8"), (out / "report.pdf").read_bytes(),
                      json.loads((out / "results.json").read_text("utf-8")))
    result = cli("render", tiny_build.manifest, "--out", out, "--export", "latex,csv,markdown", "--no-pdf")
    assert result.exit_code == 0, result.output
    return before, out


def test_render_with_export_leaves_the_report_as_it_was(exported):
    built, out = exported
    assert (out / "report.html").read_text("utf-8") == built.html
    assert (out / "report.pdf").read_bytes() == built.pdf  # the same HTML, so --no-pdf keeps the PDF


def test_tex_tables_hold_the_html_cells_and_every_table_has_a_csv(exported):
    built, out = exported
    tables = html_tables(built.html)
    assert len(tables) >= 8
    texs = sorted((out / "export" / "tables").glob("*.tex"))
    csvs = sorted((out / "export" / "tables").glob("*.csv"))
    assert [p.stem for p in texs] == [p.stem for p in csvs] and len(texs) == len(tables)
    numbered = set()
    for tex_path, csv_path in zip(texs, csvs):
        tex = tex_path.read_text("utf-8")
        n = int(re.match(r"% Table (\d+) of report\.html", tex)[1])
        numbered.add(n)
        html = tables[n]
        for needed in ("\\begin{table}", "\\toprule", "\\bottomrule", f"\\caption{{{escape(html['caption'])}}}",
                       f"\\label{{tab:{tex_path.stem}}}"):
            assert needed in tex, (tex_path.name, needed)
        rows = tex_rows(tex)
        assert rows == [[escape(c) for c in row] for row in html["rows"]], tex_path.name
        for tex_row, html_row in zip(rows, html["rows"]):
            for tex_cell, html_cell in zip(tex_row, html_row):
                assert NUMBER.findall(tex_cell) == NUMBER.findall(html_cell), (tex_path.name, tex_cell, html_cell)
        with csv_path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) == len(html["rows"]) and len({len(r) for r in rows}) == 1, csv_path.name
    assert numbered == set(tables)  # every numbered table, once
    # named by section and content, never by caption or number: \input{export/tables/comparison.tex} keeps working
    names = {p.stem for p in texs}
    assert {"comparison", "comparison-pairs", "evaluation-base-metrics", "evaluation-sgd-report",
            "training-wild-log", "parameters-tiny-cnn", "provenance"} <= names, names


def _csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_csv_tables_hold_the_recorded_numbers_in_the_units_their_headers_name(exported):
    built, out = exported
    r = built.results
    rows = _csv(out / "export" / "tables" / "comparison.csv")
    head = rows[0]
    assert {"Run", "Parameters", "Test accuracy (%)", "Final val loss", "Training time (s)"} <= set(head), head
    by_run = {row[0]: dict(zip(head, row)) for row in rows[1:]}  # the run's id alone: a column to join on
    assert set(by_run) == set(r["runs"]) and head[:2] == ["Run", "Run, note"]
    assert by_run["wild"]["Run, note"] == "(diverged)"  # what the report shows beside the id, beside it
    for rid, run in r["runs"].items():
        cells, test = by_run[rid], run.get("test") or {}
        assert cells["Test accuracy (%)"] == ("" if test.get("accuracy") is None else
                                              repr(round(test["accuracy"] * 100, 10))), rid
        assert float(cells["Training time (s)"]) == run["train_seconds"]
        assert int(cells["Parameters"]) == r["models"][run["model"]]["total_params"]
    metrics = dict(_csv(out / "export" / "tables" / "evaluation-base-metrics.csv"))
    assert float(metrics["Test accuracy (%)"]) == pytest.approx(r["runs"]["base"]["test"]["accuracy"] * 100)
    assert int(metrics["Test images"]) == r["runs"]["base"]["test"]["support"]
    log = _csv(out / "export" / "tables" / "training-base-log.csv")
    assert log[0][:2] == ["Epoch", "Epoch, planned"] and "Val accuracy (%)" in log[0]
    assert [row[:2] for row in log[1:]] == [[str(e["epoch"]), str(r["runs"]["base"]["config"]["epochs"])]
                                           for e in r["runs"]["base"]["epochs"]]
    for path in (out / "export" / "tables").glob("*.csv"):  # nothing formatted is left where a number is recorded
        for row in _csv(path)[1:]:
            assert not any(re.fullmatch(r"[\d,.]+\u00a0(%|s)|\d{1,3}(,\d{3})+", cell) for cell in row), (path.name, row)


def test_markdown_export_holds_every_section_table_and_figure(exported):
    built, out = exported
    md = (out / "export" / "report.md").read_text("utf-8")
    soup = BeautifulSoup(built.html, "html.parser")
    for h2 in soup.select("section h2"):
        number = h2.find(class_="secnum")
        if number is not None:
            assert f"## {number.get_text(strip=True)} " in md, h2
    tables = html_tables(built.html)
    assert len(re.findall(r"^\*\*Table \d+\.\*\* ", md, flags=re.M)) == len(tables)
    # each figure: its image, named by its text alternative, then its numbered caption
    images = re.findall(r"^!\[((?:\\.|[^\]\\\n])+)\]\((figures/[a-z0-9-]+\.png)\)\n\n\*Figure (\d+)\. ", md, flags=re.M)
    assert [int(n) for *_, n in images] == [int(n) for n in re.findall(r'<figure id="fig-(\d+)"', built.html)]
    assert all((out / "export" / path).is_file() for _, path, _ in images)
    names = {f["id"]: f.select_one("svg > title").get_text() for f in soup.select("figure.figure")}
    assert [re.sub(r"\\(.)", r"\1", alt) for alt, *_ in images] == [names[f"fig-{n}"] for *_, n in images]
    accuracy = formatting.pct(built.results["runs"]["base"]["test"]["accuracy"])
    assert f"| Test accuracy | {accuracy} |" in md


@pytest.mark.unit
def test_latex_escapes_special_characters():
    assert escape("a_b & 50% $x$ #1 {y} ~ ^ \\") == (
        r"a\_b \& 50\% \$x\$ \#1 \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}")
    assert escape("90.00\u00a0%") == r"90.00\,\%" and escape("3.3\u00a0s") == "3.3~s"
    assert escape("16 × 16 — ★") == r"16 $\times$ 16 --- $\star$"
    # after a row's \\ LaTeX reads [..] as spacing and * as the star form: a class named "[1em]x" stays text
    assert escape("[1em]x") == "{[}1em{]}x" and escape("*x") == "{*}x"


@pytest.mark.unit
def test_numbers_tex_comments_stay_on_their_line():
    line = newcommand("RgModelXParams", "1,234", "models.x\n\\input{/etc/passwd}\r\u2028%.total_params")
    assert "\n" not in line and "\r" not in line and "\u2028" not in line
    assert line == "\\newcommand{\\RgModelXParams}{1,234} % models.x?\\input{/etc/passwd}??%.total_params"


def test_every_figure_is_exported_as_png(exported):
    built, out = exported
    numbers = [int(n) for n in re.findall(r'<figure id="fig-(\d+)"', built.html)]
    assert numbers
    files = sorted((out / "export" / "figures").iterdir())
    assert len(files) == len(numbers) and all(re.fullmatch(r"[a-z0-9-]+\.png", p.name) for p in files)
    assert {"training-base-loss.png", "training-sgd-accuracy.png", "evaluation-wild-confusion.png",
            "comparison-curves.png"} <= {p.name for p in files}
    from PIL import Image

    for path in files:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 100 and image.height > 50


SPEC = {"test.accuracy": formatting.pct, "test.loss": formatting.dec, "test.precision_weighted": formatting.dec,
        "test.recall_weighted": formatting.dec, "test.f1_weighted": formatting.dec,
        "config.optimizer.lr": lambda x: formatting.sig(x, 4), "config.epochs": formatting.num,
        "train_seconds": formatting.secs, "measured.params": formatting.num}


def test_numbers_tex_defines_every_live_value_as_the_html_prints_it(exported):
    built, out = exported
    results = built.results
    text = (out / "export" / "numbers.tex").read_text("utf-8")
    defs = re.findall(r"^\\newcommand\{\\([A-Za-z]+)\}\{(.*)\} % (.+)$", text, flags=re.M)
    assert len(defs) == len([line for line in text.splitlines() if line.startswith("\\newcommand")])
    names = [d[0] for d in defs]
    assert len(set(names)) == len(names) and all(n.startswith("Rg") for n in names)
    by_key = {}
    for name, value, key in defs:
        by_key.setdefault(key, []).append((name, value))
        if key.startswith("runs."):
            rid, field = next((r, key[len(f"runs.{r}."):]) for r in results["runs"] if key.startswith(f"runs.{r}."))
            try:
                raw = resolve(results, key)
            except KeyError:  # not recorded (a failed run): a dash, as in the HTML
                raw = None
            assert value == escape(SPEC[field](raw)), (name, key, value)
        elif key.startswith("models."):
            assert value == escape(formatting.num(resolve(results, key))), (name, key)
    for rid in results["runs"]:
        for field in SPEC:
            assert f"runs.{rid}.{field}" in by_key, (rid, field)
    base = dict(by_key["runs.base.test.accuracy"])
    assert base["RgBaseAccuracy"] == escape(formatting.pct(results["runs"]["base"]["test"]["accuracy"]))
    assert "\\newcommand{\\RgBaseAccuracy}{" in text and "\\," in base["RgBaseAccuracy"]
    for model in results["models"]:
        assert f"models.{model}.total_params" in by_key and f"models.{model}.trainable_params" in by_key
    # the printed accuracy is the one the HTML shows for the run
    assert formatting.pct(results["runs"]["base"]["test"]["accuracy"]) in built.html


@pytest.mark.unit
def test_command_names_are_letters_only_and_distinct():
    assert camel("adam_lr_0.001") == "AdamLrZeroPointZeroZeroOne"
    assert camel("lr_study/lr=0.01") == "LrStudyLrEqZeroPointZeroOne"
    assert camel("f1") == "FOne" and camel("resnet18@child") == "ResnetOneEightAtChild"
    names = CommandNames()
    got = [names.name("lr_0.1", "accuracy"), names.name("lr0.1", "accuracy"), names.name("lr-0.1", "accuracy")]
    assert got == ["RgLrZeroPointOneAccuracy", "RgLrZeroPointOneAccuracyB", "RgLrZeroPointOneAccuracyC"]
    assert all(re.fullmatch(r"[A-Za-z]+", n) for n in got)


def test_manifest_export_and_the_flag_that_overrides_it(tiny_build, tmp_path):
    folder = tmp_path / "m"
    manifest = write_manifest(folder, manifest_text(report={"export": ["csv"]}))
    out = folder / "out"
    shutil.copytree(tiny_build.out, out)
    shutil.rmtree(out / "export", ignore_errors=True)
    result = cli("render", manifest, "--out", out, "--no-pdf")
    assert result.exit_code == 0, result.output
    exported = sorted(p.suffix for p in (out / "export").rglob("*") if p.is_file())
    assert exported and set(exported) == {".csv"}  # csv only: no .tex, no figures
    shutil.rmtree(out / "export")
    result = cli("render", manifest, "--out", out, "--no-pdf", "--export", "none")
    assert result.exit_code == 0 and not (out / "export").exists()
    result = cli("render", manifest, "--out", out, "--no-pdf", "--export", "latex,docx")
    assert result.exit_code == 2 and "docx" in result.output


@pytest.mark.unit
def test_table_and_figure_names_come_from_sections_and_content_never_captions_or_numbers():
    from reportgen.manifest.sections import Section
    from reportgen.report.document.assemble import Numbering, section_names

    sections = [Section(kind=kind, options=options) for kind, options in [
        ("prose", {}), ("comparison", {}), ("comparison", {"label": "lr-study"}), ("comparison", {}),
        ("results_table", {})]]
    assert section_names(sections) == ["prose", "comparison", "lr-study", "comparison-2", "results-table"]
    names = []
    for caption in ("Comparison of runs (adam ahead)", "Comparison of runs (sgd ahead; the verdict changed)"):
        num = Numbering()
        num.table = num.figure = 6 if "adam" in caption else 2  # other sections before it: other numbers
        num.section_name = "lr-study"
        names.append([num.tab(caption).name, num.tab("Paired differences", "pairs").name,
                      num.tab("Test metrics of lr_study/lr=0.0003", "lr_study/lr=0.0003", "metrics").name,
                      num.tab("Test metrics of lr_study/lr=0.0003", "lr_study/lr=0.0003", "metrics").name,
                      num.fig("cm/3/lr_study/lr=0.0003", "Confusion matrix", "<svg/>")["name"]])
    assert names[0] == names[1] == ["lr-study", "lr-study-pairs", "lr-study-lr-study-lr-0-0003-metrics",
                                    "lr-study-lr-study-lr-0-0003-metrics-2", "lr-study-lr-study-lr-0-0003-confusion"]


@pytest.mark.unit
def test_labels_that_give_the_same_export_name_are_warned_of(tmp_path):
    at = TINY["sections"].index("comparison")
    twice = [{"comparison": {"label": "lr_study"}}, {"comparison": {"label": "LR-study"}}]  # in place of the one
    text = manifest_text(sections=TINY["sections"][:at] + twice + TINY["sections"][at + 1:])
    assert text != TINY_MANIFEST
    manifest = write_manifest(tmp_path, text)
    result = cli("validate", manifest)
    assert result.exit_code == 0, result.output
    line = text.splitlines().index("- comparison: {label: LR-study}") + 1
    assert (f"warning: {manifest}:{line}:") in result.output and "label 'LR-study' and 'lr_study' give the same " \
        "export name (lr-study)" in result.output, result.output
    assert cli("validate", manifest, "--strict").exit_code == 2
