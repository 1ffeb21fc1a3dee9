"""A study trained on data the test wrote (``tensors(...)``): a forward pass from a checkpoint
loaded through the module reproduces that checkpoint's ``loss()`` estimate on the same data, in
numpy and, where torch imports, in a ``torch.nn.Module`` loaded with ``load_state_dict``."""

from __future__ import annotations

import numpy as np
import pytest

# f64 training, so the worker's loss and numpy's agree to rounding: the tolerance is 1e-6
# relative, and a float32 computation of a mean over 192 squared errors would be off by more
# than its last bits.
SPEC = """\
train fit {
  model = mlp.model(widths = [3, 8, 2])
  data = tensors("data.npz")
  optimizer = adam(lr = 0.01)
  batch_size = 32
  steps = 200
  dtype = f64
  checkpoints = [20, 100]
}

estimate data_loss on fit { observable = loss() }
"""


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, devspec_binary):
    """The study, with 96 samples of a linear map of 3 inputs to 2 targets, run once."""
    from conftest import Project

    project = Project(tmp_path_factory.mktemp("user_data"), SPEC, devspec_binary)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 3)).astype(np.float32)
    y = np.stack([x[:, 0] - 0.5 * x[:, 1], 0.25 * x[:, 2] + x[:, 1]], axis=1).astype(np.float32)
    np.savez(project.root / "data.npz", x=x, y=y)
    study = project.study()
    summary = study.run(quiet=True)
    assert summary.computed == 4, summary
    # The worker computes in f64 from the file's f32 values: so does the test.
    return project, study, x.astype(np.float64), y.astype(np.float64)


def _estimates(project):
    """Each checkpoint's `loss()` estimate, as `devspec show --format json` gives it."""
    return {row["checkpoint"]: row["metrics"]["loss"] for row in project.show_json("data_loss")}


def test_a_numpy_forward_pass_reproduces_each_checkpoints_loss_estimate(fitted):
    project, study, x, y = fitted
    estimates = _estimates(project)
    assert sorted(estimates) == [20, 100, 200]
    for step, estimate in estimates.items():
        p = study.checkpoint("fit", step=step, backend="numpy")
        assert p["layers.0.weight"].dtype == np.float64
        hidden = np.maximum(x @ p["layers.0.weight"].T + p["layers.0.bias"], 0.0)
        out = hidden @ p["layers.1.weight"].T + p["layers.1.bias"]
        loss = np.mean((out - y) ** 2)
        assert loss == pytest.approx(estimate, rel=1e-6), f"step {step}"
    # Training moved the weights: the estimates differ, so the comparison above can fail.
    assert estimates[200] < estimates[20] / 2


def test_a_torch_module_loaded_with_the_checkpoint_reproduces_its_loss_estimate(fitted):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed here (see docs/python.md: the bench venv has it)")
    project, study, x, y = fitted

    class Mlp(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(3, 8), torch.nn.Linear(8, 2)])

        def forward(self, inputs):
            return self.layers[1](torch.relu(self.layers[0](inputs)))

    for step, estimate in _estimates(project).items():
        model = Mlp().double()
        state = study.checkpoint("fit", step=step)
        assert all(isinstance(t, torch.Tensor) for t in state.values())
        model.load_state_dict(state)
        with torch.no_grad():
            loss = torch.nn.functional.mse_loss(model(torch.from_numpy(x)), torch.from_numpy(y))
        assert loss.item() == pytest.approx(estimate, rel=1e-6), f"step {step}"
