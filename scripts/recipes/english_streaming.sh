#!/usr/bin/env bash
# Reproduces the bundled `english-streaming` model: the streaming network of
# `synth-en-streaming` (causal convolutions, forward-only LSTMs, 400 ms
# look-ahead) fine-tuned on the data of `english` (speechocean762's 105
# training speakers mixed 2:1 with the open-vocabulary synthetic corpus) under
# the augmentation for real recordings. Resumable: rerun the same command after
# an interruption.
#   bash scripts/recipes/english_streaming.sh [SO762_DIR] [S2_EPOCHS] [S3_EPOCHS] [S4_EPOCHS] [S5_EPOCHS]
# Stage 1: configs/english_streaming.yaml from `synth-en-streaming` (an 8-epoch
# cosine from lr 1e-3, warm-up 200), its first epoch only: the bundled model's
# stage 1 was stopped by SIGTERM after epoch 1 (its learning rate then followed
# the 8-epoch cosine; `--epochs 1` here is a 1-epoch cosine, close but not
# identical). Stage 2: S2_EPOCHS (4) from stage 1, a
# cosine from lr 7e-4 (warm-up 100), the best epoch kept. Stage 3: S3_EPOCHS (3)
# from stage 2, cosine from lr 4e-4 (warm-up 50), the mean of the 3 best epochs.
# Stage 4: S4_EPOCHS (3) from stage 3 on `english` stage 5's mix (with flite's
# voices; scripts/recipes/english.sh makes data/english_voices and
# data/noise_world, and needs the flite program) and noise, cosine from lr 3e-4
# (warm-up 50), the best epoch kept. Stage 5: S5_EPOCHS (3) from stage 4 with
# clips cut to their speech (`augment.trim_prob` 0.3), lr 3e-4 (warm-up 50),
# the mean of its epochs; the bundled model.
set -euo pipefail
cd "$(dirname "$0")/../.."
SO762=${1:-../shared/data/speechocean762_train}
S2_EPOCHS=${2:-4}
S3_EPOCHS=${3:-3}
S4_EPOCHS=${4:-3}
S5_EPOCHS=${5:-3}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}

source scripts/recipes/english_data.sh

$ASR train --config configs/english_streaming.yaml --epochs 1 \
  --out runs/english_streaming_s1
$ASR train --config configs/english_streaming.yaml --init-from runs/english_streaming_s1 \
  --epochs "$S2_EPOCHS" --set train.learning_rate=0.0007 --set train.warmup_steps=100 \
  --out runs/english_streaming_s2
$ASR train --config configs/english_streaming.yaml --init-from runs/english_streaming_s2 \
  --epochs "$S3_EPOCHS" --set train.learning_rate=0.0004 --set train.warmup_steps=50 \
  --out runs/english_streaming_s3
test -f data/english_voices/train.jsonl || {
  echo "stage 4 needs data/english_voices: run scripts/recipes/english.sh first" >&2
  exit 1
}
$ASR train --config configs/english_streaming.yaml --init-from runs/english_streaming_s3 \
  --epochs "$S4_EPOCHS" --train data/english_voices/train.jsonl \
  --set augment.noise_dir=data/noise_world --set train.learning_rate=0.0003 \
  --set train.warmup_steps=50 --out runs/english_streaming_s4
$ASR train --config configs/english_streaming.yaml --init-from runs/english_streaming_s4 \
  --epochs "$S5_EPOCHS" --train data/english_voices/train.jsonl \
  --set augment.noise_dir=data/noise_world --set train.learning_rate=0.0003 \
  --set train.warmup_steps=50 --set augment.trim_prob=0.3 --out runs/english_streaming_s5
RUN=runs/english_streaming_s5
$ASR evaluate --model "$RUN" --manifest data/so762/dev.jsonl --group-by age_group,gender \
  --out "$RUN/dev_greedy"
$ASR evaluate --model "$RUN" --manifest data/so762/dev.jsonl --group-by age_group \
  --decoder beam --lm data/so762/lm3.arpa --out "$RUN/dev_beam_lm"
$PY scripts/pack_model.py "$RUN" asr/pretrained/english-streaming \
  --check-manifest data/so762/dev.jsonl
