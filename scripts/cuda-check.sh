#!/usr/bin/env bash
# The CUDA checks of training, for a machine with a GPU (CI has none). Needs `devspec` and a
# `devspec-worker` built against a CUDA libtorch on PATH (`scripts/fetch-libtorch.sh --cuda`,
# then `make build`), or DEVSPEC_WORKER set. Runs in a temporary folder and prints:
#   - the libtorch and CUDA the worker loaded;
#   - wall times of the toy model at std.tms's chen2023 setting: one seed, 16 seeds as one
#     ensemble, 16 seeds one after another, and 16 seeds on the CPU as one ensemble;
#   - whether reruns on CUDA give the same bytes (same grouping, and one member per request),
#     and whether an ensemble member's bytes equal its solo run's;
#   - a run raised from 2,000 to 4,000 steps on CUDA (it should train 2,000);
#   - with PYTHON naming a Python with CUDA PyTorch: the PyTorch loop's steps per second.
set -uo pipefail

devspec --version || exit 1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

tms() { printf 'import std.tms\ntrain run from tms.chen2023 { %s }\n' "$1"; }
tms 'seed = 1, device = cuda' > one.dev
tms 'seed = sweep(0..16), device = cuda, checkpoints = [20_000]' > ensemble.dev
tms 'seed = sweep(0..16), device = cpu, checkpoints = [20_000]' > cpu.dev
tms 'seed = sweep(0..4), device = cuda, steps = 5000, checkpoints = [1000, 5000]' > small.dev
longer() {
  printf 'train fit {\n  model = dln.model(widths = [6, 4, 6])\n  data = dln.data(teacher = dln.teacher(widths = [6, 4, 6], rank = 2), samples = 256)\n  optimizer = adam(lr = 0.01)\n  batch_size = 32\n  steps = %s\n  checkpoints = every(500)\n  device = cuda\n}\n' "$1" > longer.dev
}
timed() {
  local start=$(date +%s%N)
  "$@" 2>&1 | tail -1
  echo "  $(( ($(date +%s%N) - start) / 1000000 )) ms: $*"
}
same_bytes() {
  python3 - "$@" <<'PY'
import glob, json, sys
def outputs(store):
    found = {}
    for path in glob.glob(store + "/actions/*/*.json"):
        manifest = json.load(open(path))
        found[manifest["instance"]] = manifest["outputs"]
    return found
a, b = outputs(sys.argv[1]), outputs(sys.argv[2])
print(f"  {sys.argv[3]}: {sum(a[k] == b.get(k) for k in a)}/{len(a)} instances byte-identical")
PY
}

timed devspec run one.dev --store s1
devspec show one.dev run --store s1 --format csv | tail -1
timed devspec run ensemble.dev --store s2 --batch 16
timed devspec run ensemble.dev --store s3 --batch 1 --jobs 1
timed devspec run cpu.dev --store s4 --batch 16 --threads 1
same_bytes s2 s3 "ensemble member vs solo run (CUDA)"
for store in a b; do devspec run small.dev --store "$store" --batch 4 2>&1 | tail -1; done
for store in c d; do devspec run small.dev --store "$store" --batch 1 --jobs 1 2>&1 | tail -1; done
same_bytes a b "rerun, groups of 4 (CUDA)"
same_bytes c d "rerun, alone (CUDA)"
longer 2000; timed devspec run longer.dev --store s5
longer 4000; timed devspec run longer.dev --store s5
devspec show longer.dev fit --store s5 --format json \
  | python3 -c 'import json, sys; print("  raised to 4,000 steps:", json.load(sys.stdin)["rows"][0]["metrics"])'

if [ -n "${PYTHON:-}" ]; then
  "$PYTHON" - <<'PY'
# benches/train_speed.py's loop (the toy model, batch 1,024 from a pool of 8,192, Adam), on CUDA.
import json, time, torch
steps, features, hidden, pool_size, batch = 20_000, 6, 2, 8192, 1024
dev = torch.device("cuda")
torch.manual_seed(0)
present = torch.rand(pool_size, features, device=dev) >= 0.95
pool = torch.where(present, torch.rand(pool_size, features, device=dev), torch.zeros((), device=dev))
W = (torch.randn(hidden, features, device=dev) * 0.1).requires_grad_()
b = torch.zeros(features, device=dev, requires_grad=True)
optimizer = torch.optim.Adam([W, b], lr=1e-3)
order, position = torch.randperm(pool_size, device=dev), 0
torch.cuda.synchronize()
start = time.perf_counter()
for _ in range(steps):
    if position + batch > pool_size:
        order, position = torch.randperm(pool_size, device=dev), 0
    x = pool[order[position:position + batch]]
    position += batch
    loss = torch.nn.functional.mse_loss(torch.relu(x @ W.T @ W + b), x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
torch.cuda.synchronize()
print(json.dumps({"pytorch_cuda_steps_per_s": steps / (time.perf_counter() - start)}))
PY
fi
