"""A generated class for `reportgen grade --similarity`: a starter folder and teams with planted relations.

Every team holds files in reportgen's formats: a manifest (the starter's model and experiment plus its own), the
starter's introduction.md and its own discussion.md, a `module:` file, a report.html whose prose sections hold the
Markdown's text, and a results.json made from tests/fixtures/results-small.json, its runs repeated over three seeds
with the team's own numbers (the starter's run keeps the starter's digest and numbers, as an unchanged starter run
would). Planted: a discussion copied with words changed and paragraphs reordered, a module copied with its names
renamed, a design copied under another title, one seed of one run copied, a team that hands in the starter only;
the other teams are unrelated. Used by tests/grading/test_similar.py and benchmarks/similarity.py.
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from manifests import NET, SMALL, manifest_text

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "results-small.json"
STARTER_DIGEST = "5" * 64
# phrases every team writes: more than a fifth of the class holds them, so they are not counted
COMMON = ["the validation accuracy of the model is shown in the table below",
          "we trained every network for the same number of epochs with the same batch size",
          "the learning rate was chosen from the values suggested in the lecture notes"]
LAYERS = ["Conv2d({c}, {d}, 3, padding=1)", "BatchNorm2d({d})", "ReLU()", "MaxPool2d(2)", "Dropout(0.{p})",
          "GELU()", "AvgPool2d(2)", "Conv2d({c}, {d}, 5, padding=2)"]


@dataclass
class Planted:
    """The class written and what was planted in it."""

    root: Path
    base: Path
    pairs: dict[tuple[str, str], str] = field(default_factory=dict)  # (a, b) → the kind that must find it
    starter_only: str = ""
    unrelated: list[str] = field(default_factory=list)

    def folders(self) -> list[Path]:
        """Every team folder, sorted."""
        return sorted(p for p in self.root.iterdir())


def _words(rng: random.Random, n: int) -> list[str]:
    syllables = ["ka", "lo", "mi", "ter", "sen", "ra", "vo", "dun", "pel", "shi", "an", "or", "qua", "bri", "te"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(n)]


def prose(rng: random.Random, words: int, vocabulary: list[str]) -> str:
    """Paragraphs of sentences over a vocabulary, with the class's common phrases and a few numbers."""
    paragraphs, count = [], 0
    while count < words:
        sentences = []
        for _ in range(rng.randint(3, 6)):
            sentence = [rng.choice(vocabulary) for _ in range(rng.randint(8, 18))]
            if rng.random() < 0.25:
                sentence.insert(rng.randint(0, len(sentence)), f"{rng.uniform(50, 99):.2f} %")
            if rng.random() < 0.1:
                sentence += rng.choice(COMMON).split()
            count += len(sentence)
            sentences.append(" ".join(sentence).capitalize() + ".")
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs) + "\n"


