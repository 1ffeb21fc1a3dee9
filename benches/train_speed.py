"""The PyTorch loop devspec's training is measured against (benches/train_speed.rs runs it).

The toy model of superposition, 6 features in 2 hidden dimensions: x_hat = ReLU(W^T W x + b),
MSE loss (PyTorch's mean), torch.optim.Adam at lr 1e-3, batch 1024 from a fixed pool of 8,192
samples (sparsity 0.95) reshuffled every epoch, one thread, no checkpoint writing. Prints one
JSON line: the steps per second of one run, then of SEEDS runs one after another, then of one
run of a leaner loop (the pool gathered once per epoch and sliced, as devspec does, and Adam's
fused kernel): the fastest plain PyTorch we found for this model.
"""

import json
import sys
import time

import torch

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
SEEDS = int(sys.argv[2]) if len(sys.argv) > 2 else 16
FEATURES, HIDDEN, POOL, BATCH, SPARSITY = 6, 2, 8192, 1024, 0.95


class ToyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(HIDDEN, FEATURES) * 0.1)
        self.b = torch.nn.Parameter(torch.zeros(FEATURES))

    def forward(self, x):
        return torch.relu(x @ self.W.T @ self.W + self.b)


def train(seed, steps, lean=False):
    torch.manual_seed(seed)
    present = torch.rand(POOL, FEATURES) >= SPARSITY
    pool = torch.where(present, torch.rand(POOL, FEATURES), torch.zeros(()))
    model = ToyModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=lean or None)
    order, position = torch.randperm(POOL), 0
    shuffled = pool[order] if lean else None
    for _ in range(steps):
        if position + BATCH > POOL:
            order, position = torch.randperm(POOL), 0
            shuffled = pool[order] if lean else None
        if lean:
            x = shuffled[position : position + BATCH]
        else:
            x = pool[order[position : position + BATCH]]
        position += BATCH
        loss = torch.nn.functional.mse_loss(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def main():
    torch.set_num_threads(1)
    start = time.perf_counter()
    train(0, STEPS)
    one = STEPS / (time.perf_counter() - start)
    start = time.perf_counter()
    for seed in range(SEEDS):
        train(seed, STEPS)
    sequential = SEEDS * STEPS / (time.perf_counter() - start)
    start = time.perf_counter()
    train(0, STEPS, lean=True)
    lean = STEPS / (time.perf_counter() - start)
    print(json.dumps({
        "one_run_steps_per_s": one,
        "sequential_steps_per_s": sequential,
        "lean_one_run_steps_per_s": lean,
    }))


if __name__ == "__main__":
    main()
