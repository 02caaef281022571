#!/usr/bin/env bash
# Trains `english-streaming`: the streaming network of `synth-en-streaming`
# (causal convolutions, forward-only LSTMs, 400 ms look-ahead) fine-tuned on
# the data of `english` (speechocean762's 105 training speakers mixed 2:1 with
# the open-vocabulary synthetic corpus) under the augmentation for real
# recordings. Resumable: rerun the same command after an interruption.
#   bash scripts/recipes/english_streaming.sh [SO762_DIR] [S1_EPOCHS]
# Stage 1: S1_EPOCHS (8) from `synth-en-streaming`, configs/english_streaming.yaml
# (cosine from lr 1e-3, warm-up 200, the average of the 3 best epochs).
set -euo pipefail
cd "$(dirname "$0")/../.."
SO762=${1:-../shared/data/speechocean762_train}
S1_EPOCHS=${2:-8}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}

source scripts/recipes/english_data.sh

$ASR train --config configs/english_streaming.yaml --epochs "$S1_EPOCHS" \
  --out runs/english_streaming_s1
RUN=runs/english_streaming_s1
$ASR evaluate --model "$RUN" --manifest data/so762/dev.jsonl --group-by age_group \
  --out "$RUN/dev_greedy"
