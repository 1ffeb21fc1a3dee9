"""A checkpoint's sweep point written as the library selects it, and its tensors (parsed in Rust
from the bytes the store checked) as numpy arrays or torch tensors, sharing no values with the
store."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from .errors import Error


def point(points: List[List[tuple]], coords: Dict[str, Any]) -> List[tuple]:
    """``coords`` (Python values: ``seed=0``, ``lr=1e-3``) as the ``(axis, value text)`` pairs
    the library selects instances by: each value as the planned points write it, when one of
    them is the same value (``0.001`` for ``1e-3``); else as Python writes it, so the library's
    error lists the points there are."""
    texts: Dict[str, set] = {}
    for planned in points:
        for axis, text in planned:
            texts.setdefault(axis, set()).add(text)
    pairs = []
    for axis, value in coords.items():
        same = sorted(t for t in texts.get(axis, ()) if _same(t, value))
        pairs.append((axis, same[0] if len(same) == 1 else str(value)))
    return pairs


def _same(stored: str, wanted: Any) -> bool:
    """A coordinate as stored (``"0.001"``) against a Python value (``0.001``, ``"0.001"``)."""
    if isinstance(wanted, bool):
        return stored == ("true" if wanted else "false")
    if str(wanted) == stored or repr(wanted) == stored:
        return True
    try:
        return float(stored) == float(wanted)
    except (TypeError, ValueError):
        return stored.strip('"') == str(wanted)


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
