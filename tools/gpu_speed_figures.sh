#!/usr/bin/env bash
# The `base` model's speed figures on one GPU in a single call (docs/design.md §4.5): training MFU and
# memory for the speed options at the published batch and longest lengths, then image→audio decoding of
# 20 s of audio (1,750 frames × 4 codes) for one system, with each phase's costliest ops.
#
# An accelerator host needs jax, flax, optax, orbax and absl (no TensorFlow); gin-config and the MIDI
# libraries travel as wheels in .whl/ (fetched once on a host with pip, then carried):
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl gin-config==0.5.0 mido==1.3.3 pretty_midi==0.2.11.post0 \
#       importlib_resources
#   bash tools/gpu_speed_figures.sh            # figures to $OUT (or runs/speed), one .txt per run
#
# MODEL, BATCH, ENCODER, DECODER, ATTENTION, STEPS, DECODE_ENCODER and DECODE_LENGTH override the defaults,
# e.g. for a dry run on a CPU:
#   MODEL=models/tiny.gin BATCH=2 ENCODER=64 DECODER=64 ATTENTION=xla DECODE_ENCODER=64 DECODE_LENGTH=16 \
#       bash tools/gpu_speed_figures.sh
set -uo pipefail
cd "$(dirname "$0")/.."

if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "error: could not install the wheels in .whl/" >&2; exit 2; }
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1

MODEL=${MODEL:-models/base.gin}
BATCH=${BATCH:-24}
ENCODER=${ENCODER:-1750}
DECODER=${DECODER:-1751}
ATTENTION=${ATTENTION:-cudnn}
STEPS=${STEPS:-5}
DECODE_ENCODER=${DECODE_ENCODER:-3900}  # the largest image system: 26 rows × 150 columns
DECODE_LENGTH=${DECODE_LENGTH:-1750}
RESULTS=${OUT:-runs/speed}
mkdir -p "$RESULTS"
PYTHON=$(command -v python3 || command -v python)

# run NAME SECONDS BINDINGS... : one benchmark, cut off after SECONDS so later runs still happen.
run() {
  local name=$1 seconds=$2
  shift 2
  echo "== $name"
  timeout "$seconds" "$PYTHON" tools/benchmark.py --gin_file="$MODEL" --batch_size="$BATCH" \
    --encoder_length="$ENCODER" --decoder_length="$DECODER" --steps="$STEPS" "$@" 2>&1 \
    | grep -v -e "^I0000" -e "^W0000" | tee "$RESULTS/$name.txt"
  echo "   (exit ${PIPESTATUS[0]})"
}

config="--gin.network.TransformerConfig"
run "${ATTENTION}_scan_minimal" 240 "$config.attention='$ATTENTION'" "$config.scan_layers=True" \
  "$config.remat_policy='minimal'" --decode_batch_size=1 --decode_encoder_length="$DECODE_ENCODER" \
  --decode_length="$DECODE_LENGTH" --profile_dir=/tmp/mt_music_profile
run "${ATTENTION}_scan_full" 150 "$config.attention='$ATTENTION'" "$config.scan_layers=True" \
  "$config.remat_policy='full'" --decode_length=0
run "einsum_scan_minimal" 150 "$config.attention='einsum'" "$config.scan_layers=True" \
  "$config.remat_policy='minimal'" --decode_length=0
