"""The typed results record: results.json is its JSON, read back strictly, with one located message for a record
that does not fit and one for a record of another version; its JSON Schema is printed by `reportgen schema`."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from reportgen.errors import ResultsMissing
from reportgen.results.record import RecordInvalid, Results, json_schema, parse_results, parse_run
from reportgen.results.store import ResultsUnreadable, dumps, read_results

from conftest import cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results-small.json"


@pytest.fixture()
def fixture_json() -> dict:
    return json.loads(FIXTURE.read_text("utf-8"))


@pytest.mark.unit
def test_results_json_is_the_records_json_byte_for_byte(fixture_json):
    record = read_results(FIXTURE)
    assert isinstance(record, Results) and list(record.runs) == record.run_order == ["adam", "sgd"]
    assert record.runs["adam"].test.per_class[3].name == fixture_json["runs"]["adam"]["test"]["per_class"][3]["class"]
    assert record.models["tiny_cnn"].total_params == sum(row.params for row in record.models["tiny_cnn"].layers)
    assert dumps(record) == FIXTURE.read_text("utf-8")


@pytest.mark.unit
def test_a_record_read_back_lists_its_runs_in_the_manifests_order_not_the_files(fixture_json, tmp_path):
    fixture_json["run_order"] = ["sgd", "adam"]  # results.json sorts its keys: adam comes first in the file
    path = tmp_path / "results.json"
    path.write_text(dumps(fixture_json), "utf-8")
    assert list(json.loads(path.read_text("utf-8"))["runs"]) == ["adam", "sgd"]
    record = read_results(path)
    assert list(record.runs) == ["sgd", "adam"] and list(record.as_json()["runs"]) == ["sgd", "adam"]


@pytest.mark.unit
@pytest.mark.parametrize("change,where", [
    (lambda r: r["runs"]["adam"]["test"].update(accuracy="0.99"), "runs.adam.test.accuracy"),
    (lambda r: r["runs"]["sgd"].pop("status"), "runs.sgd.status"),
    (lambda r: r["runs"]["sgd"].update(status="excellent"), "runs.sgd.status"),
    (lambda r: r["runs"]["adam"]["epochs"][1].update(note="added by hand"), "runs.adam.epochs.1.note"),
    (lambda r: r["models"]["tiny_cnn"].update(source="quantum"), "models.tiny_cnn"),
    (lambda r: r.update(runs=[]), "runs"),
    (lambda r: r["runs"]["sgd"]["test"].update(accuracy=-5), "runs.sgd.test.accuracy"),
], ids=["number-as-text", "missing", "unknown-status", "extra-key", "unknown-model-kind", "wrong-type", "below-zero"])
def test_a_record_that_does_not_fit_is_named_where(fixture_json, tmp_path, change, where):
    broken = copy.deepcopy(fixture_json)
    change(broken)
    with pytest.raises(RecordInvalid, match=r"^" + where.replace(".", r"\.")):
        parse_results(broken)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(broken), "utf-8")
    with pytest.raises(ResultsUnreadable) as caught:
        read_results(path)
    assert str(caught.value).startswith(f"{path} does not fit the results schema: {where}")
    assert str(caught.value).count("\n") == 0


@pytest.mark.unit
def test_a_record_of_another_version_says_so_in_one_message(fixture_json, tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**fixture_json, "schema": "reportgen.results/2"}), "utf-8")
    with pytest.raises(ResultsMissing) as caught:
        read_results(path)
    assert str(caught.value) == (f"{path} was written by another version of reportgen (reportgen.results/2, this one "
                                 "reads reportgen.results/3)")
    path.write_text(json.dumps({"schema": "something/else", "runs": {}}), "utf-8")
    with pytest.raises(ResultsUnreadable, match="is not a reportgen results record"):
        read_results(path)


@pytest.mark.unit
@pytest.mark.parametrize("number,why", [("NaN", "NaN is not a JSON number"), ("-Infinity", "-Infinity is not a JSON number"),
                                        ("1e400", "the number 1e400 is out of range")])
def test_numbers_that_json_has_not_are_refused_as_not_json(tmp_path, number, why):
    path = tmp_path / "results.json"
    path.write_text(FIXTURE.read_text("utf-8").replace('"accuracy": 0.', f'"accuracy": {number}, "x": 0.', 1), "utf-8")
    with pytest.raises(ResultsUnreadable) as caught:
        read_results(path)
    assert str(caught.value).startswith(f"{path} is not valid JSON ({why}")


@pytest.mark.unit
def test_schema_command_prints_a_json_schema_that_the_record_fits(fixture_json):
    result = cli("schema", "--results")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert result.output == json_schema() and schema["$id"] == "reportgen.results/3"
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(fixture_json, schema)
    described = schema["$defs"]["RunRecord"]
    assert described["description"].startswith("One run of the manifest") and "predictions" not in described["required"]
    broken = copy.deepcopy(fixture_json)
    broken["runs"]["adam"]["test"]["accuracy"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


@pytest.mark.unit
def test_a_run_cache_entry_is_typed_and_one_of_another_shape_is_refused(fixture_json):
    entry = {**fixture_json["runs"]["adam"], "predictions": {"n": 2, "dtype": "uint8", "predicted": "AAE=",
                                                            "labels": "AAE="}}
    run = parse_run(entry)
    assert run.predictions.n == 2 and run.test.accuracy == entry["test"]["accuracy"]
    assert "predictions" not in Results.model_validate({**fixture_json, "runs": {"adam": entry},
                                                        "run_order": ["adam"]}).as_json()["runs"]["adam"]
    older = {k: v for k, v in entry.items() if k != "stopped_after"}  # written before the field existed
    with pytest.raises(RecordInvalid, match=r"^stopped_after: Field required"):
        parse_run(older)


def test_render_of_results_from_another_version_exits_2_with_one_message(tiny_build, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_build.manifest.parent, folder, ignore=shutil.ignore_patterns("report.pdf", "cache"))
    results = folder / "out" / "results.json"
    data = json.loads(results.read_text("utf-8"))
    results.write_text(json.dumps({**data, "schema": "reportgen.results/2"}), "utf-8")
    before = (folder / "out" / "report.html").read_bytes()
    done = cli("render", folder / tiny_build.manifest.name, "--out", folder / "out", "--no-pdf")
    assert done.exit_code == 2
    assert "was written by another version of reportgen (reportgen.results/2" in done.output
    assert (folder / "out" / "report.html").read_bytes() == before


def test_check_names_embedded_results_that_do_not_fit_and_checks_them_as_data(tiny_build, tmp_path):
    import re

    from reportgen.grading.check.command import check_submission
    from reportgen.results.embedded import embed_json

    team = tmp_path / "team"
    team.mkdir()
    for source in (tiny_build.out / "report.html", tiny_build.manifest, tiny_build.manifest.parent / "intro.md"):
        shutil.copy(source, team / source.name)
    html = (team / "report.html").read_text("utf-8")
    pattern = r'(<script type="application/json" id="reportgen-results">)(.*?)(</script>)'
    data = json.loads(re.search(pattern, html, flags=re.DOTALL)[2])
    data["runs"]["base"]["test"]["accuracy"] = "0.99"  # a number typed as text
    html = re.sub(pattern, lambda m: m[1] + embed_json(data) + m[3], html, count=1, flags=re.DOTALL)
    (team / "report.html").write_text(html, "utf-8")
    report = check_submission(team, with_pdf=False)
    assert report.level == ("embedded results only (the embedded results do not fit the results schema "
                            "(runs.base.test.accuracy: Input should be a valid number))")
    assert "rerender" in {f.check for f in report.findings}
