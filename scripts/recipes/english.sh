#!/usr/bin/env bash
# Reproduces the bundled `english` model (real read English) from the repository,
# speechocean762's train split (a Kaldi data directory) and generated noise.
# Resumable: rerun the same command after an interruption.
#   bash scripts/recipes/english.sh [SO762_DIR] [S1_EPOCHS] [S2_EPOCHS] [S3_EPOCHS] [S4_EPOCHS] [S5_EPOCHS] [S6_EPOCHS]
# Data: 20 speakers of speechocean762 held out as dev (5 women, 5 girls, 5 men,
# 5 boys; `--dev-speakers 20 --seed 0`), the other 105 for training, mixed 2:1
# with the open-vocabulary synthetic corpus (words from wordfreq, 832 espeak-ng
# voices); noise files from `asr prepare noise` (white, pink, brown, hum and
# espeak-ng babble). Left out of training for evaluation: babble of real voices
# (scripts/make_babble.py over FSDD).
# Stage 1: S1_EPOCHS (2) from `synth-en` on speechocean762 alone, lr 5e-4, light
# augmentation (speed, shift, gain, colored noise). Stage 2: S2_EPOCHS (8) from
# stage 1 on the mix with configs/english.yaml's augmentation (silence padding
# with a noise floor, noise at 5-30 dB SNR, reverberation, VTLP, speed, gain),
# lr 1e-3, averaging the 3 best epochs. Stage 3: S3_EPOCHS (8) more from stage
# 2 on the same mix and augmentation, a new cosine from lr 5e-4 (warm-up 100),
# averaging the 3 best epochs. Stage 4: S4_EPOCHS (6) more from stage 3, a new
# cosine from lr 3e-4 (warm-up 50). Stage 5: S5_EPOCHS (6) more from stage 4
# on a new mix, speechocean762 : espeak-ng open corpus : flite corpus =
# 3 : 1 : 1 (`asr prepare synthetic --engine flite`: voices made from recorded
# American and Scottish speakers; needs the flite program), with the everyday
# noise kinds added to the noise files (data/noise_world), lr 4e-4 (warm-up
# 100), averaging the 3 best epochs. Stage 6: S6_EPOCHS (4) more from stage 5
# with clips cut to their speech (`augment.trim_prob` 0.3), lr 3e-4 (warm-up
# 50), averaging the 3 best epochs; the bundled model.
set -euo pipefail
cd "$(dirname "$0")/../.."
SO762=${1:-../shared/data/speechocean762_train}
S1_EPOCHS=${2:-2}
S2_EPOCHS=${3:-8}
S3_EPOCHS=${4:-8}
S4_EPOCHS=${5:-6}
S5_EPOCHS=${6:-6}
S6_EPOCHS=${7:-4}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}

source scripts/recipes/english_data.sh

$ASR train --config configs/ds2_small.yaml --init-from synth-en --epochs "$S1_EPOCHS" \
  --train data/so762/train.jsonl --val data/so762/dev.jsonl \
  --set train.learning_rate=0.0005 --set train.warmup_steps=200 \
  --set "augment.speed_factors=[0.9, 1.0, 1.1]" --set augment.time_shift_ms=1000 \
  --set augment.gain_db=6 --set augment.noise_dir=data/noise --set augment.noise_prob=0.5 \
  --out runs/english_s1
$ASR train --config configs/english.yaml --init-from runs/english_s1 \
  --epochs "$S2_EPOCHS" --out runs/english_s2
$ASR train --config configs/english.yaml --init-from runs/english_s2 \
  --epochs "$S3_EPOCHS" --set train.learning_rate=0.0005 --set train.warmup_steps=100 \
  --out runs/english_s3
$ASR train --config configs/english.yaml --init-from runs/english_s3 \
  --epochs "$S4_EPOCHS" --set train.learning_rate=0.0003 --set train.warmup_steps=50 \
  --out runs/english_s4
$ASR prepare synthetic --out data/synth_flite --hours 3 --seed 2 --engine flite
$ASR prepare noise --out data/noise_world --seed 0 --count 4
$ASR prepare noise --out data/noise_world --seed 0 --count 4 \
  --kinds clatter,alarms,traffic,machine
$PY - <<'PY'
import random
from pathlib import Path
from asr.manifest import read_manifest, write_manifest
real = read_manifest("data/so762/train.jsonl")
espeak = read_manifest("data/synth_open/train.jsonl")
flite = read_manifest("data/synth_flite/train.jsonl")
random.Random(0).shuffle(espeak)
random.Random(0).shuffle(flite)
n = len(real) // 3
Path("data/english_voices").mkdir(exist_ok=True)
write_manifest("data/english_voices/train.jsonl", real + espeak[:n] + flite[:n])
PY
$ASR train --config configs/english.yaml --init-from runs/english_s4 \
  --epochs "$S5_EPOCHS" --train data/english_voices/train.jsonl \
  --set augment.noise_dir=data/noise_world --set train.learning_rate=0.0004 \
  --set train.warmup_steps=100 --out runs/english_s5
$ASR train --config configs/english.yaml --init-from runs/english_s5 \
  --epochs "$S6_EPOCHS" --train data/english_voices/train.jsonl \
  --set augment.noise_dir=data/noise_world --set train.learning_rate=0.0003 \
  --set train.warmup_steps=50 --set augment.trim_prob=0.3 --out runs/english_s6
RUN=runs/english_s6

$ASR evaluate --model "$RUN" --manifest data/so762/dev.jsonl --group-by age_group \
  --out "$RUN/dev_greedy"
$ASR evaluate --model "$RUN" --manifest data/so762/dev.jsonl --group-by age_group \
  --decoder beam --out "$RUN/dev_beam"
$ASR evaluate --model "$RUN" --manifest data/so762/dev.jsonl --group-by age_group \
  --decoder beam --lm data/so762/lm3.arpa --out "$RUN/dev_beam_lm"
cp data/so762/lm3.arpa "$RUN/lm.arpa"
$PY scripts/pack_model.py "$RUN" asr/pretrained/english \
  --check-manifest data/so762/dev.jsonl
