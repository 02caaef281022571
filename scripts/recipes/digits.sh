#!/usr/bin/env bash
# The bundled `digits` model: DS2-small fine-tuned from `english` (real voices)
# for spoken digit words, on FSDD + one-word synthetic digits from espeak-ng
# voices + speechocean762's digit strings, under the augmentation for real
# recordings (configs/digits.yaml). Model card: asr/pretrained/digits.
# Resumable: rerun the same command after an interruption (finished epochs and
# folds are kept).
#   bash scripts/recipes/digits.sh [FSDD_ROOT] [SO762_DIR]
# Stage 5 and part 2 speak digits with flite and festival: apt-get install flite festival
# festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
# 1. The model: 3 epochs from `english` at lr 5e-4, 3 at 3e-4, 3 at 2e-4 (the
#    band limit and more noise from stage 3 on: they are in the config now),
#    3 more at 2e-4 with babble of real talkers (speechocean762's training
#    speakers, scripts/make_babble.py) among the noises (stage 4), 3 more at
#    2e-4 with flite's and festival's digit voices, a stronger band limit and
#    trimming (stage 5);
#    all four FSDD speakers' train takes + the extra data, validated on their
#    validation takes + synthetic dev; the best validation epoch is packed with
#    a digit-word bigram LM (lm.arpa) from the training transcripts.
# 2. Leave one FSDD speaker out (`asr crossval --folds 4`): a base model on the
#    extra data alone (no FSDD voice) with flite's and festival's digit voices
#    added, then per fold 2 epochs on three FSDD speakers + that data, tested
#    on all 500 clips of the fourth, whom it never heard (greedy, and beam + an
#    LM from the extra data's text).
set -euo pipefail
cd "$(dirname "$0")/../.."
FSDD=${1:-../shared/data/fsdd_speech_commands}
SO762=${2:-../shared/data/speechocean762_train}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}

$ASR prepare speech-commands --root "$FSDD" --out data/fsdd
$ASR prepare synthetic --texts digits --out data/synth_digits --hours 0.6 --seed 0
$ASR prepare noise --out data/noise --seed 0 --count 4
[ -f data/so762/train.jsonl ] ||
  $ASR prepare kaldi --dir "$SO762" --out data/so762 --dev-speakers 20 --seed 0
$PY - <<'PY'
from pathlib import Path
from asr.manifest import read_manifest, write_manifest
DIGITS = set("zero one two three four five six seven eight nine oh".split())
so762 = [r for r in read_manifest("data/so762/train.jsonl")
         if set(r.text.split()) <= DIGITS]
extra = read_manifest("data/synth_digits/train.jsonl") + so762
Path("data/digits").mkdir(exist_ok=True)
write_manifest("data/digits/extra.jsonl", extra)
write_manifest("data/digits/train.jsonl", read_manifest("data/fsdd/train.jsonl") + extra)
write_manifest("data/digits/validation.jsonl",
               read_manifest("data/fsdd/validation.jsonl")
               + read_manifest("data/synth_digits/dev.jsonl"))
write_manifest("data/digits/so762_dev_digits.jsonl",
               [r for r in read_manifest("data/so762/dev.jsonl")
                if set(r.text.split()) <= DIGITS])
PY

$PY scripts/make_lm.py --manifest data/digits/train.jsonl --order 2 --out data/digits/lm.arpa
$PY scripts/make_lm.py --manifest data/digits/extra.jsonl --order 2 --out data/digits/lm_extra.arpa

# stages 1 and 2 ran before the band limit and the wider noise settings
$ASR train --config configs/digits.yaml --out runs/digits_all \
  --set augment.bandwidth_prob=0 --set augment.noise_prob=0.4 --set "augment.noise_snr_db=[5, 30]"
$ASR train --config configs/digits.yaml --init-from runs/digits_all --epochs 3 \
  --set train.learning_rate=0.0003 --set train.warmup_steps=20 --out runs/digits_s2 \
  --set augment.bandwidth_prob=0 --set augment.noise_prob=0.4 --set "augment.noise_snr_db=[5, 30]"
$ASR train --config configs/digits.yaml --init-from runs/digits_s2 --epochs 3 \
  --set train.learning_rate=0.0002 --set train.warmup_steps=20 --out runs/digits_s3