def reworded(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    """The text with every twentieth word or so replaced, numbers changed and its paragraphs reordered."""
    paragraphs = text.strip().split("\n\n")
    rng.shuffle(paragraphs)
    out = []
    for p in paragraphs:
        words = p.split(" ")
        for i, w in enumerate(words):
            if w.replace(".", "").isdigit():
                words[i] = f"{rng.uniform(50, 99):.2f}"
            elif rng.random() < 0.05:
                words[i] = rng.choice(vocabulary)
        out.append("  ".join(words) if rng.random() < 0.5 else " ".join(words))
    return "\n\n".join(out) + "\n"


def module(rng: random.Random, names: dict[str, str] | None = None, lines: int = 100) -> str:
    """A `module:` file of about `lines` lines: a network class of random layers and helper functions."""
    n = names or {}
    name = lambda key: n.get(key, key)  # noqa: E731
    out = ["import torch", "from torch import nn", "", "", f"class {name('Net')}(nn.Module):",
           '    """A small network."""', "", f"    def __init__(self, {name('width')}=16, {name('classes')}=10):",
           "        super().__init__()"]
    body = []
    c = 3
    for i in range(rng.randint(8, 14)):
        d = rng.choice([8, 16, 32, 64])
        body.append(f"        self.{name(f'layer{i}')} = nn.{rng.choice(LAYERS).format(c=c, d=d, p=rng.randint(1, 5))}")
        c = d
    out += body + [f"        self.{name('head')} = nn.Linear({c}, {name('classes')})", "",
                   f"    def forward(self, {name('x')}):"]
    out += [f"        {name('x')} = self.{name(f'layer{i}')}({name('x')})" for i in range(len(body))]
    out += [f"        return self.{name('head')}({name('x')}.mean(dim=(2, 3)))", ""]
    k = 0
    while len(out) < lines:
        out += ["", f"def {name(f'helper{k}')}({name('a')}, {name('b')}={rng.randint(1, 9)}):", f"    # helper {k}"]
        out += [f"    {_statement(rng, name)}" for _ in range(rng.randint(2, 6))]
        out.append(f"    return {rng.choice(['a', 'b', 't', 'u'])}".replace(" a", f" {name('a')}"))
        k += 1
    return "\n".join(out) + "\n"


STATEMENTS = ["{t} = {a} {op} {b}", "{t} = torch.{fn}({a}, dim={n})", "{u} = [{a} {op} {i} for {i} in range({n})]",
              "{t} = nn.functional.{act}({a})", "if {a} > {n}: {t} = {b} {op} {n}", "{u} = {{{n}: {a}, {m}: {b}}}",
              "{t} = {a}.view({a}.size(0), -{n})", "for {i} in range({n}): {a} = {a} {op} {i}",
              "{t} = sum({a} {op} {i} for {i} in range({m}))", "{u} = ({a}, {b}, {n})", "assert {a} is not None",
              "{t} = {a}[{n}:{m}]", "{t} = max({a}, {b}) {op} {n}", "{u} = str({a}).split()[{n}]"]


def _statement(rng: random.Random, name) -> str:
    """One random line of a helper's body."""
    return rng.choice(STATEMENTS).format(
        t=name("t"), u=name("u"), a=name(rng.choice("ab")), b=name(rng.choice("ab")), i=name("i"),
        op=rng.choice("+-*/%"), fn=rng.choice(["cat", "stack", "sum", "mean", "amax"]), n=rng.randint(1, 9),
        m=rng.randint(10, 20), act=rng.choice(["relu", "gelu", "silu", "elu"]))


def manifest(title: str, team: str, models: dict, experiments: list) -> str:
    """A manifest: the starter's model and experiment, then the team's."""
    return manifest_text(SMALL, report={"title": title, "team": [{"name": team, "id": team.upper()}],
                                        "date": "2024-01-15"},
                         models={"baseline": NET, **models}, train={"epochs": 2, "measure": None},
                         experiments=[{"id": "baseline", "model": "baseline", "title": "Starter"}, *experiments],
                         sections=["cover", {"prose": {"file": "introduction.md"}}, "training",
                                   {"prose": {"file": "discussion.md"}}])


def own_design(rng: random.Random) -> tuple[dict, list]:
    """A model of the team's own and two experiments with it, one a sweep."""
    layers = []
    for _ in range(rng.randint(2, 4)):
        layers += [{"conv": {"out": rng.choice([8, 12, 16, 24, 32]), "kernel": rng.choice([3, 5])}},
                   rng.choice(["relu", "gelu", "tanh"]), {"maxpool": 2}]
    layers += ["flatten", {"linear": rng.choice([32, 48, 64, 96])}, "relu", {"linear": "classes"}]
    lr = rng.choice([0.001, 0.002, 0.003, 0.005, 0.02])
    experiments = [{"id": "own", "model": "own", "title": "Own network", "train": {"optimizer": {"name": "sgd",
                                                                                                 "lr": lr}}},
                   {"id": "own_sweep", "model": "own", "title": "Batch sizes",
                    "sweep": {"train.batch_size": rng.sample([16, 32, 64, 128, 256], 2)}}]
    return {"own": {"layers": layers}}, experiments


def results(rng: random.Random, starter: bool = False) -> dict:
    """A results record: the starter's run (starter's digest and numbers) and the team's own, three seeds each."""
    fixture = json.loads(FIXTURE.read_text("utf-8"))
    out = {k: v for k, v in fixture.items() if k != "runs"}
    out["runs"] = {}
    for rid, src in (("baseline", "adam"), ("own", "sgd"), ("own_sweep", "adam")):
        if starter and rid != "baseline":
            continue
        run = copy.deepcopy(fixture["runs"][src])
        run["id"] = run["experiment"] = rid
        mine = random.Random(0 if rid == "baseline" else rng.random())
        run["digest"] = STARTER_DIGEST if rid == "baseline" else f"{mine.getrandbits(256):064x}"
        run["repeats"] = [_seed(run, seed, mine) for seed in (1, 2, 3)]
        run["epochs"], run["test"] = run["repeats"][0]["epochs"], run["repeats"][0]["test"]
        out["runs"][rid] = run
    out["run_order"] = list(out["runs"])
    return out


def _seed(run: dict, seed: int, rng: random.Random) -> dict:
    """One seed: the run's numbers moved by a few per cent, a few predictions moved in the confusion matrix."""
    epochs = copy.deepcopy(run["epochs"])
    for row in epochs:
        for key in ("train_loss", "val_loss"):
            row[key] *= rng.uniform(0.8, 1.2)
        for key in ("train_acc", "val_acc"):
            row[key] = min(1.0, row[key] * rng.uniform(0.9, 1.05))
        row["seconds"] = rng.uniform(5, 10)
    test = copy.deepcopy(run["test"])
    matrix = test["confusion_matrix"]
    for _ in range(rng.randint(5, 15)):
        r = rng.randrange(len(matrix))
        c = rng.randrange(len(matrix))
        if matrix[r][r] > 0 and c != r:
            matrix[r][r] -= 1
            matrix[r][c] += 1
    test["accuracy"] = sum(matrix[i][i] for i in range(len(matrix))) / sum(map(sum, matrix))
    test["loss"] *= rng.uniform(0.8, 1.2)
    return {"seed": seed, "status": "completed", "stopped_epoch": None, "diverged_epoch": None, "epochs": epochs,
            "test": test, "train_seconds": 12.0, "cache_key": f"{rng.getrandbits(96):024x}"}


STARTER_INTRO_SEED, STARTER_MODULE_SEED = 1000, 1001


def report_html(title: str, texts: list[str]) -> str:
    """A report.html as reportgen lays its prose out: numbered prose sections, one paragraph per Markdown one."""
    sections = []
    for i, text in enumerate(texts, 1):
        paragraphs = "\n".join(f"<p>{escape_html(p)}</p>" for p in text.strip().split("\n\n"))
        sections.append(f'<section class="prose" id="s{i}-body"><h2 id="s{i}"><span class="secnum">{i}</span> '
                        f"Part {i}</h2>\n{paragraphs}\n</section>")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape_html(title)}</title>"
            f"</head><body><main>{''.join(sections)}</main></body></html>\n")


