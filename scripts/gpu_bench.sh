#!/usr/bin/env bash
# One prepared run on a GPU machine (no Go, no internet): builds the shim
# against the machine's PyTorch wheel, then checks and times cyclepix on
# CUDA against the same PyTorch. Everything goes to $OUT/gpu_log.txt; the
# last lines summarise each step (ok / FAIL / skipped).
#
# Needs bin/cyclepix and bin/bench built with -tags sharedshim (make
# gpu-bundle, on the development machine) and the source tree (bench/*.py,
# networks/testdata/refnets.py, torch/*.cpp). Run from the repository root:
#
#   OUT=/tmp/out bash scripts/gpu_bench.sh
#
# Settings (environment):
#   PY                Python with torch (default: the first of /opt/torch/.venv/bin/python3,
#                     python3 and /usr/bin/python3 that imports torch)
#   GPU_BENCH_DEVICE  cuda (default), cuda:N, or cpu to rehearse the script without a GPU
#   GPU_BENCH_QUICK   1: tiny sizes and counts (the CPU rehearsal)
#   GPU_BENCH_TOTAL   seconds the whole script may take (default 450, quick 1200): each benchmark's
#                     timeout is cut to what is left, and skipped under 30 s
#   LIBTORCH          libtorch to build against (default: the wheel of $PY, or
#                     Debian's libtorch-dev where that wheel has no headers)
#   SKIP_SHIM=1       use lib/libcyclepix_torch.so as it is
set -u
set -o pipefail

ROOT=$(pwd)
OUT=${OUT:-$ROOT/out}
mkdir -p "$OUT"
LOG=$OUT/gpu_log.txt
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1

DEV=${GPU_BENCH_DEVICE:-cuda}
QUICK=${GPU_BENCH_QUICK:-0}
# The CPU rehearsal is slower than the GPU run: bf16 without AVX-512 BF16
# is emulated (its iteration step alone took 206 s on an AVX2 EPYC).
if [ "$QUICK" = 1 ]; then TOTAL=${GPU_BENCH_TOTAL:-1200}; else TOTAL=${GPU_BENCH_TOTAL:-450}; fi
if [ -z "${PY:-}" ]; then
	# The first Python that has torch: the GPU machine's wheel, else the
	# PATH's, else Debian's (on the development machine the PATH's python3
	# is a separate one without torch).
	PY=python3
	for p in /opt/torch/.venv/bin/python3 python3 /usr/bin/python3; do
		if "$p" -c 'import torch' >/dev/null 2>&1; then PY=$p; break; fi
	done
fi
START=$(date +%s)
WORK=$(mktemp -d /tmp/cyclepix_gpu.XXXXXX)
SUMMARY=()

elapsed() { echo $(($(date +%s) - START)); }

# step NAME TIMEOUT_S CMD...: runs CMD under timeout, logs it, records ok/FAIL.
step() {
	local name=$1 limit=$2
	shift 2
	echo
	echo "=== [$(elapsed)s] $name (timeout ${limit}s): $*"
	local t0 rc
	t0=$(date +%s)
	timeout -k 10 "$limit" "$@"
	rc=$?
	local took=$(($(date +%s) - t0))
	if [ $rc -eq 0 ]; then
		SUMMARY+=("ok      ${took}s  $name")
	elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		SUMMARY+=("FAIL    ${took}s  $name (timed out after ${limit}s)")
	else
		SUMMARY+=("FAIL    ${took}s  $name (exit $rc)")
	fi
	echo "=== [$(elapsed)s] $name: exit $rc in ${took}s"
	return $rc
}

# bench_step NAME TIMEOUT_S CMD...: a benchmark, its timeout cut to the
# time left of TOTAL; skipped when under 30 s are left.
bench_step() {
	local name=$1 limit=$2 left=$((TOTAL - $(elapsed)))
	shift 2
	if [ "$left" -lt 30 ]; then
		SUMMARY+=("skipped       $name (${left}s left of ${TOTAL}s)")
		echo "=== [$(elapsed)s] $name: skipped (${left}s left of ${TOTAL}s)"
		return 0
	fi
	[ "$left" -lt "$limit" ] && limit=$left
	step "$name" "$limit" "$@"
}

