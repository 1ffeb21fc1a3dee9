"""devspec from Python: a study's spec checked, its status, its results as DataFrames, its
checkpoints as tensors, its reports, and (with the ``devspec`` binary) its run.

>>> import devspec
>>> s = devspec.Study("specs/tms.dev")       # checked and planned on open
>>> s.status()                               # a row per instance
>>> s.run(jobs=2)                            # trains and estimates (needs the devspec binary)
>>> s.table("llc")                           # pandas DataFrame, a row per instance
>>> s.series("tms_run", "train_loss")        # long form: instance, axes, step, value
>>> s.checkpoint("tms_run", seed=0, step=1000)  # {name: torch.Tensor or numpy array}
>>> s.report()                               # [Path of the report's HTML page]

Everything but :meth:`Study.run` reads in-process through the devspec library (the native
module ``devspec._native``): no binary, no libtorch.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native
from ._binary import find_devspec
from ._checkpoint import point as _point
from ._checkpoint import tensors as _tensors
from ._run import RunSummary, run_devspec
from .errors import (
    DevspecNotFound,
    Diagnostic,
    Error,
    MissingResult,
    RunError,
    SpecError,
)

__all__ = [
    "Study",
    "RunSummary",
    "Diagnostic",
    "Error",
    "SpecError",
    "MissingResult",
    "DevspecNotFound",
    "RunError",
]
__version__ = _native.__version__

PathLike = Union[str, "os.PathLike[str]"]


def _set_text(name: str, value: Any) -> str:
    """``NAME=EXPR`` for ``--set``: a Python value written as a .dev expression."""
    return f"{name}={_dev_literal(value)}"


def _dev_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_dev_literal(v) for v in value) + "]"
    raise Error(
        f"cannot write {value!r} as a .dev value",
        "give the override as text instead: sets=['NAME=EXPR']",
    )


def _bind_texts(binds: Optional[Union[Sequence[str], Mapping[str, Any]]]) -> List[str]:
    """``Study``'s ``binds`` as ``devspec --bind`` texts."""
    if binds is None:
        return []
    if isinstance(binds, str):
        return [binds]
    if isinstance(binds, Mapping):

        def text(value: Any) -> str:
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)

        return [f"{name}={text(value)}" for name, value in binds.items()]
    return list(binds)