def escape_html(text: str) -> str:
    """Text escaped for HTML, as Jinja does."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Team:
    """What one team hands in."""

    name: str
    discussion: str
    code: str
    models: dict
    experiments: list
    results: dict
    title: str = "A tiny CNN on digits"


def starter(words: int = 300) -> Team:
    """The course's starter: its model and experiment, introduction, module and its results."""
    rng = random.Random(STARTER_INTRO_SEED)
    vocabulary = _words(rng, 400)
    return Team("starter", prose(rng, words, vocabulary), module(random.Random(STARTER_MODULE_SEED), lines=40), {},
                [], results(random.Random(7), starter=True), title="Starter")


def write_team(folder: Path, team: Team, start: Team) -> None:
    """A submission folder: manifest, prose, module, report.html and results.json."""
    folder.mkdir(parents=True)
    models = {**team.models}
    if team.code:
        models["custom"] = {"module": "net.py:Net", "description": "Our module."}
    (folder / "manifest.yaml").write_text(manifest(team.title, team.name, models, team.experiments), "utf-8")
    (folder / "introduction.md").write_text(start.discussion, "utf-8")
    (folder / "discussion.md").write_text(team.discussion, "utf-8")
    (folder / "starter_net.py").write_text(start.code, "utf-8")
    if team.code:
        (folder / "net.py").write_text(team.code, "utf-8")
    (folder / "report.html").write_text(report_html(team.title, [start.discussion, team.discussion]), "utf-8")
    team.results["manifest"]["file"] = "manifest.yaml"
    (folder / "results.json").write_text(json.dumps(team.results), "utf-8")


def own_team(name: str, seed: int, words: int = 600, lines: int = 100) -> Team:
    """A team with prose, module, design and runs of its own."""
    rng = random.Random(seed)
    vocabulary = _words(random.Random(seed + 1), 400)  # each team writes in words of its own
    models, experiments = own_design(rng)
    return Team(name, prose(rng, words, vocabulary), module(rng, lines=lines), models, experiments, results(rng))


def write_class(root: Path, words: int = 600, extra: int = 4) -> Planted:
    """The starter in root/starter and the class in root/class: 9 planted teams and `extra` unrelated ones."""
    start = starter()
    write_team(root / "starter", start, start)
    teams = {f"t{i:02d}": own_team(f"t{i:02d}", 100 + i, words) for i in range(1, 9)}
    rng = random.Random(5)
    vocabulary = _words(random.Random(101 + 1), 400)
    teams["t02"].discussion = reworded(teams["t01"].discussion, rng, vocabulary)
    renames = {k: f"renamed_{k}_{i}" for i, k in enumerate(["Net", "width", "classes", "head", "x", "a", "b", "t",
                                                            "i", *(f"layer{j}" for j in range(14)),
                                                            *(f"helper{j}" for j in range(20))])}
    teams["t04"].code = _renamed(teams["t03"].code, renames)
    teams["t06"].models, teams["t06"].experiments = teams["t05"].models, teams["t05"].experiments
    teams["t06"].title = "Something else entirely"
    shared = copy.deepcopy(teams["t07"].results["runs"]["own"]["repeats"][1])
    teams["t08"].results["runs"]["own"]["repeats"][1] = shared
    teams["t09"] = Team("t09", start.discussion, start.code, {}, [], results(random.Random(7), starter=True))
    teams["t09"].title = "Starter only"
    for i in range(10, 10 + extra):
        teams[f"t{i:02d}"] = own_team(f"t{i:02d}", 100 + i, words)
    for name, team in teams.items():
        write_team(root / "class" / name, team, start)
    unrelated = [n for n in teams if n not in {"t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09"}]
    return Planted(root / "class", root / "starter",
                   {("t01", "t02"): "prose", ("t03", "t04"): "code", ("t05", "t06"): "design", ("t07", "t08"): "runs"},
                   "t09", unrelated)


def _renamed(code: str, renames: dict[str, str]) -> str:
    """The code with its names renamed (whole words), and its comments changed."""
    out = re.sub(r"\b(" + "|".join(sorted(map(re.escape, renames), key=len, reverse=True)) + r")\b",
                 lambda m: renames[m.group()], code)
    return out.replace("# helper", "# a function that helps:")
