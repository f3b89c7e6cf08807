#!/bin/sh
# Trains pix2pix on the built-in shapes2photos data twice, in fp32 and with
# --precision bf16 (or fp16 on CUDA), same seed and data, then tests both
# and prints the last epoch's mean losses and the test L1/PSNR of each, and
# bf16's relative difference. The README's precision table comes from it.
#
#   scripts/precision_check.sh [DEVICE [PRECISION]]   (default: cpu bf16)
#
# Needs bin/cyclepix. Environment: WORK (scratch folder, default a
# temporary one), SIZE (image size, 64), N (training images, 120), EPOCHS
# (5, half of them with decaying lr).
set -eu
DEV=${1:-cpu}
PREC=${2:-bf16}
CP=${CP:-bin/cyclepix}
SIZE=${SIZE:-64}
N=${N:-120}
EPOCHS=${EPOCHS:-5}
WORK=${WORK:-$(mktemp -d)}
half=$((EPOCHS / 2))
D=$WORK/s2p
[ -d "$D/train" ] || "$CP" data builtin shapes2photos --out "$D" --size "$SIZE" --num_train "$N" --num_test 30 --seed 3 >/dev/null
for p in fp32 "$PREC"; do
	"$CP" train --dataroot "$D" --name "p2p_$p" --model pix2pix --netG "unet_$SIZE" --ngf 32 --ndf 32 \
		--load_size "$SIZE" --crop_size "$SIZE" --n_epochs $((EPOCHS - half)) --n_epochs_decay $half \
		--checkpoints_dir "$WORK/ck" --display_freq 1000000 --print_freq 10 --seed 1 --device "$DEV" \
		--precision "$p" >"$WORK/train_$p.log" 2>&1 || { tail -5 "$WORK/train_$p.log"; exit 1; }
	"$CP" test --dataroot "$D" --name "p2p_$p" --model pix2pix --netG "unet_$SIZE" --ngf 32 --ndf 32 \
		--load_size "$SIZE" --crop_size "$SIZE" --checkpoints_dir "$WORK/ck" --results_dir "$WORK/res" \
		--device "$DEV" --eval --num_test all >/dev/null 2>&1
	"$CP" eval --results "$WORK/res/p2p_$p/test_latest" --no_fid --json "$WORK/eval_$p.json" >/dev/null 2>&1
done
# The last epoch's mean of each loss in loss_log.txt, then test L1 and PSNR.
summary() {
	awk -v e="$EPOCHS" '/^\[Rank/ { if ($0 !~ "epoch: " e ",") next; sub(/.*\) , /, ""); n = split($0, kv, ", ");
		for (i = 1; i <= n; i++) { split(kv[i], p, ": "); s[p[1]] += p[2]; c[p[1]]++ } }
		END { for (k in s) printf "%s=%.4f ", k, s[k] / c[k] }' "$WORK/ck/p2p_$1/loss_log.txt"
	tr -d '{}" \n' <"$WORK/eval_$1.json" | tr ',' '\n' | grep -E '^(l1|psnr):' | tr '\n' ' '
}
echo "pix2pix, shapes2photos ${SIZE}px, $N images, $EPOCHS epochs, $DEV:"
f=$(summary fp32)
q=$(summary "$PREC")
echo "fp32:  $f"
echo "$PREC:  $q"
echo "$f" | tr ' ' '\n' | tr ':=' '  ' | while read -r k v; do
	[ -n "$k" ] || continue
	w=$(echo "$q" | tr ' ' '\n' | tr ':=' '  ' | awk -v k="$k" '$1 == k { print $2 }')
	[ -n "$w" ] && awk -v k="$k" -v a="$v" -v b="$w" 'BEGIN { printf "  %-8s %s vs fp32: %+.1f %%\n", k, "'"$PREC"'", (a != 0 ? 100 * (b - a) / a : 0) }'
done
