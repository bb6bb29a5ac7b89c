"""Write a starter project: DIR/<name>.yaml, DIR/<name>/introduction.md and discussion.md, DIR/.gitignore.

The starters are package data (starters/*.yaml, *.md, gitignore.txt); `<<key>>` markers are filled in here.
Nothing is overwritten: when any target exists, nothing is written and every existing file is named."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from reportgen.errors import UserError
from reportgen.writer import write_all

TEMPLATES = ("assignment", "paper", "lab")
DATASETS = ("digits", "cifar10", "imagefolder")
# per dataset: the report title, epochs and batch size of a real build (digits: seconds on a 2-core CPU)
SETTINGS = {
    "digits": ("Handwritten digit classification with a small CNN", 6, 32),
    "cifar10": ("CIFAR-10 image classification with a small CNN", 10, 64),
    "imagefolder": ("Image classification with a small CNN", 10, 32),
}


@dataclass
class Starter:
    """What init writes (path → bytes) and what to tell the user."""

    folder: Path
    name: str
    manifest: Path
    files: dict[Path, bytes]
    dataset: str


def starter_text(name: str) -> str:
    """One starter file's text, from the package data."""
    return resources.files("reportgen.project.init").joinpath("starters", name).read_text("utf-8")


def project_name(folder: Path) -> str:
    """A manifest stem from the folder's name (letters, digits, - and _), else `report`."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(os.path.abspath(folder)).name).strip("-_").lower()
    return name if re.match(r"^[a-z][a-z0-9_-]*$", name) and name != "output" else "report"


def fill(text: str, values: dict[str, str]) -> str:
    """Replace every `<<key>>`; an unknown marker is a bug in the starters."""
    def one(m) -> str:
        return values[m[1]]

    return re.sub(r"<<(\w+)>>", one, text)


def starter(folder: Path, template: str = "assignment", dataset: str = "digits",
            today: dt.date | None = None) -> Starter:
    """The files of a starter project in `folder`, in memory."""
    if template not in TEMPLATES or dataset not in DATASETS:
        raise UserError(f"unknown template {template!r} or dataset {dataset!r}")
    folder = Path(folder)
    name = project_name(folder)
    title, epochs, batch = SETTINGS[dataset]
    values = {"name": name, "dataset": dataset, "title": title, "epochs": str(epochs), "batch_size": str(batch),
              "date": (today or dt.date.today()).isoformat(),
              "dataset_block": starter_text(f"dataset-{dataset}.yaml").rstrip("\n")}
    manifest = folder / f"{name}.yaml"
    texts = {manifest: fill(starter_text(f"{template}.yaml"), values),
             folder / name / "introduction.md": starter_text("introduction.md"),
             folder / name / "discussion.md": starter_text("discussion.md"),
             folder / ".gitignore": starter_text("gitignore.txt")}
    return Starter(folder, name, manifest, {p: t.encode("utf-8") for p, t in texts.items()}, dataset)


def shown(path: Path) -> str:
    """A path as a pasteable shell word: relative to the working folder when inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        text = str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        text = str(absolute)
    return shlex.quote(text)


def write_starter(s: Starter) -> list[Path]:
    """Write every file (atomically), or none when any already exists (UserError naming each)."""
    existing = [p for p in s.files if p.exists() or p.is_symlink()]
    if existing:
        raise UserError("not overwriting existing files (nothing was written):\n  "
                        + "\n  ".join(shown(p) for p in existing)
                        + "\nchoose an empty folder, e.g. `reportgen init my-report`, or move these files away")
    write_all(s.files)
    return list(s.files)


def next_steps(s: Starter) -> list[str]:
    """The commands to run next (they work when pasted), with what each does."""
    m = shown(s.manifest)
    lines = []
    if s.dataset == "cifar10":
        lines.append(f"put cifar-10-python.tar.gz in {shown(s.folder / 'data' / 'cifar10')}/ "
                     "(or build on a machine with network: the manifest says download: true)")
    elif s.dataset == "imagefolder":
        lines.append(f"put your images in {shown(s.folder / 'data' / 'images')}/<class>/ and list the class "
                     f"folders under dataset.classes in {m}")
    lines += [f"reportgen build --smoke {m}    # the whole report in seconds (1 epoch"
              + (", synthetic images)" if s.dataset != "digits" else ")"),
              f"reportgen build {m}            # the real report",
              f"reportgen validate {m}         # after editing: check it without running anything"]
    return lines
