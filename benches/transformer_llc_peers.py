"""Peers of devspec's LLC on the induction transformer (benches/transformer_llc_speed.rs runs it).

The model of `specs/induction.dev` written in PyTorch (2 layers, 4 heads, `d_model` 64, no MLP,
context 32, vocab 32, GPT-2's pre-norm layout as `worker/src/train/transformer.rs` computes it:
token and learned position embeddings, per block a layer norm and causal attention through
`scaled_dot_product_attention`, a final layer norm and the unembedding) with devspec's
checkpoint weights, read from its safetensors file. Data: `induction.data(vocab = 32, length =
32, segment = 8)`'s distribution (random tokens, one segment of 8 repeated later, next-token
targets at every position), drawn here from another random stream. The chains' settings are the
bench's: 4 chains x 100 steps (no burn-in), batch 64 shared by the chains, SGLD lr 1e-4,
localization 10, n_beta = 64 / ln 64, one thread.

    python transformer_llc_peers.py devinterp CHECKPOINT
    python transformer_llc_peers.py vmap CHECKPOINT

`devinterp`: devinterp 2.0.1's `llc` (its SGLD sampler and estimate) on an `nn.Module` holding the
weights, a pool of 100 batches of sequences (one epoch: every step a fresh batch, as devspec's
fresh data) and 16 batches for the loss at the checkpoint (devspec's for fresh data). Timed around
the `llc` call (its loss at the checkpoint and its zarr output included: what a user waits for).

`vmap`: the same SGLD chains as one `torch.func.vmap` over chains of `grad_and_value`, the whole
step (gradients, drift, localization, noise) compiled with `torch.compile`; the batches drawn
before the loop. Timed over the sampling loop alone, the compile (the first call) apart. No MALA
check (devspec's benchmarked chains check every 10th step).

Prints one JSON object: chain-steps per second, the seconds timed, the loss at the checkpoint and
the LLC estimate (per chain too; the vmap peer's on the mean of each chain's draws, as devspec
computes it).
"""

import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

LAYERS, HEADS, D_MODEL, CONTEXT, VOCAB, SEGMENT = 2, 4, 64, 32, 32, 8
D_HEAD = D_MODEL // HEADS
CHAINS, STEPS, BATCH, LR, LOCALIZATION = 4, 100, 64, 1e-4, 10.0
INIT_BATCHES = 16
NBETA = BATCH / math.log(BATCH)


def sequences(n, generator):
    """`n` rows of CONTEXT + 1 tokens as `induction.data` draws them: random tokens, then a
    segment copied to a later place; a row's first CONTEXT tokens are the input, its last
    CONTEXT the next-token targets."""
    length = CONTEXT + 1
    tokens = torch.randint(0, VOCAB, (n, length), generator=generator)
    for row in tokens:
        first = int(torch.randint(0, length - 2 * SEGMENT + 1, (1,), generator=generator))
        second = int(
            torch.randint(first + SEGMENT, length - SEGMENT + 1, (1,), generator=generator)
        )
        row[second : second + SEGMENT] = row[first : first + SEGMENT].clone()
    return tokens


def forward(p, ids):
    """Logits `[batch, positions, vocab]` of token ids `[batch, positions]`."""
    batch, length = ids.shape
    x = p["embed.weight"][ids] + p["pos_embed.weight"][:length]
    for layer in range(LAYERS):
        block = f"blocks.{layer}"
        h = F.layer_norm(x, (D_MODEL,), p[f"{block}.ln1.weight"], p[f"{block}.ln1.bias"], 1e-5)

        def heads(name):
            weight, bias = p[f"{block}.attn.{name}.weight"], p[f"{block}.attn.{name}.bias"]
            projected = F.linear(h, weight, bias)
            return projected.view(batch, length, HEADS, D_HEAD).transpose(1, 2)

        z = F.scaled_dot_product_attention(heads("q"), heads("k"), heads("v"), is_causal=True)
        z = z.transpose(1, 2).reshape(batch, length, HEADS * D_HEAD)
        x = x + F.linear(z, p[f"{block}.attn.out.weight"], p[f"{block}.attn.out.bias"])
    x = F.layer_norm(x, (D_MODEL,), p["ln_final.weight"], p["ln_final.bias"], 1e-5)
    return F.linear(x, p["unembed.weight"], p["unembed.bias"])


