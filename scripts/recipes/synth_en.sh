#!/usr/bin/env bash
# Reproduces the bundled `synth-en` (offline ds2_small) model from nothing but the
# repository: synthesises the corpus, trains in three stages, evaluates (greedy,
# beam, beam + LM), packs. Resumable: rerun the same command after an interruption.
#   bash scripts/recipes/synth_en.sh [HOURS] [EPOCHS] [FT_EPOCHS] [FT2_EPOCHS]
# Stage 1: EPOCHS (10) under one cosine schedule from lr 1.5e-3. Stage 2: FT_EPOCHS
# (12) more from stage 1's weights (`--init-from`), a fresh cosine from lr 1e-3
# (a warm restart: stage 1 ended at lr 0 with validation WER still falling).
# Stage 3: FT2_EPOCHS (14) more from stage 2, cosine from lr 7e-4 (stage 2 ended
# still improving too). A stage with 0 epochs is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/recipes/warm_restart.sh
HOURS=${1:-2}
EPOCHS=${2:-10}
FT_EPOCHS=${3:-12}
FT2_EPOCHS=${4:-14}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
STAGE1=${STAGE1:-runs/synth_en}
STAGE2=${STAGE2:-runs/synth_en_ft}
RUN=${RUN:-runs/synth_en_ft2}
$ASR prepare synthetic --out data/synth --hours "$HOURS" --seed 0
$ASR train --config configs/ds2_small.yaml --epochs "$EPOCHS" --out "$STAGE1"
warm_restart configs/ds2_small.yaml "$STAGE1" "$STAGE2" "$FT_EPOCHS"
warm_restart configs/ds2_small.yaml "$FINAL" "$RUN" "$FT2_EPOCHS" 0.0007
RUN=$FINAL
$ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl --out "$RUN/test"
$PY scripts/make_lm.py --manifest data/synth/train.jsonl --order 3 --out "$RUN/lm.arpa"
$ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl --decoder beam \
  --out "$RUN/test_beam"
$ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl \
  --lm "$RUN/lm.arpa" --out "$RUN/test_lm"
$PY scripts/pack_model.py "$RUN" asr/pretrained/synth-en \
  --check-manifest data/synth/test.jsonl
cp "$RUN/lm.arpa" "$RUN/learning_curve.png" asr/pretrained/synth-en/
