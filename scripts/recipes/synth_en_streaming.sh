#!/usr/bin/env bash
# Reproduces the bundled `synth-en-streaming` model (configs/streaming.yaml: causal
# convolutions, forward-only LSTMs, a 20-frame look-ahead convolution) on the
# corpora of `synth-en`, evaluates it offline and in 100 ms chunks through
# StreamingRecognizer, and packs it. Resumable.
#   bash scripts/recipes/synth_en_streaming.sh [HOURS] [EPOCHS] [FT_EPOCHS] \
#       [BIG_HOURS] [LA_EPOCHS] [RE_EPOCHS] [RE2_EPOCHS] [LA20_EPOCHS] \
#       [LA20_RE_EPOCHS] [SP_EPOCHS] [SP2_EPOCHS]
# Stage 1: EPOCHS (10) on the HOURS (2) corpus without the look-ahead, its front
# end (feature statistics and the two conv blocks) from the offline stage-1 run
# (`--init-from`), so run synth_en.sh's stage 1 first. Stage 2: FT_EPOCHS (6), a
# warm restart from stage 1 (fresh cosine from lr 1e-3). Stage 3: LA_EPOCHS (13)
# from stage 2 with a 10-frame look-ahead added (it starts as the identity, so the
# model starts where stage 2 ended) on the BIG_HOURS (4) corpus, lr 1e-3. Stage 4:
# RE_EPOCHS (9), a warm restart from stage 3 on the same corpus, lr 7e-4. Stage 5:
# RE2_EPOCHS (8), another from stage 4, lr 5e-4. Stage 6: LA20_EPOCHS (8) from
# stage 5 with the look-ahead grown to the config's 20 frames (new taps start at
# zero), lr 5e-4. Stage 7: LA20_RE_EPOCHS (7), a warm restart from stage 6, lr
# 3e-4. Stage 8: SP_EPOCHS (8) from stage 7 with speed perturbation (0.9, 1.0,
# 1.1), lr 1.5e-4. Stage 9: SP2_EPOCHS (8), a warm restart from stage 8 with
# the same speed perturbation, lr 1e-4. Stages 3 to 7 keep the better of their
# best epoch and the mean of their 4 best (`train.average_best`), stages 8 and
# 9 of their 5 best. A stage with 0 epochs is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/recipes/warm_restart.sh
HOURS=${1:-2}
EPOCHS=${2:-10}
FT_EPOCHS=${3:-6}
BIG_HOURS=${4:-4}
LA_EPOCHS=${5:-13}
RE_EPOCHS=${6:-9}
RE2_EPOCHS=${7:-8}
LA20_EPOCHS=${8:-8}
LA20_RE_EPOCHS=${9:-7}
SP_EPOCHS=${10:-8}
SP2_EPOCHS=${11:-8}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
STAGE1=${STAGE1:-runs/synth_en_streaming}
STAGE2=${STAGE2:-runs/synth_en_streaming_ft}
STAGE3=${STAGE3:-runs/synth_en_streaming_la}
STAGE4=${STAGE4:-runs/synth_en_streaming_la2}
STAGE5=${STAGE5:-runs/synth_en_streaming_la3}
STAGE6=${STAGE6:-runs/synth_en_streaming_la20}
STAGE7=${STAGE7:-runs/synth_en_streaming_s7}
STAGE8=${STAGE8:-runs/synth_en_streaming_speed}
STAGE9=${STAGE9:-runs/synth_en_streaming_s9}
BIG=${BIG:-data/synth4}
CONFIG=configs/streaming.yaml
NO_LA="model.lookahead=0"
LA10="model.lookahead=10"
$ASR prepare synthetic --vocabulary closed --out data/synth --hours "$HOURS" --seed 0
$ASR train --config $CONFIG --set $NO_LA --epochs "$EPOCHS" \
  --init-from runs/synth_en --out "$STAGE1"
warm_restart $CONFIG "$STAGE1" "$STAGE2" "$FT_EPOCHS" 0.001 200 --set $NO_LA
TEST=data/synth/test.jsonl
if [ $((LA_EPOCHS + RE_EPOCHS + RE2_EPOCHS + LA20_EPOCHS + LA20_RE_EPOCHS + SP_EPOCHS + SP2_EPOCHS)) -gt 0 ]; then
  $ASR prepare synthetic --vocabulary closed --out "$BIG" --hours "$BIG_HOURS" --seed 0
  TEST="$BIG"/test.jsonl
