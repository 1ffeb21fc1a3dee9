"""The PyTorch loop devspec's transformer training is measured against
(benches/transformer_speed.rs runs it): the scaled-down in-context regression transformer of
specs/icl.dev, written as one would in PyTorch.

Pre-norm decoder-only transformer (learned positions, a linear embedding of each D + 1 token,
causal multi-head attention through scaled_dot_product_attention, a GELU MLP, final layer norm,
a linear read-out), torch.optim.AdamW at lr 1e-3 with weight decay 0.01, batch 64 of fresh
sequences drawn every step (task, inputs and noise with torch.randn), MSE at the x positions,
one thread. Prints one JSON line: steps per second.

    python transformer_speed.py STEPS LAYERS HEADS D_MODEL D_MLP DIMS PAIRS BATCH
"""

import json
import math
import sys
import time

import torch
import torch.nn.functional as F

STEPS, LAYERS, HEADS, D_MODEL, D_MLP, DIMS, PAIRS, BATCH = (int(a) for a in sys.argv[1:9])
NOISE_VAR = 0.125


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(D_MODEL)
        self.q = torch.nn.Linear(D_MODEL, D_MODEL)
        self.k = torch.nn.Linear(D_MODEL, D_MODEL)
        self.v = torch.nn.Linear(D_MODEL, D_MODEL)
        self.out = torch.nn.Linear(D_MODEL, D_MODEL)
        self.ln2 = torch.nn.LayerNorm(D_MODEL)
        self.fc1 = torch.nn.Linear(D_MODEL, D_MLP)
        self.fc2 = torch.nn.Linear(D_MLP, D_MODEL)

    def forward(self, h):
        b, t, d = h.shape
        x = self.ln1(h)
        split = lambda z: z.view(b, t, HEADS, d // HEADS).transpose(1, 2)
        z = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), is_causal=True
        )
        h = h + self.out(z.transpose(1, 2).reshape(b, t, d))
        return h + self.fc2(F.gelu(self.fc1(self.ln2(h))))


class Transformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(DIMS + 1, D_MODEL)
        self.pos = torch.nn.Parameter(torch.randn(2 * PAIRS, D_MODEL) * 0.02)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln = torch.nn.LayerNorm(D_MODEL)
        self.unembed = torch.nn.Linear(D_MODEL, 1)

    def forward(self, tokens):
        h = self.embed(tokens) + self.pos
        for block in self.blocks:
            h = block(h)
        return self.unembed(self.ln(h))[:, ::2, 0]


def batch():
    task = torch.randn(BATCH, DIMS, 1)
    x = torch.randn(BATCH, PAIRS, DIMS)
    y = (x @ task)[..., 0] + math.sqrt(NOISE_VAR) * torch.randn(BATCH, PAIRS)
    tokens = torch.zeros(BATCH, 2 * PAIRS, DIMS + 1)
    tokens[:, ::2, 1:] = x
    tokens[:, 1::2, 0] = y
    return tokens, y


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Transformer()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    start = time.perf_counter()
    for _ in range(STEPS):
        tokens, y = batch()
        loss = F.mse_loss(model(tokens), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    print(json.dumps({"steps_per_s": STEPS / elapsed, "final_loss": loss.item()}))


main()
