#!/usr/bin/env bash
# Reproduces the bundled `synth-en` (offline ds2_small) model from nothing but the
# repository: synthesises the corpus, trains, evaluates (greedy, beam, beam + LM),
# packs. Resumable: rerun the same command after an interruption.
#   bash scripts/recipes/synth_en.sh [HOURS] [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/../.."
HOURS=${1:-2}
EPOCHS=${2:-10}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/synth_en}
$ASR prepare synthetic --out data/synth --hours "$HOURS" --seed 0
$ASR train --config configs/ds2_small.yaml --epochs "$EPOCHS" --out "$RUN"
$ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl --out "$RUN/test"
$PY scripts/make_lm.py --manifest data/synth/train.jsonl --order 3 --out "$RUN/lm.arpa"
$ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl --decoder beam \
  --out "$RUN/test_beam"
$ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl \
  --lm "$RUN/lm.arpa" --out "$RUN/test_lm"
$PY scripts/pack_model.py "$RUN" asr/pretrained/synth-en \
  --check-manifest data/synth/test.jsonl
