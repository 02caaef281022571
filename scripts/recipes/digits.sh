#!/usr/bin/env bash
# Reproduces the bundled `digits` model from the repository and the shared FSDD
# corpus (Speech Commands layout). Resumable: rerun after an interruption.
#   bash scripts/recipes/digits.sh [FSDD_ROOT]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=${1:-../shared/data/fsdd_speech_commands}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
$ASR prepare speech-commands --root "$ROOT" --out data/fsdd
$ASR train --config configs/speech_commands.yaml \
  --train data/fsdd/train.jsonl --val data/fsdd/validation.jsonl \
  --set augment.noise_dir="$ROOT/_background_noise_" --set augment.noise_prob=0.5 \
  --out runs/digits
$ASR evaluate --model runs/digits --manifest data/fsdd/test.jsonl --out runs/digits/test
$PY scripts/pack_model.py runs/digits asr/pretrained/digits \
  --check-manifest data/fsdd/test.jsonl
