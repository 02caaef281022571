#!/usr/bin/env bash
# Reproduces the bundled `synth-en` (offline ds2_small) model from nothing but the
# repository: synthesises the corpus, trains, evaluates, packs. Resumable.
#   bash scripts/recipes/synth_en.sh [HOURS]
set -euo pipefail
cd "$(dirname "$0")/../.."
HOURS=${1:-3}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
$ASR prepare synthetic --out data/synth --hours "$HOURS" --seed 0
$ASR train --config configs/ds2_small.yaml --out runs/synth_en
$ASR evaluate --model runs/synth_en --manifest data/synth/test.jsonl --out runs/synth_en/test
$PY scripts/make_lm.py --manifest data/synth/train.jsonl --order 3 --out runs/synth_en/lm.arpa
$ASR evaluate --model runs/synth_en --manifest data/synth/test.jsonl --decoder beam \
  --out runs/synth_en/test_beam
$ASR evaluate --model runs/synth_en --manifest data/synth/test.jsonl \
  --lm runs/synth_en/lm.arpa --out runs/synth_en/test_lm
$PY scripts/pack_model.py runs/synth_en asr/pretrained/synth-en \
  --check-manifest data/synth/test.jsonl
