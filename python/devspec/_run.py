"""``Study.run``: the ``devspec`` binary run on the spec (``devspec run FILE --log-format
json``), its progress shown as it goes (a ``tqdm.auto`` bar in a notebook or terminal when tqdm
is installed, else a line per event), and what it did returned as a :class:`RunSummary`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Dict, List, Optional, Sequence

from .errors import RunError

#: Lines of devspec's own stderr (not its progress events) kept to explain a failure.
_TAIL_LINES = 40
#: Without tqdm, a running instance's progress is printed at most this often (seconds).
_PLAIN_EVERY = 10.0


@dataclass
class RunSummary:
    """What ``devspec run`` did: instances taken from the store (``cached``), computed,
    ``failed`` (with their errors) and ``skipped`` (an input failed); its exit code, wall time,
    and what it printed on stdout (the stage tables and the report's path)."""

    cached: int = 0
    computed: int = 0
    failed: Dict[str, str] = field(default_factory=dict)
    skipped: int = 0
    seconds: float = 0.0
    returncode: int = 0
    stdout: str = ""

    def __str__(self) -> str:
        failed = f", {len(self.failed)} failed" if self.failed else ""
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return (
            f"{self.computed} computed, {self.cached} cached{failed}{skipped} "
            f"in {self.seconds:.1f} s"
        )


class _Display:
    """The progress of the run: a bar over every instance, the running ones in its postfix."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.running: Dict[str, str] = {}
        self.last_line: Dict[str, float] = {}
        self.bar = None
        self.quiet = quiet
        if quiet:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, unit="instance", desc="devspec run")

    def say(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def done(self, instance: str) -> None:
        self.running.pop(instance, None)
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()

    def progress(self, event: dict) -> None:
        instance = event["instance"]
        text = f"{event.get('done', 0)}/{event.get('total', 0)}"
        if event.get("loss") is not None:
            text += f" loss {event['loss']:.4g}"
        self.running[instance] = text
        if self.bar is not None:
            self._postfix()
        elif time.monotonic() - self.last_line.get(instance, 0.0) >= _PLAIN_EVERY:
            self.last_line[instance] = time.monotonic()
            self.say(f"  {instance}: {text}")

    def _postfix(self) -> None:
        shown = list(self.running.items())[:3]
        more = len(self.running) - len(shown)
        text = "; ".join(f"{name} {state}" for name, state in shown)
        if more > 0:
            text += f"; {more} more"
        self.bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_devspec(
    binary: Path,
    spec: str,
    arguments: Sequence[str],
    total: int,
    quiet: bool,
) -> RunSummary:
    """Runs ``binary run spec --log-format json ARGUMENTS`` to its end, showing its progress;
    raises :class:`RunError` when it exits with an error."""
    command = [str(binary), "run", spec, "--log-format", "json", *arguments]
    summary = RunSummary()
    tail: Deque[str] = deque(maxlen=_TAIL_LINES)
    display = _Display(total, quiet)
    started = time.monotonic()
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    ) as process:
        # stderr carries the events as they happen; stdout (the stage tables, the report's
        # path) is read on a thread of its own, so neither pipe can fill while the other waits.
        assert process.stderr is not None and process.stdout is not None
        stdout: List[str] = []
        reader = threading.Thread(target=lambda: stdout.append(process.stdout.read()), daemon=True)
        reader.start()
        try:
            for line in process.stderr:
                event = _event(line)
                if event is None:
                    tail.append(line.rstrip("\n"))
                    display.say(line.rstrip("\n"))
                    continue
                _observe(event, summary, display)
            summary.returncode = process.wait()
            reader.join()
            summary.stdout = "".join(stdout)
        except BaseException:
            # Interrupted (Ctrl-C in a notebook): devspec stops its workers on SIGTERM.
            process.terminate()
            process.wait()
            raise
        finally:
            display.close()
    summary.seconds = time.monotonic() - started
    if summary.returncode != 0:
        failed = "".join(f"\n  {name}: {error}" for name, error in summary.failed.items())
        stderr = "\n".join(tail)
        raise RunError(
            f"devspec run exited with code {summary.returncode} ({summary}){failed}"
            + (f"\n{stderr}" if stderr else ""),
            summary.returncode,
            stderr,
        )
    return summary


def _event(line: str) -> Optional[dict]:
    """A progress event (`{"event": ...}`), or None for any other line."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _observe(event: dict, summary: RunSummary, display: _Display) -> None:
    kind = event["event"]
    instance = event.get("instance", "")
    if kind == "cached":
        summary.cached += 1
        display.done(instance)
    elif kind == "started":
        display.running[instance] = "started"
        if display.bar is None:
            display.say(f"  started {instance}")
    elif kind == "progress":
        display.progress(event)
    elif kind == "finished":
        summary.computed += 1
        display.done(instance)
        if display.bar is None:
            display.say(f"  finished {instance} ({event.get('seconds', 0):.1f} s)")
    elif kind == "failed":
        summary.failed[instance] = event.get("error", "")
        display.done(instance)
        display.say(f"  FAILED {instance}: {event.get('error', '')}")
    elif kind == "skipped":
        summary.skipped += 1
        display.done(instance)
    elif kind == "damaged":
        display.say(f"store: {event.get('what')} is damaged ({event.get('detail')}): recomputing")