def loss(p, rows):
    """Mean next-token cross-entropy over a batch's every position (devspec's loss)."""
    logits = forward(p, rows[:, :CONTEXT])
    return F.cross_entropy(logits.reshape(-1, VOCAB), rows[:, 1:].reshape(-1))


def estimate(traces, init_loss):
    """devspec's estimate: n_beta (mean of a chain's draws - loss at the checkpoint), per chain
    and their mean."""
    per_chain = [NBETA * (sum(t) / len(t) - init_loss) for t in traces]
    return sum(per_chain) / len(per_chain), per_chain


def devinterp_peer(weights):
    from datasets import Dataset
    from devinterp.slt.llc import llc

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # Dots are not allowed in a module's parameter names.
            self.p = torch.nn.ParameterDict(
                {k.replace(".", "_"): torch.nn.Parameter(v.clone()) for k, v in weights.items()}
            )

        def forward(self, ids):
            return forward({k: self.p[k.replace(".", "_")] for k in weights}, ids)

    generator = torch.Generator().manual_seed(1)
    rows = sequences(STEPS * BATCH, generator)
    dataset = Dataset.from_dict({"input_ids": rows.tolist()}).with_format("torch")

    def loss_fn(model, input_ids):
        # devinterp's per-token loss `[batch, positions]`: the model reads the first CONTEXT
        # tokens (its context) and predicts the next at each.
        logits = model(input_ids[:, :CONTEXT])
        return F.cross_entropy(logits.transpose(1, 2), input_ids[:, 1:], reduction="none")

    start = time.perf_counter()
    result = llc(
        Model(),
        dataset,
        {},
        lr=LR,
        n_beta=NBETA,
        loss_fn=loss_fn,
        num_chains=CHAINS,
        num_draws=STEPS,
        num_burnin_steps=0,
        batch_size=BATCH,
        num_init_loss_batches=INIT_BATCHES,
        localization=LOCALIZATION,
        device="cpu",
    )
    seconds = time.perf_counter() - start
    return {
        "chain_steps_per_s": CHAINS * STEPS / seconds,
        "seconds": seconds,
        "llc_mean": float(result.llc_mean),
        "llc_per_chain": [float(v) for v in result.llc_per_chain],
        "init_loss": float(result["init_loss"].mean()),
    }


def vmap_peer(weights):
    names = list(weights)
    anchor = {k: v.unsqueeze(0).repeat(CHAINS, *([1] * v.dim())) for k, v in weights.items()}
    grads = torch.func.vmap(torch.func.grad_and_value(loss), in_dims=(0, None))

    def sgld_step(p, rows):
        g, losses = grads(p, rows)
        moved = {
            k: p[k]
            - LR / 2 * (NBETA * g[k] + LOCALIZATION * (p[k] - anchor[k]))
            + math.sqrt(LR) * torch.randn_like(p[k])
            for k in names
        }
        return moved, losses

    step = torch.compile(sgld_step, fullgraph=True)
    generator = torch.Generator().manual_seed(2)
    batches = sequences((STEPS + INIT_BATCHES) * BATCH, generator).view(-1, BATCH, CONTEXT + 1)
    with torch.no_grad():
        init_loss = sum(float(loss(weights, b)) for b in batches[STEPS:]) / INIT_BATCHES
    p = {k: v.clone() for k, v in anchor.items()}
    start = time.perf_counter()
    step(p, batches[0])
    compile_seconds = time.perf_counter() - start
    traces = []
    start = time.perf_counter()
    for t in range(STEPS):
        # The loss recorded at a step is the loss at its start, as devspec and devinterp record it.
        p, losses = step(p, batches[t])
        traces.append(losses)
    seconds = time.perf_counter() - start
    per_chain = torch.stack(traces).T.tolist()
    mean, per = estimate(per_chain, init_loss)
    return {
        "chain_steps_per_s": CHAINS * STEPS / seconds,
        "seconds": seconds,
        "compile_seconds": compile_seconds,
        "llc_mean": mean,
        "llc_per_chain": per,
        "init_loss": init_loss,
    }


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    which, path = sys.argv[1], sys.argv[2]
    weights = {k: v.float() for k, v in load_file(path).items()}
    peer = {"devinterp": devinterp_peer, "vmap": vmap_peer}[which]
    print(json.dumps(peer(weights)))


if __name__ == "__main__":
    main()
