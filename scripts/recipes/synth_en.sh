#!/usr/bin/env bash
# Reproduces the bundled `synth-en` (offline ds2_small) model from nothing but the
# repository: synthesises the corpora, trains in five stages, evaluates (greedy,
# beam, beam + LM), packs. Resumable: rerun the same command after an interruption.
#   bash scripts/recipes/synth_en.sh [HOURS] [EPOCHS] [FT_EPOCHS] [FT2_EPOCHS] \
#       [FT3_EPOCHS] [BIG_HOURS] [BIG_EPOCHS] [SP_EPOCHS] [OPEN_EPOCHS] [MIX_EPOCHS] \
#       [WORLD_EPOCHS] [VOICES_EPOCHS] [TRIM_EPOCHS] [NOISY_EPOCHS]
# Stage 1: EPOCHS (10) under one cosine schedule from lr 1.5e-3 on the HOURS (2)
# corpus. Stage 2: FT_EPOCHS (12) more from stage 1's weights (`--init-from`), a
# fresh cosine from lr 1e-3 (a warm restart: stage 1 ended at lr 0 with
# validation WER still falling). Stage 3: FT2_EPOCHS (14) more from stage 2,
# cosine from lr 7e-4. Stage 4: FT3_EPOCHS (7) from stage 3, lr 5e-4; the best
# and last checkpoints of stages 3 and 4 are then averaged. Stage 5: BIG_EPOCHS
# (11) from that average on the BIG_HOURS (4) corpus (same seed: its dev and
# test splits extend the small corpus's, whose test split is their first half),
# lr 6e-4, averaging its 5 best epochs (`train.average_best`). Stage 6:
# SP_EPOCHS (8) from stage 5 on the same corpus with speed perturbation (0.9,
# 1.0, 1.1), lr 1.5e-4, again averaging its 5 best. Stage 7: OPEN_EPOCHS (4)
# from stage 6 on the open-vocabulary corpus (`--hours 3 --seed 1`) under the
# augmentation for real recordings (configs/synth_en_open.yaml: silence
# padding, noise floor, noise, reverberation, VTLP, gain, band limit), lr 5e-4.
# Stage 8: MIX_EPOCHS (3) from stage 7 on that corpus + 1,000
# sentences of the closed 2 h corpus (which stage 7 had begun to forget), same
# augmentation, lr 3e-4. Stage 9: WORLD_EPOCHS (2) from
# stage 8 on the same mix, with everyday sounds (clatter, alarms, traffic,
# machine) added to the noise files (data/noise_world), noise_prob 0.5, lr 2e-4.
# Stage 10: VOICES_EPOCHS (3) from stage 9 on that mix +
# 1,000 sentences spoken by flite's voices (`--engine flite`, needs the flite
# program): voices made from recordings, where every voice before was
# espeak-ng's formant synthesis; same noise, lr 3e-4 (warm-up 50). Stage 11:
# TRIM_EPOCHS (3) from stage 10 on the same data with clips cut to their
# speech (`augment.trim_prob` 0.3) and noise on 60 % of them, lr 3e-4
# (warm-up 50). Stage 12: NOISY_EPOCHS (3) from stage 11, noise at 0-20 dB SNR
# (was 0-30) and trimming only of clips that get no noise (`augment.trim_noisy`
# false, `trim_prob` 0.5), lr 3e-4 (warm-up 50). Stage 13 (the bundled model):
# MIXED_EPOCHS (3) from stage 12, the same, with two noise sources at once on
# half the noisy clips (`augment.noise_mix_prob` 0.5).
# A stage with 0 epochs is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/recipes/warm_restart.sh
HOURS=${1:-2}
EPOCHS=${2:-10}
FT_EPOCHS=${3:-12}
FT2_EPOCHS=${4:-14}
FT3_EPOCHS=${5:-7}
BIG_HOURS=${6:-4}
BIG_EPOCHS=${7:-11}
SP_EPOCHS=${8:-8}
OPEN_EPOCHS=${9:-4}
MIX_EPOCHS=${10:-3}
WORLD_EPOCHS=${11:-2}
VOICES_EPOCHS=${12:-3}
TRIM_EPOCHS=${13:-3}
NOISY_EPOCHS=${14:-3}
MIXED_EPOCHS=${15:-3}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
STAGE1=${STAGE1:-runs/synth_en}
STAGE2=${STAGE2:-runs/synth_en_ft}
STAGE3=${STAGE3:-runs/synth_en_ft2}
STAGE4=${STAGE4:-runs/synth_en_ft3}
AVG=${AVG:-runs/synth_en_avg}
BIG=${BIG:-data/synth4}
RUN=${RUN:-runs/synth_en_4h}
SPEED=${SPEED:-runs/synth_en_speed}
OPEN=${OPEN:-runs/synth_en_open}
MIX=${MIX:-runs/synth_en_mix}
WORLD=${WORLD:-runs/synth_en_world}
VOICES=${VOICES:-runs/synth_en_voices}
TRIM=${TRIM:-runs/synth_en_s11}
NOISY=${NOISY:-runs/synth_en_s12}
MIXED=${MIXED:-runs/synth_en_s13}
$ASR prepare synthetic --vocabulary closed --out data/synth --hours "$HOURS" --seed 0
$ASR train --config configs/ds2_small.yaml --epochs "$EPOCHS" --out "$STAGE1"
warm_restart configs/ds2_small.yaml "$STAGE1" "$STAGE2" "$FT_EPOCHS"
warm_restart configs/ds2_small.yaml "$FINAL" "$STAGE3" "$FT2_EPOCHS" 0.0007
warm_restart configs/ds2_small.yaml "$FINAL" "$STAGE4" "$FT3_EPOCHS" 0.0005 100
if [ "$FT3_EPOCHS" -gt 0 ]; then
  $PY scripts/average_models.py "$STAGE3/model.keras" "$STAGE3/last.keras" \
    "$STAGE4/model.keras" "$STAGE4/last.keras" --out "$AVG"
  FINAL=$AVG
