"""devinterp 2.0.1's LLC estimate on devspec's checkpoints (benches/llc_speed.rs runs it).

The toy model of superposition, 6 features in 2 hidden dimensions, from checkpoint files that
devspec wrote (safetensors, `W` and `b`). Its data: a pool of 4,096 samples of the same
distribution (sparsity 0.95), fed to devinterp as a HuggingFace dataset whose `input_ids` are
row indices (devinterp 2.x samples next-token losses: the per-"token" loss looks the row up and
returns the sample's MSE, averaged over features as PyTorch's mse_loss does). Settings given
explicitly (devinterp's defaults differ): 4 chains, 100 burn-in steps, 200 draws, batch 1,024,
lr 1e-3, localization 100, n_beta = 1024 / ln 1024, shared minibatches, one thread. Prints one
JSON line per checkpoint: its step and devinterp's estimate (which averages over burn-in too).

    python llc_speed.py CHECKPOINT...
"""

import json
import math
import sys

import torch
from datasets import Dataset
from devinterp.slt.llc import llc
from safetensors.torch import load_file

FEATURES, HIDDEN, POOL, SPARSITY, BATCH = 6, 2, 4096, 0.95, 1024


class ToyModel(torch.nn.Module):
    def __init__(self, weights):
        super().__init__()
        self.W = torch.nn.Parameter(weights["W"].clone())
        self.b = torch.nn.Parameter(weights["b"].clone())

    def forward(self, x):
        return torch.relu(x @ self.W.T @ self.W + self.b)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    present = torch.rand(POOL, FEATURES) >= SPARSITY
    pool = torch.where(present, torch.rand(POOL, FEATURES), torch.zeros(()))
    # Two "tokens" per row, so devinterp's next-token loss has one position: the row itself.
    rows = Dataset.from_dict({"input_ids": [[i, i] for i in range(POOL)]}).with_format("torch")

    def loss_fn(model, input_ids):
        x = pool[input_ids[:, 0]]
        return ((model(x) - x) ** 2).mean(dim=-1, keepdim=True)

    for path in sys.argv[1:]:
        model = ToyModel(load_file(path))
        result = llc(
            model,
            rows,
            {},
            lr=1e-3,
            n_beta=BATCH / math.log(BATCH),
            loss_fn=loss_fn,
            num_chains=4,
            num_draws=200,
            num_burnin_steps=100,
            batch_size=BATCH,
            localization=100.0,
            device="cpu",
        )
        print(json.dumps({"checkpoint": path, "llc_mean": float(result.llc_mean)}), flush=True)


if __name__ == "__main__":
    main()
