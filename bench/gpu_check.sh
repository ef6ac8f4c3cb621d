#!/usr/bin/env bash
# The checks that need a GPU, in one go (about 5 minutes on one H200):
#   1. the Python environment: torch, CUDA, the device;
#   2. bench/bench_train.py --device cuda (the project's loop against a bare loop and a DataLoader loop);
#   3. the C1 gap preset from the CLI on CUDA, on a synthetic CIFAR-10 of the real size written first
#      (CIFAR cannot be fetched offline), with fewer epochs than the preset's 100;
#   4. the CUDA tests: pytest -m cuda tests/trainer.
# A step that fails is reported and the next one runs; the exit status is the number of failed steps.
#
#   bash bench/gpu_check.sh                          # logs in $OUT if set, else in ./gpu-out
#   GPU_CHECK_DEVICE=cpu bash bench/gpu_check.sh     # a tiny run of every step on the CPU
#
# Python: $GPU_CHECK_PYTHON, else .venv/bin/python, else a python3 that has torch (a GPU image's own),
# else `python3 lab.py setup` (which needs the package index). Packages that python lacks can come as
# wheels in .whl/ (mnist1d for the MNIST-1D rows): installed with --no-index into a scratch folder.
# Settings: GAP_EPOCHS (10), GAP_SEEDS (3), GAP_WORKERS (one process per run), BENCH_REPEATS (3).
set -uo pipefail

cd "$(dirname "$0")/.."
OUT_DIR=${OUT:-gpu-out}
mkdir -p "$OUT_DIR"
DEVICE=${GPU_CHECK_DEVICE:-cuda}
export PYTHONUNBUFFERED=1  # logs as they come: a step stopped at its limit leaves what it printed
WORK=$(mktemp -d /tmp/gpu-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SUMMARY="$OUT_DIR/summary.txt"
rm -f "$SUMMARY" "$OUT_DIR"/{environment,bench_train,gap_c1,pytest_cuda}.log "$OUT_DIR/gap_c1.json"
failed=0

note() { echo "$*" | tee -a "$SUMMARY"; }

# [LOG=FILE] run_step NAME SECONDS COMMAND...: its output to the terminal and to $OUT_DIR/FILE.log
# (FILE: NAME by default; the runner brings back only a few files, so steps of one check share one).
run_step() {
    local name=$1 limit=$2 log="$OUT_DIR/${LOG:-$1}.log"
    shift 2
    echo "== $name: $*" | tee -a "$log"
    local started=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$log"
    local status=${PIPESTATUS[0]}
    local took=$((SECONDS - started))
    if [ "$status" -eq 0 ]; then
        note "$name: ok in ${took} s"
    else
        [ "$status" -eq 124 ] && note "$name: FAILED, stopped at its ${limit} s limit" \
                              || note "$name: FAILED with status $status after ${took} s (see $(basename "$log"))"
        failed=$((failed + 1))
    fi
}

# -- 1. environment -------------------------------------------------------------------------
has_torch() { "$1" -c "import torch" >/dev/null 2>&1; }
if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
    PY=$GPU_CHECK_PYTHON
elif [ -x .venv/bin/python ] && has_torch .venv/bin/python; then
    PY=.venv/bin/python
elif has_torch python3; then
    PY=python3
    note "setup: python3 ($(command -v python3)) has torch already; lab.py setup skipped"
else
    LOG=environment run_step setup 600 python3 lab.py setup
    PY=.venv/bin/python
fi
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" .whl/*.whl \
        && export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}" \
        && note "setup: installed $(ls .whl | tr '\n' ' ')into a scratch folder"
fi
run_step environment 120 "$PY" - "$DEVICE" <<'EOF'
import importlib, os, platform, shutil, subprocess, sys
import torch
device = sys.argv[1]
print(f"python {platform.python_version()} ({sys.executable}); torch {torch.__version__}, built for CUDA {torch.version.cuda}")
print(f"torch.cuda.is_available(): {torch.cuda.is_available()}; devices: {torch.cuda.device_count()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device 0: {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, "
          f"capability {p.major}.{p.minor}; cuDNN {torch.backends.cudnn.version()}")
    if shutil.which("nvidia-smi"):
        print(subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.sm,clocks.mem,temperature.gpu",
                              "--format=csv"], capture_output=True, text=True).stdout.strip())
