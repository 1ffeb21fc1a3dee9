"""The tutorial's PyTorch side (docs/tutorial.md): a model of your own, its data, and checkpoints
from your own training loop. Run it with any PyTorch that still has torch.jit (2.13 does):

    python make_model.py

It writes model.pt (TorchScript), data.safetensors (inputs `x`, targets `y`) and runs/, the
checkpoints of a training run at 16 log-spaced steps, as safetensors files named
step_<N>.safetensors.
"""

import os

import torch
from safetensors.torch import save_file


class Net(torch.nn.Module):
    """Two hidden layers of 16 with GELU: 10 inputs, 4 outputs."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(10, 16), torch.nn.GELU(), torch.nn.Linear(16, 16), torch.nn.GELU()
        )
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.body(x))


def main():
    torch.manual_seed(0)
    # The data: a fixed random network of rank 2 with a little noise, 2,048 samples.
    x = torch.randn(2048, 10)
    low_rank = torch.randn(10, 2) @ torch.randn(2, 4) / 3
    y = torch.tanh(x @ low_rank) + 0.05 * torch.randn(2048, 4)
    save_file({"x": x, "y": y}, "data.safetensors")

    model = Net()
    torch.jit.save(torch.jit.script(model), "model.pt")

    os.makedirs("runs", exist_ok=True)
    steps = sorted({round(10 ** (i * 4 / 15)) for i in range(16)})  # 1 to 10,000
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    for step in range(1, steps[-1] + 1):
        batch = torch.randint(0, 2048, (128,), generator=generator)
        loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in steps:
            save_file(dict(model.state_dict()), f"runs/step_{step}.safetensors")


main()