finish() {
	echo
	echo "=== summary ($(elapsed)s in all, device $DEV)"
	printf '%s\n' "${SUMMARY[@]}"
	rm -rf "$WORK"
	sleep 1 # lets tee write the last lines to the log
}
trap finish EXIT

echo "=== cyclepix GPU run $(date -u +%FT%TZ) in $ROOT, device $DEV, quick $QUICK, ${TOTAL}s at most"
uname -a
nproc
(command -v nvidia-smi >/dev/null && timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv) || echo "no nvidia-smi"
CXX=${CXX:-$(command -v g++ || command -v c++ || echo g++)}
export CXX
echo "compiler: $CXX: $($CXX --version 2>&1 | head -1)"
step "python torch" 60 "$PY" -c 'import torch, sys; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "devices", torch.cuda.device_count(), "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)'

# ---- the shim against the wheel -------------------------------------------
TORCHDIR=$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null || true)
if [ -z "${LIBTORCH:-}" ] && [ -n "$TORCHDIR" ] && [ -f "$TORCHDIR/include/torch/csrc/api/include/torch/version.h" ]; then
	LIBTORCH=$TORCHDIR
fi
export LIBTORCH=${LIBTORCH:-}
export PYTHON=$PY
echo "LIBTORCH=${LIBTORCH:-(Debian libtorch-dev)}"
if [ "${SKIP_SHIM:-0}" != 1 ]; then
	step "build lib/libcyclepix_torch.so" 420 sh scripts/build_shim.sh || { echo "no shim, nothing else can run"; exit 1; }
fi

