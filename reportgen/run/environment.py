"""Where and with what a run's numbers were produced, captured when it runs; the code version of the run side."""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib.metadata import version

import torch

from reportgen import __version__
from reportgen.hashing import cache_key
from reportgen.sourcehash import source_digest

RUN_CODE = ("data", "models", "run", "manifest/shapes")  # the source that decides a run's numbers (shapes names
# the layers); the report side does not


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the run side's source (every module of RUN_CODE, found by walking), reportgen's and torch's versions."""
    return cache_key({"reportgen": __version__, "torch": torch.__version__, "source": source_digest(*RUN_CODE)})


def run_environment(device: torch.device) -> dict:
    """The process and device a run trained in: versions, platform, threads, device name."""
    cuda = device.type == "cuda"
    return {
        "reportgen": __version__,
        "code_version": code_version(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "torchvision": version("torchvision"),
        "numpy": version("numpy"),
        "scikit_learn": version("scikit-learn"),
        "threads": torch.get_num_threads(),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else None,
        "cuda": torch.version.cuda if cuda else None,
    }


def build_environment(runs: dict) -> dict:
    """The build's environment, gathered from its runs' own environments (a failed run may have none)."""
    envs = [r["environment"] for r in runs.values() if r.get("environment")]
    first = envs[0] if envs else {}
    devices = sorted({e["device"] for e in envs})
    gpus = sorted({e["device_name"] for e in envs if e.get("device_name")})
    fields = ("python", "platform", "machine", "torch", "torchvision", "numpy", "scikit_learn", "cuda")
    return {**{k: first.get(k) for k in fields},
            "code_version": first.get("code_version") or code_version(), "reportgen": __version__,
            "cpu_threads": sorted({e["threads"] for e in envs}), "devices": devices,
            "device": ", ".join(devices) if devices else "cpu", "gpu": ", ".join(gpus) or None}
