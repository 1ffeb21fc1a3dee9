"""devinterp 2.0.1's LLC on one of `benches/llc_scaling.rs`'s MLPs (that bench runs it, point by
point beside devspec's, with the bench venv).

The model is `mlp.model(widths = [2p, hidden, p])` with ReLU, as `specs/grokking.dev` trains it
(p = 59): a and b one-hot side by side in, a logit per residue out, cross-entropy. Its weights are
devspec's checkpoint, read from its safetensors file. Data: the pairs (a, b) of residues mod p
labelled (a + b) mod p, 40% of them as the training split (another random split than devspec's:
the same number of rows), one-hot encoded inside the loss. The sampler is devspec's: SGLD lr 1e-4,
localization 10, batch 256 shared by the chains (devinterp's default), no burn-in, n_beta as
devspec used it (given), the loss at the checkpoint over about the whole split (5 batches of
256; devspec's over all 1,392 rows), one thread.

    python llc_scaling.py CHECKPOINT HIDDEN CHAINS DRAWS NBETA

Timed around the `llc` call (its loss at the checkpoint, its chains one after another and its
zarr output included; Python's start and imports not): what a user waits for once the model is
loaded. Prints one JSON object: the seconds, chain-steps per second, the LLC estimate.
"""

import json
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

P, TRAIN_FRACTION, BATCH, LR, LOCALIZATION = 59, 0.4, 256, 1e-4, 10.0


def pairs(generator):
    """The training split: rows `[a p + b, (a + b) mod p]` (devinterp wants a row of ids, and
    its loss one value per id after the first: here one, the label's)."""
    pair = torch.arange(P * P)
    rows = torch.stack([pair, (pair // P + pair % P) % P], 1)
    order = torch.randperm(P * P, generator=generator)
    return rows[order[: int(TRAIN_FRACTION * P * P)]]


def model_from(path, hidden):
    weights = load_file(path)
    model = torch.nn.Sequential(
        torch.nn.Linear(2 * P, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, P)
    )
    # devspec names the layers `layers.0` and `layers.1`; the Sequential `0` and `2`.
    model.load_state_dict(
        {
            f"{index}.{kind}": weights[f"layers.{layer}.{kind}"].float()
            for layer, index in ((0, 0), (1, 2))
            for kind in ("weight", "bias")
        }
    )
    return model


def loss_fn(model, input_ids):
    """devinterp's per-token loss `[batch, 1]`: one position, the sum's residue."""
    a, b = input_ids[:, 0] // P, input_ids[:, 0] % P
    x = torch.cat([F.one_hot(a, P), F.one_hot(b, P)], 1).float()
    return F.cross_entropy(model(x), input_ids[:, 1], reduction="none").unsqueeze(1)


def main():
    from datasets import Dataset
    from devinterp.slt.llc import llc

    torch.set_num_threads(1)
    torch.manual_seed(0)
    path, hidden, chains, draws, nbeta = sys.argv[1:6]
    model = model_from(path, int(hidden))
    rows = pairs(torch.Generator().manual_seed(1))
    dataset = Dataset.from_dict({"input_ids": rows.tolist()}).with_format("torch")
    start = time.perf_counter()
    result = llc(
        model,
        dataset,
        {},
        lr=LR,
        n_beta=float(nbeta),
        loss_fn=loss_fn,
        num_chains=int(chains),
        num_draws=int(draws),
        num_burnin_steps=0,
        batch_size=BATCH,
        num_init_loss_batches=len(rows) // BATCH,
        localization=LOCALIZATION,
        device="cpu",
    )
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "chain_steps_per_s": int(chains) * int(draws) / seconds,
                "llc_mean": float(result.llc_mean),
            }
        )
    )


if __name__ == "__main__":
    main()