# Run-time library path: the wheel's torch/lib and its nvidia/*/lib.
if [ -n "$LIBTORCH" ]; then
	LP=$LIBTORCH/lib
	for d in "$LIBTORCH"/../nvidia/*/lib "$LIBTORCH"/../nvidia/*/*/lib; do
		[ -d "$d" ] && LP=$LP:$(cd "$d" && pwd)
	done
	export LD_LIBRARY_PATH=$LP${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

CP=$ROOT/bin/cyclepix
BENCH=$ROOT/bin/bench
step "cyclepix version" 60 "$CP" version || exit 1
(command -v ldd >/dev/null && ldd "$CP" | grep -E 'cyclepix_torch|libtorch|libc10') || true

# ---- correctness on the device: train, test, resume across devices --------
if [ "$QUICK" = 1 ]; then
	SIZE=32 NET="--ngf 8 --ndf 8 --netG resnet_6blocks" CROP="--load_size 32 --crop_size 32" N=4 P2PNET=unet_32
else
	SIZE=64 NET="--ngf 32 --ndf 32 --netG resnet_6blocks" CROP="--load_size 72 --crop_size 64" N=60 P2PNET=unet_64
fi
D=$WORK/data
C=$WORK/checkpoints
R=$WORK/results
COMMON="--checkpoints_dir $C --max_dataset_size $N --display_freq 1000000 --print_freq 20 --seed 1"
step "data builtin" 120 "$CP" data builtin blobs2zebras --out "$D/b2z" --size $SIZE --num_train $N --num_test 8 >/dev/null
step "data builtin aligned" 120 "$CP" data builtin shapes2photos --out "$D/s2p" --size $SIZE --num_train $N --num_test 8 >/dev/null

# cycle_gan on the device; its checkpoint tested on the CPU and on the device
step "train cycle_gan --device $DEV" 120 "$CP" train --dataroot "$D/b2z" --name cg $NET $CROP $COMMON \
	--n_epochs 1 --n_epochs_decay 0 --device "$DEV"
for d in cpu "$DEV"; do
	step "test cycle_gan checkpoint --device $d" 90 "$CP" test --dataroot "$D/b2z" --name cg --model cycle_gan \
		--dataset_mode unaligned $NET --crop_size $SIZE --num_test 8 --checkpoints_dir "$C" --results_dir "$R/$d" --device "$d"
done
step "test outputs cpu vs $DEV (8-bit levels)" 60 "$PY" scripts/pngdiff.py "$R/cpu/cg/test_latest/images" "$R/$DEV/cg/test_latest/images"
# its full state (Adam moments, image pools) resumed on the CPU for one more epoch
step "resume the $DEV run on the CPU (--continue_train)" 180 "$CP" train --dataroot "$D/b2z" --name cg $NET $CROP $COMMON \
	--n_epochs 1 --n_epochs_decay 1 --continue_train --device cpu
# and the other way: a CPU run resumed on the device
step "train cycle_gan --device cpu" 180 "$CP" train --dataroot "$D/b2z" --name cpu_run $NET $CROP $COMMON \
	--n_epochs 1 --n_epochs_decay 0 --max_dataset_size 4 --device cpu
step "resume the CPU run on $DEV (--continue_train)" 120 "$CP" train --dataroot "$D/b2z" --name cpu_run $NET $CROP $COMMON \
	--n_epochs 1 --n_epochs_decay 1 --max_dataset_size 4 --continue_train --device "$DEV"
# pix2pix (batch norm, dropout, U-Net) under bf16 autocast, and WGAN-GP (double backward)
step "train pix2pix --precision bf16 --device $DEV" 120 "$CP" train --dataroot "$D/s2p" --name p2p --model pix2pix \
	--netG $P2PNET --ngf 16 --ndf 16 $CROP $COMMON --n_epochs 1 --n_epochs_decay 0 --precision bf16 --device "$DEV"
step "train cycle_gan --gan_mode wgangp --device $DEV" 120 "$CP" train --dataroot "$D/b2z" --name wgan $NET $CROP $COMMON \
	--n_epochs 1 --n_epochs_decay 0 --max_dataset_size 8 --gan_mode wgangp --device "$DEV"
if [ "$DEV" != cpu ]; then
	step "train cycle_gan --precision fp16 --device $DEV" 120 "$CP" train --dataroot "$D/b2z" --name fp16 $NET $CROP $COMMON \
		--n_epochs 1 --n_epochs_decay 0 --max_dataset_size 8 --precision fp16 --device "$DEV"
	step "--gpu_ids 0 (no --device)" 120 "$CP" train --dataroot "$D/b2z" --name gpuids $NET $CROP $COMMON \
		--n_epochs 1 --n_epochs_decay 0 --max_dataset_size 4 --gpu_ids 0
fi

# ---- benchmarks: cyclepix and PyTorch on the same device -------------------
if [ "$QUICK" = 1 ]; then
	# The infer suite skips unet_256 at 64 (it takes 256 and up), saying so.
	SIZES=32,64 ISIZES=64 STEPS=2 ISTEPS=1
else
	SIZES=128,256 ISIZES=256,512 STEPS=20 ISTEPS=10
fi
B="$BENCH -device $DEV -python $PY"
# Most telling first: the budget may run out before the last ones.
bench_step "bench iter fp32" 240 $B -sizes $SIZES -suite iter -models pix2pix,cycle_gan -steps $ISTEPS -loader=false
bench_step "bench iter bf16" 240 $B -sizes $SIZES -suite iter -models pix2pix,cycle_gan -steps $ISTEPS -loader=false -precision bf16
bench_step "bench infer fp32" 120 $B -sizes $ISIZES -suite infer -steps $STEPS
bench_step "precision check bf16 vs fp32 (pix2pix, shapes2photos)" 150 env WORK="$WORK/prec" CP="$CP" SIZE=$SIZE N=$N EPOCHS=4 \
	sh scripts/precision_check.sh "$DEV" bf16
bench_step "bench infer bf16" 120 $B -sizes $ISIZES -suite infer -steps $STEPS -precision bf16
bench_step "bench step fp32" 150 $B -sizes $SIZES -steps $STEPS
bench_step "bench step bf16" 150 $B -sizes $SIZES -steps $STEPS -precision bf16
if [ "$DEV" != cpu ]; then
	bench_step "bench iter fp16" 240 $B -sizes $SIZES -suite iter -models pix2pix,cycle_gan -steps $ISTEPS -loader=false -precision fp16
	bench_step "bench iter fp32, data loader" 240 $B -sizes $SIZES -suite iter -models pix2pix,cycle_gan -steps $ISTEPS
fi
exit 0