fi
TEST=data/synth/test.jsonl
TRAIN_TEXT=data/synth/train.jsonl
if [ "$BIG_EPOCHS" -gt 0 ]; then
  $ASR prepare synthetic --vocabulary closed --out "$BIG" --hours "$BIG_HOURS" --seed 0
  $ASR train --config configs/ds2_small.yaml --init-from "$FINAL" \
    --train "$BIG"/train.jsonl --val "$BIG"/dev.jsonl \
    --epochs "$BIG_EPOCHS" --set train.learning_rate=0.0006 \
    --set train.warmup_steps=200 --set train.average_best=5 --out "$RUN"
  FINAL=$RUN
  TEST="$BIG"/test.jsonl
  TRAIN_TEXT="$BIG"/train.jsonl
  # The small corpus's test split (the first half of this one), for comparison.
  $ASR evaluate --model "$RUN" --manifest data/synth/test.jsonl --out "$RUN/test_small"
  warm_restart configs/ds2_small.yaml "$FINAL" "$SPEED" "$SP_EPOCHS" 0.00015 100 \
    --train "$BIG"/train.jsonl --val "$BIG"/dev.jsonl --set train.average_best=5 \
    --set "augment.speed_factors=[0.9, 1.0, 1.1]"
fi
if [ $((OPEN_EPOCHS + MIX_EPOCHS + WORLD_EPOCHS + VOICES_EPOCHS + TRIM_EPOCHS + NOISY_EPOCHS + MIXED_EPOCHS)) -gt 0 ]; then
  $ASR prepare synthetic --out data/synth_open --hours 3 --seed 1
  $ASR prepare noise --out data/noise --seed 0 --count 4
  $PY - <<'PY'
import random
from pathlib import Path
from asr.manifest import read_manifest, write_manifest
old = read_manifest("data/synth/train.jsonl")
random.Random(0).shuffle(old)
Path("data/synth_mix").mkdir(exist_ok=True)
write_manifest("data/synth_mix/train.jsonl",
               read_manifest("data/synth_open/train.jsonl") + old[:1000])
write_manifest("data/synth_mix/dev.jsonl", read_manifest("data/synth_open/dev.jsonl")
               + read_manifest("data/synth/dev.jsonl"))
