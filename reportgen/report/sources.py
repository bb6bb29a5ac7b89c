"""Where a dataset's images came from, in words, from the structured `dataset.source` record."""

from __future__ import annotations


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _split(split: dict) -> str:
    if "ratios" in split:
        return f"split {'/'.join(f'{v:g}' for v in split['ratios'])} (train/validation/test) by class"
    return f"validation carved from {split['carved_from']} by class"


def source_text(source: dict) -> str:
    """One line: 'CIFAR-10 from data/cifar-10-batches-py; validated on the test set', and the like."""
    kind = source.get("kind")
    if kind == "digits":
        text = f"scikit-learn bundled digits ({source['images']:,} images)"
    elif kind == "cifar":
        text = f"{source['format']} from {source['path']}" + (f", {source['labels']} labels" if source.get("labels") else "")
    elif kind == "imagefolder":
        text = (f"image folders from {' and '.join(source['paths'])} ({source['images']:,} images, "
                f"{source['classes']} classes; {_split(source['split'])})")
        if source.get("ignored"):
            text += f"; ignored folders not in `classes:`: {', '.join(source['ignored'])}"
        if source.get("skipped"):
            text += f"; {_plural(source['skipped'], 'unreadable file')} skipped"
    elif kind == "synthetic":
        missing = (f"image folder {source['path']} not found" if source.get("missing") == "image folder"
                   else f"{source.get('missing')} files not found in {source.get('path')}")
        text = f"synthetic images (smoke build; {missing})"
    else:
        text = str(kind or "unknown source")
    if source.get("validated_on_test"):
        text += "; validated on the test set"
    if source.get("smoke_limit"):
        text += f"; smoke subset of at most {source['smoke_limit']} images per split"
    return text
