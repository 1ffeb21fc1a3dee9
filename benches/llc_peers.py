"""Peers of devspec's batched SGLD chains in PyTorch (benches/llc_speed.rs runs it): the same
chains as `torch.func.vmap` over autograd, and as hand-derived batched gradients compiled with
`torch.compile`, on the toy model of superposition 6 -> 2 at devspec's checkpoints, 4 chains
each, 100 burn-in steps and 200 draws, batch 1,024 shared by all chains, lr 1e-3, localization
100, n_beta = 1024 / ln 1024, one thread. Neither peer checks the MALA acceptance (devspec's
benchmarked runs do, every 10th step). Also measures this machine's single-thread float32 matmul
peak. Prints one JSON object: chain-steps per second of each peer, the compile time, the peak
in GFLOP/s, and the matrix-product FLOPs of one chain-step.

    python llc_peers.py CHECKPOINT...
"""

import json
import math
import sys
import time

import torch
from safetensors.torch import load_file

FEATURES, HIDDEN, POOL, SPARSITY, BATCH = 6, 2, 4096, 0.95, 1024
CHAINS, STEPS, LR, LOCALIZATION = 4, 300, 1e-3, 100.0
NBETA = BATCH / math.log(BATCH)


def chains_at(paths):
    """`W` `[checkpoints x chains, hidden, features]` and `b`, each checkpoint repeated."""
    weights = [load_file(p) for p in paths]
    w = torch.stack([t["W"] for t in weights]).repeat_interleave(CHAINS, 0)
    b = torch.stack([t["b"] for t in weights]).repeat_interleave(CHAINS, 0)
    return w.float(), b.float()


def batches(pool, generator):
    """Shared minibatches, epoch by epoch through random permutations of the pool."""
    while True:
        order = torch.randperm(POOL, generator=generator)
        for start in range(0, POOL - BATCH + 1, BATCH):
            yield pool[order[start : start + BATCH]]


def vmap_peer(w0, b0, pool):
    def loss(w, b, x):
        return ((torch.relu(x @ w.T @ w + b) - x) ** 2).mean()

    grad = torch.func.vmap(torch.func.grad_and_value(loss, argnums=(0, 1)), in_dims=(0, 0, None))
    w, b = w0.clone(), b0.clone()
    data = batches(pool, torch.Generator().manual_seed(1))
    start = time.perf_counter()
    for _ in range(STEPS):
        (gw, gb), _ = grad(w, b, next(data))
        w = w - LR / 2 * (NBETA * gw + LOCALIZATION * (w - w0)) + math.sqrt(LR) * torch.randn_like(w)
        b = b - LR / 2 * (NBETA * gb + LOCALIZATION * (b - b0)) + math.sqrt(LR) * torch.randn_like(b)
    return w0.shape[0] * STEPS / (time.perf_counter() - start)


def sgld_step(w, b, w0, b0, x):
    """One SGLD step of every chain with the toy model's gradients derived by hand."""
    hidden = x @ w.transpose(1, 2)
    pre = hidden @ w + b.unsqueeze(1)
    residual = torch.relu(pre) - x
    losses = residual.square().mean((1, 2))
    g = torch.where(pre > 0, residual, 0.0) * (2.0 / (BATCH * FEATURES))
    gw = hidden.transpose(1, 2) @ g + (g @ w.transpose(1, 2)).transpose(1, 2) @ x
    gb = g.sum(1)
    w = w - LR / 2 * (NBETA * gw + LOCALIZATION * (w - w0)) + math.sqrt(LR) * torch.randn_like(w)
    b = b - LR / 2 * (NBETA * gb + LOCALIZATION * (b - b0)) + math.sqrt(LR) * torch.randn_like(b)
    return w, b, losses


def compile_peer(w0, b0, pool):
    step = torch.compile(sgld_step, fullgraph=True)
    data = batches(pool, torch.Generator().manual_seed(1))
    start = time.perf_counter()
    step(w0, b0, w0, b0, next(data))
    compile_seconds = time.perf_counter() - start
    w, b = w0.clone(), b0.clone()
    start = time.perf_counter()
    for _ in range(STEPS):
        w, b, _ = step(w, b, w0, b0, next(data))
    return w0.shape[0] * STEPS / (time.perf_counter() - start), compile_seconds


def matmul_peak():
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    present = torch.rand(POOL, FEATURES) >= SPARSITY
    pool = torch.where(present, torch.rand(POOL, FEATURES), torch.zeros(()))
    w0, b0 = chains_at(sys.argv[1:])
    vmap_rate = vmap_peer(w0, b0, pool)
    compile_rate, compile_seconds = compile_peer(w0, b0, pool)
    # Per chain-step: x W^T and (.) W forward, and three products backward, each
    # 2 x batch x hidden x features multiply-adds.
    flops = 5 * 2 * BATCH * HIDDEN * FEATURES
    print(
        json.dumps(
            {
                "vmap_chain_steps_per_s": vmap_rate,
                "compile_chain_steps_per_s": compile_rate,
                "compile_seconds": compile_seconds,
                "matmul_peak_gflops": matmul_peak(),
                "flops_per_chain_step": flops,
            }
        )
    )


if __name__ == "__main__":
    main()