PY
  warm_restart configs/synth_en_open.yaml "$FINAL" "$OPEN" "$OPEN_EPOCHS" 0.0005 100
  warm_restart configs/synth_en_open.yaml "$FINAL" "$MIX" "$MIX_EPOCHS" 0.0003 100 \
    --train data/synth_mix/train.jsonl --val data/synth_mix/dev.jsonl
  $ASR prepare noise --out data/noise_world --seed 0 --count 4
  $ASR prepare noise --out data/noise_world --seed 0 --count 4 \
    --kinds clatter,alarms,traffic,machine
  warm_restart configs/synth_en_open.yaml "$FINAL" "$WORLD" "$WORLD_EPOCHS" 0.0002 50 \
    --train data/synth_mix/train.jsonl --val data/synth_mix/dev.jsonl \
    --set augment.noise_dir=data/noise_world --set augment.noise_prob=0.5
  if [ "$VOICES_EPOCHS" -gt 0 ]; then
    $ASR prepare synthetic --out data/synth_flite --hours 3 --seed 2 --engine flite
    $PY - <<'PY'
import random
from pathlib import Path
from asr.manifest import read_manifest, write_manifest
flite = read_manifest("data/synth_flite/train.jsonl")
random.Random(0).shuffle(flite)
Path("data/synth_voices").mkdir(exist_ok=True)
write_manifest("data/synth_voices/train.jsonl",
               read_manifest("data/synth_mix/train.jsonl") + flite[:1000])
PY
  fi
  warm_restart configs/synth_en_open.yaml "$FINAL" "$VOICES" "$VOICES_EPOCHS" 0.0003 50 \
    --train data/synth_voices/train.jsonl --val data/synth_mix/dev.jsonl \
    --set augment.noise_dir=data/noise_world --set augment.noise_prob=0.5
  warm_restart configs/synth_en_open.yaml "$FINAL" "$TRIM" "$TRIM_EPOCHS" 0.0003 50 \
    --train data/synth_voices/train.jsonl --val data/synth_mix/dev.jsonl \
    --set augment.noise_dir=data/noise_world --set augment.noise_prob=0.6 \
    --set augment.trim_prob=0.3
  warm_restart configs/synth_en_open.yaml "$FINAL" "$NOISY" "$NOISY_EPOCHS" 0.0003 50 \
    --train data/synth_voices/train.jsonl --val data/synth_mix/dev.jsonl \
    --set augment.noise_dir=data/noise_world --set augment.noise_prob=0.6 \
    --set "augment.noise_snr_db=[0.0, 20.0]" --set augment.trim_prob=0.5 \
    --set augment.trim_noisy=false
  warm_restart configs/synth_en_open.yaml "$FINAL" "$MIXED" "$MIXED_EPOCHS" 0.0003 50 \
    --train data/synth_voices/train.jsonl --val data/synth_mix/dev.jsonl \
    --set augment.noise_dir=data/noise_world --set augment.noise_prob=0.6 \
    --set "augment.noise_snr_db=[0.0, 20.0]" --set augment.trim_prob=0.5 \
    --set augment.trim_noisy=false --set augment.noise_mix_prob=0.5
  TEST=data/synth/test.jsonl  # the closed test split; and the open one:
  $ASR evaluate --model "$FINAL" --manifest data/synth_open/test.jsonl --out "$FINAL/test_open"
  [ "$VOICES_EPOCHS" -eq 0 ] || $ASR evaluate --model "$FINAL" \
    --manifest data/synth_flite/test.jsonl --out "$FINAL/test_flite"
  $ASR evaluate --model "$FINAL" --manifest "$TEST" --pad-silence 1 --out "$FINAL/test_pad1"
fi
RUN=$FINAL
$ASR evaluate --model "$RUN" --manifest "$TEST" --out "$RUN/test"
$PY scripts/make_lm.py --manifest "$TRAIN_TEXT" --order 3 --out "$RUN/lm.arpa"
$ASR evaluate --model "$RUN" --manifest "$TEST" --decoder beam --out "$RUN/test_beam"
$ASR evaluate --model "$RUN" --manifest "$TEST" --lm "$RUN/lm.arpa" --out "$RUN/test_lm"
$PY scripts/pack_model.py "$RUN" asr/pretrained/synth-en --check-manifest "$TEST"
