"""`module: FILE.py:CLASS` models: the file imported (only when building), the class instantiated and checked."""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from reportgen.errors import ManifestError, UserError
from reportgen.hashing import digest as content_digest

_IMPORTED: dict[tuple[str, str], ModuleType] = {}  # (resolved path, SHA-256 of its bytes) → the module it made


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def import_file(path: Path, shown: str) -> ModuleType:
    """The Python file imported under a name of its own (its content's hash), once per content; `shown` is its path
    as messages name it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {shown}: {exc.strerror or exc}") from None
    digest = content_digest(data)
    key = (str(path.resolve()), digest)
    if key in _IMPORTED:
        return _IMPORTED[key]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"reportgen_user_{stem}_{digest[:16]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up by their module's name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever the user's file raises is the user's to fix
        del sys.modules[name]
        line = next((f.lineno for f in reversed(inspect.trace()) if f.filename == str(path)), None)
        at = f" (line {line})" if line else ""
        raise UserError(f"importing {shown} failed{at}: {_first_line(exc)}") from None
    _IMPORTED[key] = module
    return module


def _kwargs(cls: type, args: dict, in_channels: int, num_classes: int) -> dict:
    """The constructor's keyword arguments: `args`, plus num_classes and in_channels where its signature names them."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    given = dict(args)
    for key, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if key in params:
            given[key] = value
    return given


def _call(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def instantiate(path: Path, shown: str, class_name: str, args: dict, input_shape: tuple[int, int, int],
                num_classes: int) -> nn.Module:
    """Import the file, build the class and check it maps a batch of images to one output per class."""
    module = import_file(path, shown)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise UserError(f"{shown} defines no {class_name!r} once imported")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise UserError(f"{class_name} in {shown} is not a torch.nn.Module class (it is {type(cls).__name__})")
    kwargs = _kwargs(cls, args, input_shape[0], num_classes)
    try:
        model = cls(**kwargs)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{class_name}({_call(kwargs)}) raised {_first_line(exc)}") from None
    shape = (2, *input_shape)  # two images, so that batch norm in training mode could run too
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(shape))
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{class_name} cannot take a batch of {list(shape)} images: {_first_line(exc)}") from None
    finally:
        model.train()
    got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if got != [2, num_classes]:
        raise UserError(f"{class_name} maps a batch of {list(shape)} images to {got}; it must return (batch, "
                        f"{num_classes}): one output (logit) per class")
    return model


def build_module_model(loaded, name: str, dataset) -> nn.Module:
    """A manifest's `module:` model for a dataset; its mistakes become one located manifest error."""
    base = name.split("@", 1)[0]
    spec = loaded.manifest.models[base]
    path, class_name = spec.module_parts()
    from reportgen.manifest.static import module_problems

    problems = module_problems(loaded, base)
    if problems:
        raise ManifestError(problems)
    try:
        return instantiate(loaded.base_dir / path, path, class_name, spec.args or {}, dataset.input_shape(),
                           dataset.num_classes())
    except UserError as exc:
        raise ManifestError([loaded.problem(("models", base, "module"), str(exc))]) from None
