"""Type stubs of ``devspec._native``, the Rust half of the module (python/src/). Use
:class:`devspec.Study`, which wraps it; these are its building blocks."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import Diagnostic

__version__: str

class Study:
    """A spec, checked and planned when opened: raises ``devspec.SpecError`` when it does not
    check, ``devspec.Error`` when it cannot be read."""

    def __init__(
        self,
        spec: str,
        sets: Sequence[str] = ...,
        store: Optional[str] = None,
        worker: Optional[str] = None,
        binds: Sequence[str] = ...,
    ) -> None: ...
    @property
    def spec(self) -> str:
        """The spec's path as given."""
    def check(self) -> List[Diagnostic]:
        """Reads, checks and plans the spec again; its warnings."""
    def instances(self) -> List[str]:
        """Every instance's display name, in plan order."""
    def steps(self) -> List[Tuple[str, str]]:
        """``(name, kind)`` of each step, in plan order."""
    def status(self) -> List[Dict[str, Any]]:
        """Every instance: ``instance``, ``step``, ``kind``, ``coords``, ``checkpoint``,
        ``status``."""
    def axes(self, step: str) -> List[str]:
        """The sweep axes of a step's instances, inherited ones first."""
    def table(self, step: str, long: bool) -> Tuple[bytes, List[str]]:
        """A step's results as an Arrow IPC stream (docs/results.md's columns), and the damaged
        entries found on the way (set aside)."""
    def points(self, step: str) -> List[List[Tuple[str, str]]]:
        """The planned sweep points of a step's instances: ``(axis, value text)`` pairs."""
    def checkpoints(self, step: str) -> Tuple[List[Dict[str, Any]], List[str], List[str]]:
        """The stored checkpoints of a train or checkpoint step (``instance``, ``coords``,
        ``step``, ``key``, ``digest``, ``path``), its instances with none stored yet, and the
        damaged entries found (set aside)."""
    def checkpoint(
        self, step: str, point: Sequence[Tuple[str, str]], training_step: Optional[int] = None
    ) -> Tuple[List[Tuple[str, str, List[int], bytearray]], List[str]]:
        """One checkpoint's tensors, checked against its digest: ``(name, numpy type, shape,
        bytes)`` (``"bf16"`` for bfloat16), and the damaged entries found."""
    def report(self, out: Optional[str] = None) -> Tuple[List[str], List[str]]:
        """Draws the reports: their HTML pages, and the notes said."""