mkdir -p data/noise_real && cp data/noise/*.wav data/noise_real/
for s in 0 1 2 3 4 5 6 7; do  # babble of the speechocean762 training speakers
  f=data/noise_real/real_babble_so762train_0$s.wav
  [ -f $f ] || $PY scripts/make_babble.py --manifest data/so762/train.jsonl --out $f --seed 1$s
done
$ASR train --config configs/digits.yaml --init-from runs/digits_s3 --epochs 3 \
  --set train.learning_rate=0.0002 --set train.warmup_steps=20 \
  --set augment.noise_dir=data/noise_real --set augment.noise_prob=0.6 --out runs/digits_s4
# stage 5: flite's 5 and festival's 3 voices saying digits join the extra
# data; the band limit on half the clips (3.4-5 kHz: FSDD is 8 kHz audio) and
# trimming on half (cut to the speech plus 0-50 ms: FSDD's clips start at
# the word's first sample, which no other training clip did)
[ -f data/synth_digits_flite/train.jsonl ] ||
  $ASR prepare synthetic --texts digits --engine flite --out data/synth_digits_flite --hours 0.3 --seed 3
$PY scripts/respeak.py --manifest data/synth_digits/train.jsonl --out data/digits_festival --limit 900 \
  --voices festival:voice_kal_diphone,festival:voice_ked_diphone,festival:voice_cmu_us_slt_arctic_hts
$PY - <<'PY'
from asr.manifest import read_manifest, write_manifest
write_manifest("data/digits/extra_voices.jsonl",
               read_manifest("data/digits/extra.jsonl")
               + read_manifest("data/synth_digits_flite/train.jsonl")
               + read_manifest("data/digits_festival/test.jsonl"))
write_manifest("data/digits/train_voices.jsonl",
               read_manifest("data/fsdd/train.jsonl")
               + read_manifest("data/digits/extra_voices.jsonl"))
write_manifest("data/digits/validation_voices.jsonl",
               read_manifest("data/synth_digits/dev.jsonl")
               + read_manifest("data/synth_digits_flite/dev.jsonl"))
write_manifest("data/digits/validation_all_voices.jsonl",
               read_manifest("data/fsdd/validation.jsonl")
               + read_manifest("data/digits/validation_voices.jsonl"))
PY
LOSO=(--set augment.noise_dir=data/noise_real --set augment.noise_prob=0.6
      --set augment.bandwidth_prob=0.5 --set "augment.bandwidth_hz=[3400, 5000]"
      --set augment.trim_prob=0.5 --set "augment.trim_margin_ms=[0, 50]")
$PY scripts/make_lm.py --manifest data/digits/train_voices.jsonl --order 2 \
  --out data/digits/lm_voices.arpa
$ASR train --config configs/digits.yaml --init-from runs/digits_s4 --epochs 3 \
  --set train.learning_rate=0.0002 --set train.warmup_steps=20 "${LOSO[@]}" \
  --train data/digits/train_voices.jsonl --val data/digits/validation_all_voices.jsonl \
  --out runs/digits_s5
# Stage 6: 3 more epochs, noise at 0-20 dB SNR (was 0-30) and trimming only of
# clips that get no added noise (as synth_en.sh stage 12). Stage 7 (the bundled
# model): 3 more, with two noise sources at once on half the noisy clips (as
# synth_en.sh stage 13).
LATE=(--set "augment.noise_snr_db=[0.0, 20.0]" --set augment.trim_noisy=false)
$ASR train --config configs/digits.yaml --init-from runs/digits_s5 --epochs 3 \
  --set train.learning_rate=0.0002 --set train.warmup_steps=20 "${LOSO[@]}" "${LATE[@]}" \
  --train data/digits/train_voices.jsonl --val data/digits/validation_all_voices.jsonl \
  --out runs/digits_s6
LATE+=(--set augment.noise_mix_prob=0.5)
$ASR train --config configs/digits.yaml --init-from runs/digits_s6 --epochs 3 \
  --set train.learning_rate=0.0002 --set train.warmup_steps=20 "${LOSO[@]}" "${LATE[@]}" \
  --train data/digits/train_voices.jsonl --val data/digits/validation_all_voices.jsonl \
  --out runs/digits_s7
RUN=runs/digits_s7
LM=data/digits/lm_voices.arpa
$ASR evaluate --model "$RUN" --manifest data/synth_digits_flite/test.jsonl --out "$RUN/test_flite"
$ASR evaluate --model "$RUN" --manifest data/fsdd/test.jsonl --out "$RUN/test"
$ASR evaluate --model "$RUN" --manifest data/fsdd/test.jsonl --decoder beam --lm $LM \
  --out "$RUN/test_lm"
$ASR evaluate --model "$RUN" --manifest data/fsdd/test.jsonl --pad-silence 1 \
  --out "$RUN/test_pad1"
$ASR evaluate --model "$RUN" --manifest data/fsdd/test.jsonl --pad-silence 1 \
  --decoder beam --lm $LM --out "$RUN/test_pad1_lm"
$ASR evaluate --model "$RUN" --manifest data/synth_digits/test.jsonl \
  --out "$RUN/test_synth"
$ASR evaluate --model "$RUN" --manifest data/digits/so762_dev_digits.jsonl \
  --out "$RUN/so762_dev"
for s in 0 1; do  # babble for evaluation: FSDD takes; the held-out speechocean762 readers
  [ -f data/noise_eval/real_babble_0$s.wav ] || $PY scripts/make_babble.py \
    --speech-dir "$FSDD" --out data/noise_eval/real_babble_0$s.wav --seed $s
  [ -f data/noise_eval_so762/real_babble_0$s.wav ] || $PY scripts/make_babble.py \
    --manifest data/so762/dev.jsonl --out data/noise_eval_so762/real_babble_0$s.wav --seed $s
done
$ASR evaluate --model "$RUN" --manifest data/fsdd/test.jsonl --noise data/noise_eval \
  --snr clean,20,10,5 --out "$RUN/test_babble"
$ASR evaluate --model "$RUN" --manifest data/fsdd/test.jsonl --noise data/noise_eval_so762 \
  --snr clean,10 --out "$RUN/test_babble_so762"
cp $LM "$RUN/lm.arpa"
$PY scripts/pack_model.py "$RUN" asr/pretrained/digits --check-manifest data/fsdd/test.jsonl

# Leave one FSDD speaker out (4 folds, each trained without its test speaker),
# with stage 5's data and augmentation: a base model on the extra data alone
# (no FSDD voice), then 2 epochs per fold on three FSDD speakers + that data;
# again with stage 7's augmentation (runs/digits_loso_s7), from the same base
$PY scripts/make_lm.py --manifest data/digits/extra_voices.jsonl --order 2 \
  --out data/digits/lm_extra_voices.arpa
$ASR train --config configs/digits.yaml --train data/digits/extra_voices.jsonl \
  --val data/digits/validation_voices.jsonl --epochs 2 "${LOSO[@]}" --out runs/digits_base_trim
$ASR evaluate --model runs/digits_base_trim --manifest data/fsdd/test.jsonl \
  --out runs/digits_base_trim/fsdd_test
$ASR crossval --config configs/digits.yaml --folds 4 --group-by speaker \
  --manifest data/fsdd/train.jsonl --manifest data/fsdd/validation.jsonl \
  --manifest data/fsdd/test.jsonl --extra-train data/digits/extra_voices.jsonl \
  --set train.init_from=runs/digits_base_trim "${LOSO[@]}" --epochs 2 --out runs/digits_loso_trim
for k in 0 1 2 3; do
  $ASR evaluate --model runs/digits_loso_trim/fold_$k --manifest runs/digits_loso_trim/fold_$k/test.jsonl \
    --decoder beam --lm data/digits/lm_extra_voices.arpa --out runs/digits_loso_trim/fold_$k/test_lm
done
$ASR crossval --config configs/digits.yaml --folds 4 --group-by speaker \
  --manifest data/fsdd/train.jsonl --manifest data/fsdd/validation.jsonl \
  --manifest data/fsdd/test.jsonl --extra-train data/digits/extra_voices.jsonl \
  --set train.init_from=runs/digits_base_trim "${LOSO[@]}" "${LATE[@]}" --epochs 2 \
  --out runs/digits_loso_s7
for k in 0 1 2 3; do
  $ASR evaluate --model runs/digits_loso_s7/fold_$k --manifest runs/digits_loso_s7/fold_$k/test.jsonl \
    --decoder beam --lm data/digits/lm_extra_voices.arpa --out runs/digits_loso_s7/fold_$k/test_lm
done
# Two folds again with trimming of every clip that gets no noise (trim_prob
# 1.0, 40 % of all clips; runs/digits_loso8_*), trained by hand on the fold's
# three speakers + the extra data, the held-out speaker as validation
$PY - <<'PY'
from asr.manifest import read_manifest, write_manifest
rows = [r for s in ("train", "validation", "test") for r in read_manifest(f"data/fsdd/{s}.jsonl")]
extra = read_manifest("data/digits/extra_voices.jsonl")
spk = lambda r: r.audio_filepath.rsplit("/", 1)[-1].split("_")[0]
for who in ("nicolas", "george"):
    write_manifest(f"data/digits/loso_{who}_test.jsonl", [r for r in rows if spk(r) == who])
    write_manifest(f"data/digits/loso_{who}_train.jsonl", [r for r in rows if spk(r) != who] + extra)
PY
for who in nicolas george; do
  R=runs/digits_loso8_$who
  $ASR train --config configs/digits.yaml --train data/digits/loso_${who}_train.jsonl \
    --val data/digits/loso_${who}_test.jsonl --set train.init_from=runs/digits_base_trim \
    "${LOSO[@]}" "${LATE[@]}" --set augment.trim_prob=1.0 --epochs 2 --out $R
  for e in 0 0.25; do
    $ASR evaluate --model $R/last.keras --manifest data/digits/loso_${who}_test.jsonl \
      --edge $e --out $R/test_e$e
    $ASR evaluate --model $R/last.keras --manifest data/digits/loso_${who}_test.jsonl \
      --edge $e --decoder beam --lm data/digits/lm_extra_voices.arpa --out $R/test_lm_e$e
  done
done
