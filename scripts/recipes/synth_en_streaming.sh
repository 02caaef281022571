#!/usr/bin/env bash
# Reproduces the bundled `synth-en-streaming` model (configs/streaming.yaml: causal
# convolutions, forward-only LSTMs) on the same corpus as `synth-en`, evaluates it
# offline and in 100 ms chunks through StreamingRecognizer, and packs it.
# Resumable. The front end (feature statistics and the two conv blocks) starts
# from the offline run (`--init-from`), so run synth_en.sh first.
#   bash scripts/recipes/synth_en_streaming.sh [HOURS] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/../.."
HOURS=${1:-2}
EPOCHS=${2:-10}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/synth_en_streaming}
$ASR prepare synthetic --out data/synth --hours "$HOURS" --seed 0
$ASR train --config configs/streaming.yaml --epochs "$EPOCHS" \
  --init-from runs/synth_en --out "$RUN"
$ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl --out "$RUN/test"
$PY scripts/eval_streaming.py --model "$RUN" --manifest data/synth/test.jsonl \
  --chunk-ms 100 --out "$RUN/test_streamed.json"
$PY scripts/pack_model.py "$RUN" asr/pretrained/synth-en-streaming \
  --check-manifest data/synth/test.jsonl
