"""Fixtures: the devspec binary the tests run (``DEVSPEC``, as ``make test`` sets it to
``target/debug/devspec``), and small projects in temporary folders, each with its own store."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable, Dict, List

import pytest

import devspec


@pytest.fixture(scope="session", autouse=True)
def _no_outside_settings():
    """The tests' stores and settings are their own, whatever the shell has set."""
    names = ("DEVSPEC_STORE", "DEVSPEC_JOBS", "DEVSPEC_THREADS", "DEVSPEC_DEVICE")
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def devspec_binary() -> Path:
    """The devspec binary (``DEVSPEC``, else ``PATH``); its worker sits beside it."""
    return devspec._binary.find_devspec()


class Project:
    """A project folder (a ``devspec.toml``, so its store is its own ``.devspec/``) holding
    ``study.dev``."""

    def __init__(self, root: Path, spec: str, binary: Path) -> None:
        self.root = root
        self.binary = binary
        (root / "devspec.toml").write_text("")
        self.spec = root / "study.dev"
        self.spec.write_text(spec)

    def study(self, **kwargs) -> devspec.Study:
        return devspec.Study(self.spec, devspec=self.binary, **kwargs)

    def devspec(self, *args: str) -> subprocess.CompletedProcess:
        """Runs the devspec binary on the project, as a user would in a shell."""
        return subprocess.run(
            [str(self.binary), *args], cwd=self.root, capture_output=True, text=True
        )

    def show_json(self, step: str) -> List[Dict]:
        """``devspec show study.dev STEP --format json``'s rows."""
        shown = self.devspec("show", "study.dev", step, "--format", "json")
        assert shown.returncode == 0, shown.stderr
        return json.loads(shown.stdout)["rows"]


@pytest.fixture
def make_project(tmp_path: Path, devspec_binary: Path) -> Callable[..., Project]:
    """Makes a project holding a spec, in a folder of its own under the test's folder."""

    def make(spec: str, folder: str = "project") -> Project:
        root = tmp_path / folder
        root.mkdir()
        return Project(root, spec, devspec_binary)

    return make


# A toy model of superposition, two seeds, two checkpoints besides the last, the LLC at each
# (short chains: the numbers are compared, not judged), the stages and a report: a run of about
# two seconds with the debug build.
SMALL_TMS = """\
import std.tms

train run {
  model = tms.model(features = 4, hidden = 2, init_scale = 0.1)
  data = tms.data(features = 4, sparsity = 0.9, samples = 256)
  optimizer = sgd(lr = 0.1)
  batch_size = 64
  steps = 300
  seed = sweep(0..2)
  checkpoints = [10, 100]
}

estimate llc on run {
  observable = llc(sampler = sgld(lr = 1e-3, localization = 10), chains = 2, draws = 40, burnin = 10)
}

detect stages on llc { method = critical_points(smoothing = 0.1) }

report summary on run, llc, stages { title = "small" }
"""


@pytest.fixture(scope="module")
def tms(tmp_path_factory: pytest.TempPathFactory, devspec_binary: Path):
    """The small TMS study, run once through the module: ``(project, study, run summary)``."""
    project = Project(tmp_path_factory.mktemp("tms"), SMALL_TMS, devspec_binary)
    study = project.study()
    summary = study.run(jobs=2, quiet=True)
    return project, study, summary