class Study:
    """A devspec study: a ``.dev`` spec, checked and planned when opened, and its store.

    ``sets`` overrides values as ``devspec --set`` does: a list of ``"NAME=EXPR"`` texts, or a
    mapping ``{"tms_run.steps": 1000}`` whose values are written as .dev values. ``binds``
    binds the spec's open parameters (``param NAME: TYPE``) as ``devspec --bind`` does: a list
    of ``"NAME=VALUE"`` texts, or a mapping ``{"checkpoints": "runs/*.safetensors"}`` (a value
    is its text as ``--bind`` reads it: a path or glob as written, a number, ``true`` or
    ``false``, a model as its .dev expression). ``store`` is
    the store folder (default: ``DEVSPEC_STORE``, ``store.path`` in ``devspec.toml``, else
    ``.devspec/`` beside it). ``devspec`` is the binary :meth:`run` uses (default: ``DEVSPEC``,
    then ``PATH``).

    Raises :class:`SpecError` when the spec does not check.
    """

    def __init__(
        self,
        spec: PathLike,
        sets: Optional[Union[Sequence[str], Mapping[str, Any]]] = None,
        store: Optional[PathLike] = None,
        devspec: Optional[PathLike] = None,
        binds: Optional[Union[Sequence[str], Mapping[str, Any]]] = None,
    ) -> None:
        self.binds = _bind_texts(binds)
        if sets is None:
            self.sets: List[str] = []
        elif isinstance(sets, Mapping):
            self.sets = [_set_text(name, value) for name, value in sets.items()]
        elif isinstance(sets, str):
            self.sets = [sets]
        else:
            self.sets = list(sets)
        self.spec = str(spec)
        self.store = None if store is None else str(store)
        self.devspec = devspec
        self._native = _native.Study(
            self.spec, self.sets, self.store, _worker_beside(devspec), self.binds
        )

    def __repr__(self) -> str:
        return f"Study({self.spec!r}, {len(self._native.instances())} instances)"

    # Checking and status ------------------------------------------------------------------

    def check(self) -> List[Diagnostic]:
        """Reads, checks and plans the spec again (after an edit, say).

        Raises :class:`SpecError` with the text and positions ``devspec check`` gives; returns
        the warnings otherwise (a list of :class:`Diagnostic`).
        """
        return list(self._native.check())

    def steps(self) -> Dict[str, str]:
        """The spec's steps, name to kind (``train``, ``estimate``, ``detect``, ...)."""
        return dict(self._native.steps())

    def status(self):
        """A pandas DataFrame with a row per instance: ``instance``, ``step``, ``kind``, one
        column per sweep axis, ``checkpoint`` (an estimate's training step) and ``status``
        (``cached``, ``will run``, ``waits for inputs`` or ``damaged``), as ``devspec status``
        says them."""
        import pandas as pd

        rows = self._native.status()
        axes: List[str] = []
        for row in rows:
            axes.extend(a for a in row["coords"] if a not in axes)
        records = [
            {
                "instance": row["instance"],
                "step": row["step"],
                "kind": row["kind"],
                **{_column(a): row["coords"].get(a) for a in axes},
                "checkpoint": row["checkpoint"],
                "status": row["status"],
            }
            for row in rows
        ]
        frame = pd.DataFrame.from_records(
            records,
            columns=["instance", "step", "kind", *map(_column, axes), "checkpoint", "status"],
        )
        frame["checkpoint"] = frame["checkpoint"].astype("Int64")
        return frame

    # Running --------------------------------------------------------------------------------

    def run(
        self,
        jobs: Optional[int] = None,
        *,
        targets: Sequence[str] = (),
        quiet: bool = False,
        args: Sequence[str] = (),
    ) -> RunSummary:
        """Runs the study with the ``devspec`` binary (``devspec run FILE --log-format json``):
        what is cached is taken from the store, the rest trained and estimated. Shows its
        progress (a tqdm bar when tqdm is installed, else a line per event; nothing with
        ``quiet``). ``jobs``: worker requests at once; ``targets``: only these steps and what
        they need; ``args``: more ``devspec run`` arguments.

        Returns a :class:`RunSummary`; raises :class:`RunError` (with the end of devspec's
        stderr) when the run fails, :class:`DevspecNotFound` when there is no binary.
        """
        binary = find_devspec(self.devspec)
        arguments: List[str] = []
        for text in self.sets:
            arguments += ["--set", text]
        for text in self.binds:
            arguments += ["--bind", text]
        if self.store is not None:
            arguments += ["--store", self.store]
        if jobs is not None:
            arguments += ["--jobs", str(int(jobs))]
        for target in targets:
            arguments += ["--target", target]
        arguments += list(args)
        total = len(self._native.instances())
        return run_devspec(binary, self.spec, arguments, total, quiet)

    # Results ------------------------------------------------------------------------------

    def table(self, step: str, *, long: bool = False, backend: str = "pandas"):
        """A step's results, a row per instance (``long=True``: a row per instance and
        training step), with the columns ``devspec show FILE STEP --format parquet`` writes
        (docs/results.md): a pandas DataFrame, a polars one (``backend="polars"``) or a
        ``pyarrow.Table`` (``backend="arrow"``). Built in Rust as Arrow and handed over as an
        Arrow IPC stream: no text in between. Instances not computed yet are rows with a
        ``status`` and no numbers (wide); a damaged entry is set aside and warned about."""
        return _frame(self._arrow(step, long), backend)

    def series(self, step: str, name: str, *, backend: str = "pandas"):
        """One series of a step in long form, a row per instance and training step:
        ``instance``, one column per sweep axis, ``step`` and ``value``. A train step's
        ``train_loss`` or ``test_loss``; an estimate's ``llc_mean`` (or any of its metrics) at
        each checkpoint. Instances without results have no rows."""
        import pyarrow.compute as pc

        table = self._arrow(step, True)
        axes = self._native.axes(step)
        # The table writes an axis named like one of its columns as `axis.NAME`.
        in_table = [f"axis.{a}" if f"axis.{a}" in table.column_names else a for a in axes]
        fixed = {"instance", "step", *in_table}
        if name not in table.column_names or name in fixed:
            available = [c for c in table.column_names if c not in fixed]
            raise Error(
                f"`{step}` has no series `{name}`",
                f"its series: {', '.join(available)}" if available else
                "it has no results yet: Study.run() computes them",
            )
        table = table.select(["instance", *in_table, "step", name]).rename_columns(
            ["instance", *[_column(a) for a in axes], "step", "value"]
        )
        table = table.filter(pc.is_valid(table["value"]))
        return _frame(table, backend)

    def _arrow(self, step: str, long: bool):
        import pyarrow as pa

        data, damaged = self._native.table(step, long)
        _warn(damaged)
        return pa.ipc.open_stream(pa.py_buffer(data)).read_all()

    def checkpoints(self, step: str):
        """The stored checkpoints of a train (or checkpoint) step, a row each: ``instance``,
        one column per axis, ``step`` (training step), ``key``, ``digest`` and ``path`` (the
        blob in the store, a safetensors file: read it, never write it). Each blob is checked
        against its digest first; a damaged one is set aside, warned about and left out, and
        instances not run yet have no rows."""
        import pandas as pd

        rows, _, damaged = self._native.checkpoints(step)
        _warn(damaged)
        axes: List[str] = []
        for row in rows:
            axes.extend(a for a in row["coords"] if a not in axes)
        return pd.DataFrame.from_records(
            [
                {
                    "instance": row["instance"],
                    **{_column(a): row["coords"][a] for a in axes},
                    "step": row["step"],
                    "key": row["key"],
                    "digest": row["digest"],
                    "path": row["path"],
                }
                for row in rows
            ],
            columns=["instance", *map(_column, axes), "step", "key", "digest", "path"],
        )

    def checkpoint(
        self, step_name: str, /, step: Optional[int] = None, *, backend: str = "auto", **coords: Any
    ) -> Dict[str, Any]:
        """One stored checkpoint as a dict of tensors, name to ``torch.Tensor`` when torch
        imports, else to numpy array (``backend="numpy"`` or ``"torch"`` to choose): exactly the
        stored values, checked against their digest. ``step`` is the training step (default:
        the instance's last); ``coords`` choose the sweep point (``seed=0``). The names are
        PyTorch's, so ``module.load_state_dict(s.checkpoint(...))`` loads it.

        Raises :class:`Error` (its hint says what there is) for a step without checkpoints, an
        axis the step lacks, a point or training step it has none at, or a point several
        instances share; :class:`MissingResult` when the instance has not run yet."""
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
            raise Error(f"step={step!r} is not a training step", "give a whole number >= 0")
        point = _point(self._native.points(step_name), coords)
        stored, damaged = self._native.checkpoint(step_name, point, step)
        _warn(damaged)
        return _tensors(stored, backend)

    # Reports --------------------------------------------------------------------------------

    def report(self, out: Optional[PathLike] = None) -> List[Path]:
        """Draws the spec's reports from the store (computing the report steps, which only
        gather, when their inputs have results) into ``out`` (default ``reports/<spec>/`` in
        the project); returns each report's HTML page. No binary needed."""
        pages, notes = self._native.report(None if out is None else str(out))
        _warn(notes)
        return [Path(page) for page in pages]


def _warn(notes: Sequence[str]) -> None:
    """What the library said on the way (damaged entries set aside), as warnings."""
    for note in notes:
        warnings.warn(note, stacklevel=3)


def _worker_beside(devspec: Optional[PathLike]) -> Optional[str]:
    """The worker beside the devspec binary ``run`` would use, when both exist: before a first
    run, its report says what the keys will be (reading needs no binary otherwise)."""
    try:
        worker = find_devspec(devspec).with_name("devspec-worker")
    except DevspecNotFound:
        return None
    return str(worker) if worker.is_file() else None


_RESERVED = {"instance", "step", "kind", "checkpoint", "status", "key", "digest", "path", "value"}


def _column(axis: str) -> str:
    """An axis's column: its name, or ``axis.NAME`` when a fixed column has that name."""
    return f"axis.{axis}" if axis in _RESERVED else axis


def _frame(table, backend: str):
    if backend == "arrow":
        return table
    if backend == "pandas":
        return table.to_pandas()
    if backend == "polars":
        import polars

        return polars.from_arrow(table)
    raise Error(f"unknown backend {backend!r}", "use 'pandas', 'polars' or 'arrow'")
