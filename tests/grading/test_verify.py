"""`reportgen verify` on copies of real builds: re-runs reproduce exactly on the CPU; edited records, changed
manifests, missing data and unknown ids are each reported as what they are, and the submission is never touched."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reportgen.grading.verify.submission import choose_runs, file_hashes

from conftest import cli, write_manifest
from manifests import MOB, NET, SMALL, manifest_text, variant


@pytest.fixture()
def submission(tiny_build, tmp_path) -> Path:
    """A grader's copy of the tiny build: report.html, report.pdf, results.json, the manifest and its prose."""
    folder = tmp_path / "submission"
    folder.mkdir()
    out, manifest = tiny_build.out, tiny_build.manifest
    for source in (out / "report.html", out / "report.pdf", out / "results.json", manifest,
                   manifest.parent / "intro.md"):
        shutil.copy(source, folder / source.name)
    return folder


def _edit_results(folder: Path, edit) -> dict:
    """Rewrite the submission's results.json through edit(results); returns the original results."""
    path = folder / "results.json"
    original = json.loads(path.read_text("utf-8"))
    results = json.loads(path.read_text("utf-8"))
    edit(results)
    path.write_text(json.dumps(results), "utf-8")
    return original


def verify(*args):
    """`reportgen verify ...` in this process, without the per-epoch lines."""
    return cli("verify", *args, env={"CI": "1"})


@pytest.mark.slow
def test_a_clean_submission_reproduces_every_run_exactly_on_the_cpu(submission):
    before = file_hashes(submission)
    result = verify(submission)
    assert result.exit_code == 0, result.output
    assert file_hashes(submission) == before
    out = result.stdout
    assert f"submission: {submission} (results from {submission / 'results.json'})" in out
    assert f"manifest: {submission / 'tiny.yaml'} (the same manifest as recorded" in out
    assert "mode: recorded and re-run on cpu with " in out and out.splitlines()[2].endswith(": exact (rtol 0)")
    assert "runs: all 3 runs: base, sgd, wild" in out
    assert "base: reproduced (3 epochs and the test metrics; " in out
    assert "sgd: reproduced (2 epochs and the test metrics; " in out
    assert "wild: reproduced (0 epochs and the test metrics; " in out  # diverges in its first epoch, again
    assert out.rstrip().endswith("3 runs verified: 3 reproduced, 0 differs, 0 could not run")
    assert "[1/3] base: re-running tiny_cnn for 3 epochs" in result.stderr


@pytest.mark.slow
def test_an_edited_test_accuracy_differs_naming_the_metric_and_both_values(submission):
    original = _edit_results(submission, lambda r: r["runs"]["sgd"]["test"].update(accuracy=0.5))
    result = verify(submission, "--runs", "sgd,wild")
    assert result.exit_code == 1, result.output
    true = original["runs"]["sgd"]["test"]["accuracy"]
    assert "sgd: differs in 1 of " in result.stdout
    assert f"    test.accuracy: recorded 0.5, re-run {true!r} (difference {abs(true - 0.5):.3g}, " in result.stdout
    assert "wild: reproduced" in result.stdout
    assert "2 runs verified: 1 reproduced, 1 differs, 0 could not run" in result.stdout