fi
ON_BIG=(--train "$BIG"/train.jsonl --val "$BIG"/dev.jsonl --set train.average_best=4)
warm_restart $CONFIG "$FINAL" "$STAGE3" "$LA_EPOCHS" 0.001 200 "${ON_BIG[@]}" --set $LA10
warm_restart $CONFIG "$FINAL" "$STAGE4" "$RE_EPOCHS" 0.0007 100 "${ON_BIG[@]}" --set $LA10
warm_restart $CONFIG "$FINAL" "$STAGE5" "$RE2_EPOCHS" 0.0005 100 "${ON_BIG[@]}" --set $LA10
warm_restart $CONFIG "$FINAL" "$STAGE6" "$LA20_EPOCHS" 0.0005 100 "${ON_BIG[@]}"
warm_restart $CONFIG "$FINAL" "$STAGE7" "$LA20_RE_EPOCHS" 0.0003 100 "${ON_BIG[@]}"
SPEED=(--set train.average_best=5 --set "augment.speed_factors=[0.9, 1.0, 1.1]")
warm_restart $CONFIG "$FINAL" "$STAGE8" "$SP_EPOCHS" 0.00015 100 "${ON_BIG[@]}" "${SPEED[@]}"
warm_restart $CONFIG "$FINAL" "$STAGE9" "$SP2_EPOCHS" 0.0001 100 "${ON_BIG[@]}" "${SPEED[@]}"
# Stage 10: pauses, noise and unheard words, on synth_en.sh's data/synth_mix
# (the open-vocabulary corpus + 1,000 closed sentences; run that recipe first).
MIX_EPOCHS=${MIX_EPOCHS:-3}
if [ "$MIX_EPOCHS" -gt 0 ]; then
  warm_restart configs/synth_en_streaming_open.yaml "$FINAL" runs/synth_en_streaming_mix \
    "$MIX_EPOCHS" 0.0005 100 --train data/synth_mix/train.jsonl --val data/synth_mix/dev.jsonl
  TEST=data/synth/test.jsonl
fi
# Stage 11: everyday sounds (clatter, alarms, traffic, machine) in the noise;
# data/noise_world as synth_en.sh's stage 9 makes it.
WORLD_EPOCHS=${WORLD_EPOCHS:-2}
if [ "$WORLD_EPOCHS" -gt 0 ]; then
  warm_restart configs/synth_en_streaming_open.yaml "$FINAL" runs/synth_en_streaming_world \
    "$WORLD_EPOCHS" 0.0002 50 --train data/synth_mix/train.jsonl --val data/synth_mix/dev.jsonl \
    --set augment.noise_dir=data/noise_world --set augment.noise_prob=0.5
  TEST=data/synth/test.jsonl
fi
# Stage 12: voices made from recordings: synth_en.sh's data/synth_voices (the
# mix + 1,000 sentences spoken by flite's voices; run its stage 10 first),
# same noise, lr 2e-4.
VOICES_EPOCHS=${VOICES_EPOCHS:-2}
if [ "$VOICES_EPOCHS" -gt 0 ]; then
  warm_restart configs/synth_en_streaming_open.yaml "$FINAL" runs/synth_en_streaming_voices \
    "$VOICES_EPOCHS" 0.0002 50 --train data/synth_voices/train.jsonl --val data/synth_mix/dev.jsonl \
    --set augment.noise_dir=data/noise_world --set augment.noise_prob=0.5
  TEST=data/synth/test.jsonl
fi
RUN=$FINAL
$ASR evaluate --model "$RUN" --manifest "$TEST" --out "$RUN/test"
$PY scripts/eval_streaming.py --model "$RUN" --manifest "$TEST" \
  --chunk-ms 100 --backend tflite --out "$RUN/test_streamed.json"
$PY scripts/eval_streaming.py --model "$RUN" --manifest "$TEST" \
  --chunk-ms 100 --backend tflite-int8 --out "$RUN/test_streamed_int8.json"
$PY scripts/pack_model.py "$RUN" asr/pretrained/synth-en-streaming \
  --check-manifest "$TEST"
