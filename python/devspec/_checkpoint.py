"""Choosing one stored checkpoint by a step's name, its sweep coordinates and its training step,
and turning its tensors (parsed in Rust from the bytes the store checked) into numpy arrays or
torch tensors, sharing no values with the store."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from .errors import Error, MissingResult


def select(
    step_name: str,
    rows: List[dict],
    missing: List[str],
    training_step: Optional[int],
    coords: Dict[str, Any],
) -> dict:
    """The one stored checkpoint of ``step_name`` at ``coords`` and ``training_step`` (the
    last one when ``None``); an :class:`Error` naming what would choose between several, or what
    exists when none matches."""
    axes = sorted({axis for row in rows for axis in row["coords"]})
    for axis in coords:
        if rows and axis not in axes:
            raise Error(
                f"`{step_name}` has no axis `{axis}`",
                f"its axes: {', '.join(axes) or 'none (it is not swept)'}",
            )
    matching = [row for row in rows if all(_same(row["coords"].get(a), v) for a, v in coords.items())]
    instances = sorted({row["instance"] for row in matching})
    if not matching:
        waiting = [name for name in missing if _named_point(name, coords)]
        if waiting:
            raise MissingResult(
                f"{waiting[0]} has no stored checkpoints yet", "run the study first: Study.run()"
            )
        raise MissingResult(
            f"no stored checkpoint of `{step_name}` at "
            f"{', '.join(f'{a}={v}' for a, v in coords.items()) or 'any point'}",
            "Study.checkpoints(step) lists the stored ones; Study.run() computes the rest",
        )
    if len(instances) > 1:
        raise Error(
            f"{len(instances)} instances of `{step_name}` match: {', '.join(instances)}",
            f"choose one by its axes, e.g. checkpoint({step_name!r}, "
            + ", ".join(f"{a}={matching[0]['coords'][a]}" for a in axes)
            + ")",
        )
    if training_step is None:
        return max(matching, key=lambda row: row["step"])
    for row in matching:
        if row["step"] == training_step:
            return row
    steps = ", ".join(str(row["step"]) for row in sorted(matching, key=lambda r: r["step"]))
    raise MissingResult(
        f"{instances[0]} has no checkpoint at step {training_step}", f"its checkpoints: {steps}"
    )


def _same(stored: Optional[str], wanted: Any) -> bool:
    """A coordinate as stored (``"0.001"``) against a Python value (``0.001``, ``"0.001"``)."""
    if stored is None:
        return False
    if str(wanted) == stored or repr(wanted) == stored:
        return True
    try:
        return float(stored) == float(wanted)
    except (TypeError, ValueError):
        return stored.strip('"') == str(wanted)


def _named_point(instance: str, coords: Dict[str, Any]) -> bool:
    """Whether an instance's name (``run[seed=0,lr=0.1]``) has every coordinate asked for."""
    inside = instance.partition("[")[2].rpartition("]")[0]
    named = dict(part.split("=", 1) for part in inside.split(",") if "=" in part)
    return all(_same(named.get(a), v) for a, v in coords.items())


_TORCH: Any = None


def _torch() -> Any:
    """torch when it imports, else None (imported once, on first use: it takes a second)."""
    global _TORCH
    if _TORCH is None:
        try:
            import torch
        except ImportError:
            _TORCH = False
        else:
            _TORCH = torch
    return _TORCH or None


def tensors(stored: List[tuple], backend: str) -> Dict[str, Any]:
    """``(name, numpy type, shape, bytearray)`` tuples as a dict of numpy arrays or torch
    tensors (``backend``: ``"auto"``, torch when it imports; ``"numpy"``; ``"torch"``)."""
    if backend not in ("auto", "numpy", "torch"):
        raise Error(f"unknown backend {backend!r}", "use 'auto', 'numpy' or 'torch'")
    torch = None if backend == "numpy" else _torch()
    if backend == "torch" and torch is None:
        raise Error("backend='torch' needs PyTorch, which does not import here", "pip install torch")
    out: Dict[str, Any] = {}
    for name, dtype, shape, data in stored:
        if dtype == "bf16":
            if torch is None:
                raise Error(
                    f"tensor {name} is bfloat16, which numpy cannot hold", "install torch to read it"
                )
            out[name] = torch.frombuffer(data, dtype=torch.bfloat16).reshape(shape)
            continue
        # The bytearray is this call's own copy: the array is writable and shares nothing.
        array = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
        out[name] = torch.from_numpy(array) if torch is not None else array
    return out
