#!/usr/bin/env bash
# Installs libtorch 2.13.0 (the version `tch` 0.26 requires) into .libtorch/ from PyPI's torch
# wheels, because PyTorch's own download site is not reachable from every machine (it is not
# from ours). Idempotent: a complete install is left alone.
#
#   scripts/fetch-libtorch.sh           CPU build: libtorch_cpu and the two CUDA runtime
#                                       libraries it needs at load time (~490 MB on disk)
#   scripts/fetch-libtorch.sh --cuda    CUDA build: every library of the torch wheel and of the
#                                       nvidia wheels its metadata requires (several GB)
#   LIBTORCH_DIR=/path scripts/fetch-libtorch.sh   install elsewhere
set -euo pipefail

version=2.13.0
cudart=13.0.96
cupti=13.0.85
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${LIBTORCH_DIR:-$root/.libtorch}
flavour=cpu
case "${1:-}" in
  "") ;;
  --cuda) flavour=cuda ;;
  -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
  *) echo "fetch-libtorch: unknown option '$1' (expected --cuda or nothing)" >&2; exit 2 ;;
esac

# A finished install writes its flavour last, so a killed fetch is redone, never half-trusted.
if [ -f "$dest/build-version" ] && [ "$(cat "$dest/build-version")" = "$version" ] \
   && [ -f "$dest/.flavour" ] && { [ "$(cat "$dest/.flavour")" = "$flavour" ] || [ "$flavour" = cpu ]; }; then
  echo "libtorch $version ($(cat "$dest/.flavour")) already in $dest"
  exit 0
fi

command -v python3 >/dev/null || { echo "fetch-libtorch: python3 (with pip) is needed to fetch the wheels" >&2; exit 3; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The libraries inside the wheels do not depend on the Python version; pin one so the same files
# arrive whatever Python this machine has.
pin=(--only-binary=:all: --implementation cp --python-version 3.11 --abi cp311
     --platform manylinux_2_28_x86_64 --platform manylinux_2_25_x86_64
     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
if [ "$flavour" = cpu ]; then
  python3 -m pip download --quiet --no-deps "${pin[@]}" -d "$work/wheels" \
    "torch==$version" "nvidia-cuda-runtime==$cudart" "nvidia-cuda-cupti==$cupti"
else
  python3 -m pip download --quiet "${pin[@]}" -d "$work/wheels" "torch==$version"
fi

stage="$work/libtorch"
mkdir -p "$stage/lib" "$stage/include"
python3 - "$work/wheels" "$stage" "$flavour" <<'PY'
import pathlib, shutil, sys, zipfile
wheels, stage, flavour = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
cpu_libs = {"libtorch_cpu.so", "libc10.so", "libgomp.so.1", "libtorch.so"}
cuda_runtime = {"libcudart.so.13", "libcupti.so.13"}
def copy(z, info, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    with z.open(info) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
for wheel in sorted(wheels.glob("*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            if info.is_dir():
                continue
            if name.startswith("torch/include/"):
                copy(z, info, stage / "include" / name[len("torch/include/"):])
            elif name.startswith("torch/lib/"):
                base = name[len("torch/lib/"):]
                if "/" not in base and (flavour == "cuda" or base in cpu_libs):
                    copy(z, info, stage / "lib" / base)
            elif name.startswith("nvidia/") and "/lib/" in name:
                base = name.rsplit("/", 1)[1]
                if flavour == "cuda" or base in cuda_runtime:
                    copy(z, info, stage / "lib" / base)
missing = [n for n in cpu_libs if not (stage / "lib" / n).exists()]
if missing:
    sys.exit(f"fetch-libtorch: the wheels lacked {missing}")
PY
echo "$version" > "$stage/build-version"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$stage" "$dest"
echo "$flavour" > "$dest/.flavour"
echo "libtorch $version ($flavour) installed in $dest ($(du -sh "$dest" | cut -f1))"
