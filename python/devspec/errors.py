"""The exceptions the devspec module raises, all subclasses of :class:`Error`.

The native part (``devspec._native``) raises these classes by name, so a failure in Rust reaches
Python as one of them, never as a panic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional


class Error(Exception):
    """The base of every error the devspec module raises.

    ``str(error)`` is the message, and the hint on its own line when there is one, as the
    ``devspec`` command prints them.
    """

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        self.message = message
        #: What to do about it, when devspec knows.
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\nhint: {hint}")


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec, with its position, as ``devspec check --format json`` gives it.

    ``line`` and ``column`` are 1-based; ``text`` is the diagnostic as ``devspec check`` prints
    it (the message with the source lines around it).
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: str
    message: str
    hint: Optional[str]
    text: str

    def __str__(self) -> str:
        return self.text


class SpecError(Error):
    """The spec does not check: ``str(error)`` is what ``devspec check`` prints, and
    ``diagnostics`` holds each problem with its file, line, column, message and hint."""

    def __init__(self, diagnostics: List[Diagnostic]) -> None:
        #: Every problem found, in reading order.
        self.diagnostics = diagnostics
        Exception.__init__(self, "".join(d.text for d in diagnostics).rstrip("\n"))
        self.message = str(self)
        self.hint = None

    @property
    def line(self) -> Optional[int]:
        """The line of the first problem (1-based)."""
        return self.diagnostics[0].line if self.diagnostics else None


class MissingResult(Error):
    """A result asked for is not in the store yet (the study has not run that far)."""


class DevspecNotFound(Error):
    """``Study.run`` needs the ``devspec`` binary and could not find it."""


class RunError(Error):
    """``devspec run`` failed; ``stderr`` holds the end of what it said, ``returncode`` its exit
    code (1: a step failed, 2: the spec or the command is wrong, 3: the environment)."""

    def __init__(self, message: str, returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        #: The last lines devspec wrote on stderr.
        self.stderr = stderr
