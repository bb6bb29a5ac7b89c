"""Partial-run checkpoints: one checksummed file per unfinished run, rewritten atomically after every epoch."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from reportgen.hashing import digest
from reportgen.writer import write_bytes

FORMAT = "reportgen.partial/1"
_MAGIC = b"reportgen-partial/1 sha256="
FIELDS = ("format", "model", "optimizer", "scheduler", "generator", "rng", "epochs", "stopper", "last_finite",
          "seconds", "stopped_epoch")


class Corrupt(Exception):
    """A checkpoint or cache entry whose bytes do not check out; the message says why."""


def pack(state: dict) -> bytes:
    """Header line with the payload's SHA-256, then the payload as torch.save writes it."""
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    return _MAGIC + digest(payload).encode() + b"\n" + payload


def unpack(data: bytes) -> dict:
    """The state packed by `pack`; Corrupt when the header, checksum or content is wrong."""
    head, sep, payload = data.partition(b"\n")
    if not sep or not head.startswith(_MAGIC):
        raise Corrupt("partial checkpoint has no header" if data else "partial checkpoint is empty")
    if digest(payload).encode() != head[len(_MAGIC):]:
        raise Corrupt("partial checkpoint fails its sha256 check")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable payload is a corrupt file
        raise Corrupt(f"partial checkpoint is unreadable: {type(exc).__name__}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or any(f not in state for f in FIELDS):
        raise Corrupt("partial checkpoint lacks fields of " + FORMAT)
    return state


def save(path: Path, state: dict) -> None:
    """Atomically replace the checkpoint at path."""
    write_bytes(path, pack({"format": FORMAT, **state}))


def load(path: Path) -> dict | None:
    """The checkpoint at path, None when there is none; Corrupt when it cannot be trusted."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    return unpack(data)


def remove(path: Path) -> None:
    """Delete the checkpoint and any temporary file a killed write left beside it."""
    path = Path(path)
    path.unlink(missing_ok=True)
    if path.parent.is_dir():
        for tmp in path.parent.glob(f".{path.name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def weights_bytes(state_dict: dict) -> bytes:
    """A model's final weights as the run cache keeps them (torch.save of the CPU tensors)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
    return buf.getvalue()


def weights_from_bytes(data: bytes) -> dict:
    """The state dict that weights_bytes wrote, loaded with weights_only=True."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def rng_states(device: torch.device) -> dict:
    """Torch's global random states: the CPU's, and the accelerator's when training on one."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state_all()
    elif device.type == "mps":
        states["mps"] = torch.mps.get_rng_state()
    return states


def set_rng_states(states: dict, device: torch.device) -> None:
    """Put back what rng_states saved (accelerator states only on the same kind of device)."""
    torch.set_rng_state(states["cpu"])
    if device.type == "cuda" and "cuda" in states and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    elif device.type == "mps" and "mps" in states:
        torch.mps.set_rng_state(states["mps"])