for name in ("numpy", "scipy", "sklearn", "torchvision", "tqdm", "mnist1d", "pytest"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', '(no version)')}")
    except ImportError as e:
        print(f"{name} MISSING ({e})")
print(f"CPU cores: {len(os.sched_getaffinity(0))}")
if device == "cuda" and not torch.cuda.is_available():
    sys.exit("no CUDA device: the CUDA steps cannot run")
EOF
has_mnist1d=$("$PY" -c "import mnist1d" >/dev/null 2>&1 && echo yes || echo no)

# -- 2. training throughput -----------------------------------------------------------------
if [ "$DEVICE" = cuda ]; then
    bench=(--repeats "${BENCH_REPEATS:-3}")
    [ "$has_mnist1d" = yes ] || { bench+=(--only F1 C1); note "bench_train: mnist1d missing, MNIST-1D rows left out"; }
else
    bench=(--repeats 1 --only "MNIST-1D mlp, B=400")
    [ "$has_mnist1d" = yes ] || bench=(--repeats 1 --only F1)
fi
run_step bench_train 300 "$PY" bench/bench_train.py --device "$DEVICE" "${bench[@]}"

# -- 3. the C1 gap preset from the CLI ------------------------------------------------------
if [ "$DEVICE" = cuda ]; then
    cifar=(--train 50000 --test 10000)
    gap=(--epochs "${GAP_EPOCHS:-10}" --seeds "${GAP_SEEDS:-3}")
    workers=${GAP_WORKERS:-$((2 * ${GAP_SEEDS:-3}))}
else
    cifar=(--train 2560 --test 512)
    gap=(--epochs 1 --seeds 1 --sb-batch 64 --lb-batch 512)
    workers=2
fi
export LBLAB_DATA_DIR="$WORK/data"
LOG=gap_c1 run_step synthetic_cifar 120 "$PY" bench/synthetic_cifar.py "$LBLAB_DATA_DIR" "${cifar[@]}"
gap_json="$OUT_DIR/gap_c1.json"
run_step gap_c1 400 bash -c '"$@" >"$0"' "$gap_json" "$PY" -m trainer gap --preset C1 --device "$DEVICE" \
    "${gap[@]}" --workers "$workers" --store "$WORK/snapshots" --quiet --json
LOG=gap_c1 run_step gap_c1_times 60 "$PY" - "$gap_json" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
spec, runs = out["spec"], out["runs"]
print(f"gap --preset C1 on {spec['device']}: {spec['epochs']} epochs, {spec['seeds']} seed(s), {len(runs)} runs on "
      f"{out['workers']} worker process(es): wall {out['wall_time']:.1f} s, the jobs' own {out['job_seconds']:.1f} s")
longest = 0.0
for r in runs:
    f = r["final"]
    train = f["wall_time"] - f["eval_time"]
    longest = max(longest, f["wall_time"])
    print(f"  {r['role']} seed {r['seed']}: batch {f['batch_size']}, {f['steps']} steps, {f['wall_time']:.1f} s "
          f"({f['eval_time']:.1f} s evaluating), {f['steps'] * f['batch_size'] / train:.0f} training samples/s, "
          f"{f['wall_time'] / f['epochs']:.2f} s an epoch")
scale = 100 / spec["epochs"]
print(f"the preset's 100 epochs, scaled from these: about {longest * scale + out['wall_time'] - longest:.0f} s wall "
      f"with {out['workers']} processes ({longest:.1f} s x {scale:g} for the longest run, plus the "
      f"{out['wall_time'] - longest:.1f} s around it: processes starting, data loading)")
for line in out["summary"]:
    print("  " + line)
EOF

# -- 4. the CUDA tests ------------------------------------------------------------------------
run_step pytest_cuda 300 "$PY" -m pytest -m cuda tests/trainer -q -rs -p no:cacheprovider \
    --continue-on-collection-errors

note "$failed step(s) failed; logs in $OUT_DIR"
exit "$failed"