@pytest.mark.slow
def test_epochs_compares_only_the_first_epochs(submission):
    def edit_later(results):
        base = results["runs"]["base"]
        base["epochs"][2]["val_loss"] += 1.0  # epoch 3
        base["test"]["accuracy"] = 0.0

    _edit_results(submission, edit_later)
    result = verify(submission, "--epochs", "1", "--runs", "base", "--format", "json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    assert run["outcome"] == "reproduced" and run["epochs_compared"] == 1 and not run["full"]
    assert run["compared"] == 8  # epoch count, five columns of epoch 1, diverged and stopped epoch

    original = _edit_results(submission, lambda r: r["runs"]["base"]["epochs"][0].update(train_loss=9.0))
    result = verify(submission, "--epochs", "1", "--runs", "base")
    assert result.exit_code == 1, result.output
    true = original["runs"]["base"]["epochs"][0]["train_loss"]
    assert "base: differs in 1 of 8 values (the first 1 of 3 epochs, no test metrics)" in result.stdout
    assert f"epochs[1].train_loss: recorded 9.0, re-run {true!r}" in result.stdout
    assert "epochs: the first epoch of each run's log" in result.stdout


@pytest.mark.slow
def test_sample_picks_seeded_runs_and_says_which(submission):
    expected = random.Random(3).sample(["base", "sgd", "wild"], 1)
    result = verify(submission, "--sample", "1", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert f"runs: a sample of 1 of 3 runs with seed 3: {expected[0]}" in result.stdout
    assert f"sample of 1 of 3 runs with seed 3: {expected[0]}" in result.stderr
    verified = [line.split(":")[0] for line in result.stdout.splitlines() if ": reproduced" in line]
    assert verified == expected
    results = json.loads((submission / "results.json").read_text("utf-8"))
    everything = choose_runs(results, sample=5, seed=3)  # more than there are: every run, in the seeded order
    assert everything.ids == random.Random(3).sample(["base", "sgd", "wild"], 3) and everything.asked == 5


@pytest.mark.slow
def test_the_submission_folder_is_left_exactly_as_it_was(submission):
    before = file_hashes(submission)
    (submission / "results.json").unlink()  # the results embedded in report.html are read instead
    before.pop("results.json")
    result = verify(submission / "report.html", "--runs", "wild,sgd")
    assert result.exit_code == 0, result.output
    assert f"submission: {submission / 'report.html'} (results from {submission / 'report.html'})" in result.stdout
    assert file_hashes(submission) == before  # names and bytes: nothing written, no cache folder
    assert sorted(p.name for p in submission.iterdir()) == sorted(before)


@pytest.mark.slow
def test_a_run_the_manifest_now_declares_differently_could_not_run(submission):
    manifest = submission / "tiny.yaml"
    text = manifest.read_text("utf-8")
    manifest.write_text(text.replace("{name: sgd, lr: 0.05}", "{name: sgd, lr: 0.06}"), "utf-8")
    result = verify(submission, "--runs", "sgd", "--runs", "wild")
    assert result.exit_code == 1, result.output
    assert f"manifest: {manifest} (differs from the recorded one" in result.stdout
    assert "sgd: could not run: the manifest declares run sgd differently from the recorded one" in result.stdout
    assert "wild: reproduced" in result.stdout  # its declaration is the same
    assert "2 runs verified: 1 reproduced, 0 differs, 1 could not run" in result.stdout


@pytest.mark.slow
def test_a_submission_without_its_prose_files_still_re_runs(submission):
    (submission / "intro.md").unlink()  # prose decides no number: its absence does not stop the re-runs
    result = verify(submission, "--runs", "wild")
    assert result.exit_code == 0, result.output
    assert "note: the manifest's sections cannot be loaded (sections[2].prose.file: prose file not found: " \
           "intro.md)" in result.stdout
    assert "wild: reproduced" in result.stdout


FRUIT = variant(SMALL, report={"title": "Fruit"},
                dataset={"name": "imagefolder", "root": "images", "split": [50, 25, 25], "seed": 1, "channels": None,
                         "classes": ["apple", "cherry"]},
                models={"mini": {"layers": [{"conv": {"out": 2, "kernel": 3, "padding": "same"}}, "relu", "flatten",
                                            {"linear": "classes"}]}},
                train={"optimizer": None, "seed": None, "batch_size": 8}, experiments=[{"id": "base", "model": "mini"}])


def _built_with_images(folder: Path, text: str, name: str) -> Path:
    """folder/images/{apple,cherry}/N.png (8 noisy 8×8 images each) and the manifest, run into folder/out."""
    manifest = write_manifest(folder, text, name)
    for k, label in enumerate(["apple", "cherry"]):
        for i in range(8):
            path = folder / "images" / label / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.random.default_rng(10 * k + i).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
    result = cli("run", manifest, "--out", folder / "out")
    assert result.exit_code == 0, result.output
    return manifest


@pytest.mark.slow
def test_a_run_whose_dataset_files_are_missing_could_not_run_naming_the_folder(tmp_path):
    build = tmp_path / "build"
    manifest = _built_with_images(build, manifest_text(FRUIT), "fruit.yaml")
    assert verify(build / "out", "--manifest", manifest).exit_code == 0  # with its images it reproduces

    folder = tmp_path / "submission"  # the student handed in the results and the manifest, not the images
    folder.mkdir()
    shutil.copy(build / "out" / "results.json", folder)
    shutil.copy(manifest, folder)
    result = verify(folder)
    assert result.exit_code == 1, result.output
    assert f"base: could not run: image folder not found: `root: images` is {folder.resolve() / 'images'}, " \
           "which does not exist" in result.stdout
    assert "1 run verified: 0 reproduced, 0 differs, 1 could not run" in result.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["fruit.yaml", "results.json"]


@pytest.mark.slow
def test_a_smoke_submission_is_re_run_as_a_smoke_build(tmp_path):
    folder = tmp_path / "smoke"  # no images: a smoke build trains on synthetic ones of the listed classes
    manifest = write_manifest(folder, manifest_text(FRUIT), "fruit.yaml")
    assert cli("run", manifest, "--smoke", "--out", tmp_path / "out").exit_code == 0
    shutil.copy(tmp_path / "out" / "results.json", folder)
    result = verify(folder)
    assert result.exit_code == 0, result.output
    assert "smoke: the submission is a smoke build, re-run as one" in result.stdout
    assert "base: reproduced (1 epoch and the test metrics; " in result.stdout


def test_unknown_run_ids_are_an_error_listing_the_valid_ones(submission):
    result = verify(submission, "--runs", "base,nope")
    assert result.exit_code == 2
    assert "error: unknown run id for --runs: nope; the submission's runs are: base, sgd, wild" in result.stderr
    assert verify(submission, "--runs", "base", "--runs", "sgd,wild", "--sample", "1").exit_code == 2
    assert "no such file or folder" in verify(submission / "absent").stderr
    sweep = {"runs": {"base": {}, "grid/lr=0.1,bs=32": {}, "grid/lr=0.1,bs=64": {}}}  # sweep ids hold commas
    assert choose_runs(sweep, ["grid/lr=0.1,bs=64,base"]).ids == ["base", "grid/lr=0.1,bs=64"]


@pytest.mark.slow
def test_json_output_has_every_runs_outcome(submission):
    _edit_results(submission, lambda r: r["runs"]["wild"].update(diverged_epoch=2))
    result = verify(submission, "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert {r["id"]: r["outcome"] for r in data["runs"]} == {"base": "reproduced", "sgd": "reproduced",
                                                             "wild": "differs"}
    wild = next(r for r in data["runs"] if r["id"] == "wild")
    assert wild["differences"] == [{"metric": "diverged_epoch", "recorded": 2, "rerun": 1, "absolute": 1,
                                    "relative": 0.5}]
    assert data["mode"]["exact"] and data["mode"]["rtol"] == 0 and data["manifest"]["same"]
    assert data["counts"] == {"reproduced": 2, "differs": 1, "could not run": 0} and not data["ok"]
    assert data["selection"] == {"how": "all", "ids": ["base", "sgd", "wild"], "seed": None, "sample": None,
                                 "asked": None, "available": 3}


@pytest.mark.slow
def test_another_environment_compares_within_a_tolerance_and_says_why(submission):
    def elsewhere(results):
        env = results["runs"]["sgd"]["environment"]
        env.update(device="cuda", device_name="NVIDIA H100")
        results["runs"]["sgd"]["test"]["loss"] *= 1 + 1e-4

    _edit_results(submission, elsewhere)
    result = verify(submission, "--runs", "sgd")
    assert result.exit_code == 0, result.output
    assert "mode: recorded on cuda (NVIDIA H100), re-run on cpu: within rtol 0.01" in result.stdout
    strict = verify(submission, "--runs", "sgd", "--rtol", "1e-6")
    assert strict.exit_code == 1 and "test.loss: recorded " in strict.stdout
    assert "re-run on cpu; --rtol 1e-06 given: within rtol 1e-06" in strict.stdout


# FRUIT's dataset and training with the tiny MobileNetV2, and a child run started from its parent's weights
CHAIN = variant(FRUIT, report={"title": "Chain"}, models={"net": NET, "mob": MOB},
                experiments=[{"id": "parent", "model": "mob"},
                             {"id": "child", "model": "mob", "weights": {"from": "parent"},
                              "train": {"epochs": 3, "schedule": {"name": "cosine"}}}])


@pytest.mark.slow
def test_a_transfer_child_re_runs_its_parent_first_and_keeps_its_schedule(tmp_path):
    manifest = _built_with_images(tmp_path / "chain", manifest_text(CHAIN), "chain.yaml")
    rows = json.loads((tmp_path / "chain" / "out" / "results.json").read_text("utf-8"))["runs"]["child"]["epochs"]
    assert rows[1]["lr"] == pytest.approx(0.75 * rows[0]["lr"])  # cosine over 3 epochs (over 2 it would be 0.5)
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copy(tmp_path / "chain" / "out" / "results.json", folder)
    shutil.copy(manifest, folder)
    shutil.copytree(tmp_path / "chain" / "images", folder / "images")
    result = verify(folder, "--runs", "child", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "parent (re-run first: child starts from its final weights): reproduced (1 epoch and the test" \
        in result.stdout
    # epoch 2's learning rate is the one of a 3-epoch cosine schedule: the schedule was not shortened
    assert "child: reproduced (the first 2 of 3 epochs, no test metrics; 13 values)" in result.stdout
    assert "[1/2] parent: re-running mob for 1 epoch (re-run first" in result.stderr


@pytest.mark.unit
def test_help_and_unusable_input_answer_without_importing_torch(tmp_path):
    code = ("import sys\nfrom click.testing import CliRunner\nfrom reportgen.cli import main\n"
            "shown = CliRunner().invoke(main, ['verify', '--help']).output\n"
            "missing = CliRunner().invoke(main, ['verify', sys.argv[1]])\n"
            "print(missing.exit_code, 'torch' in sys.modules, 'Example: reportgen verify ' in shown)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "absent")], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["2", "False", "True"], done.stderr
