"""Section builders for the provenance section (the facts of the build as one table, gathered by
document.provenance_record, the machine-dependent rows marked data-volatile) and the repository section."""

from __future__ import annotations

from markupsafe import Markup

from reportgen.report.document.keyed import Joined, at
from reportgen.report.document.provenance_record import provenance as provenance_record
from reportgen.report.document.tree import code, row, rowhead, td
from reportgen.report.wording.describe import source_text
from reportgen.report.wording.formatting import DASH, shape
from reportgen.results.record import BuildEnvironment, Results
from reportgen.results.run_record import RunRecord
from reportgen.results.store import results_digest

SMOKE = "smoke build (1 epoch, at most 256 images per split): not results"
NORMALIZED = ", standardised per channel with the training split’s mean and standard deviation"


def _software(env: BuildEnvironment) -> Markup:
    return Markup('reportgen <span data-provenance="version">{}</span> (code {}), Python {}, PyTorch {}, '
                  'torchvision {}, NumPy {}, scikit-learn {}').format(
        env.reportgen, env.code_version, env.python, env.torch, env.torchvision, env.numpy, env.scikit_learn)


def _run_row(run: RunRecord, seed):
    compute = run.compute
    text = Markup("{}{}{}").format(f"seed {seed}, " if seed is not None else "", run.status,
                                   f", {compute.precision} on {compute.device}" if compute else "")
    key = Markup('<span data-volatile>, cache key <code>{}</code></span>').format(run.cache_key)
    return row(rowhead(f"Run {run.id}"), td(text + key))


def facts(results: Results) -> list:
    """The table's rows: manifest, build, dataset, seeds and digests, then the machine and each run."""
    prov, env, ds = provenance_record(results), results.environment, results.dataset
    sha = prov["manifest"]["sha256"]
    manifest = Markup("{}{}").format(prov["manifest"]["file"], Markup(
        ', SHA-256 <code class="hash" data-provenance="manifest-sha256">{}</code>').format(sha) if sha else "")
    sizes = Joined([at(results, "dataset", "sizes", s) for s in ("train", "validation", "test")], " / ",
                   ("train", "validation", "test"))
    seeds = prov["seeds"]["training"]
    threads = " or ".join(map(str, env.cpu_threads))
    rows = [row(rowhead("Manifest"), td(manifest)),
            row(rowhead("Build"), td(SMOKE if prov["smoke"] else "full build", data_provenance="smoke")),
            row(rowhead("Dataset"), td(source_text(ds.source))),
            row(rowhead("Classes"), td(", ".join(ds.classes))),
            row(rowhead("Images (train / validation / test)"), td(sizes)),
            row(rowhead("Input shape"), td(shape(ds.input_shape) + (NORMALIZED if ds.normalized else ""))),
            row(rowhead("Split seed"), td(str(ds.seed))),
            row(rowhead("Training seed" + ("" if len(seeds) == 1 else "s")),
                td(", ".join(map(str, seeds)) if seeds else DASH, data_provenance="seeds")),
            row(rowhead("Data fingerprint"), td(code(ds.fingerprint[:16]))),
            row(rowhead("Results digest"), td(Markup('<code class="hash" data-provenance="results-sha256">{}</code>')
                                                .format(results_digest(results))), data_volatile=True),
            row(rowhead("Device"), td(env.device + (f" ({env.gpu})" if env.gpu else ""),
                                      data_provenance="device"), data_volatile=True),
            row(rowhead("Software"), td(_software(env)), data_volatile=True),
            row(rowhead("Platform"), td(f"{env.platform}, {threads} CPU threads"), data_volatile=True)]
    return rows + [_run_row(run, prov["seeds"]["runs"][rid]) for rid, run in results.runs.items()]


INTRO = Markup(
    "Every number in this report was produced by reportgen from the runs listed here; none was typed by hand.\nThe "
    "same manifest, data and code version give the same cache keys, and re-running on the CPU reproduces the same "
    "numbers.\nThe report carries its full results record (the same as <code>results.json</code>) and this "
    "provenance as embedded JSON,\nwhich <code>reportgen diff</code> reads, and every number is tied to its place in "
    "that record,\nwhich <code>reportgen check</code> recomputes; the results digest below changes when any recorded "
    "number does.")


def provenance(view: dict, sec, results: Results, figures, num):
    """Section builder: the facts of the build as one table."""
    view["intro"] = num.text(INTRO)
    view["table"] = num.tab("Environment and cache keys", classes="data provenance")
    view["table"].body = facts(results)


def repository(view: dict, sec, results: Results, figures, num):
    """Section builder: where the report's code is (`report.repository`), or that none was given."""
    url = (results.report or {}).get("repository")
    view["text"] = num.text(Markup('The code for this report: <a href="{}" rel="noopener noreferrer">{}</a>').format(
        url, url) if url else Markup("No repository was given in the manifest (<code>report.repository</code>)."))
