#!/usr/bin/env bash
# Reproduces the bundled `synth-en-streaming` model (configs/streaming.yaml: causal
# convolutions, forward-only LSTMs) on the same corpus as `synth-en`, evaluates it
# offline and in 100 ms chunks through StreamingRecognizer, and packs it.
# Resumable. Stage 1 starts its front end (feature statistics and the two conv
# blocks) from the offline stage-1 run (`--init-from`), so run synth_en.sh first;
# stage 2 is a warm restart from stage 1 (fresh cosine from lr 1e-3), as for
# synth-en. FT_EPOCHS=0 stops after stage 1.
#   bash scripts/recipes/synth_en_streaming.sh [HOURS] [EPOCHS] [FT_EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/recipes/warm_restart.sh
HOURS=${1:-2}
EPOCHS=${2:-10}
FT_EPOCHS=${3:-6}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
STAGE1=${STAGE1:-runs/synth_en_streaming}
RUN=${RUN:-runs/synth_en_streaming_ft}
$ASR prepare synthetic --out data/synth --hours "$HOURS" --seed 0
$ASR train --config configs/streaming.yaml --epochs "$EPOCHS" \
  --init-from runs/synth_en --out "$STAGE1"
warm_restart configs/streaming.yaml "$STAGE1" "$RUN" "$FT_EPOCHS"
RUN=$FINAL
$ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl --out "$RUN/test"
$PY scripts/eval_streaming.py --model "$RUN" --manifest data/synth/test.jsonl \
  --chunk-ms 100 --out "$RUN/test_streamed.json"
$PY scripts/pack_model.py "$RUN" asr/pretrained/synth-en-streaming \
  --check-manifest data/synth/test.jsonl
cp "$RUN/learning_curve.png" asr/pretrained/synth-en-streaming/
