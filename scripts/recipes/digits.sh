#!/usr/bin/env bash
# Reproduces the bundled `digits` model from the repository and the shared FSDD
# corpus (Speech Commands layout). Resumable: rerun after an interruption.
#   bash scripts/recipes/digits.sh [FSDD_ROOT] [FT_EPOCHS]
# Stage 1: 25 epochs on FSDD (4 speakers). Stage 2: FT_EPOCHS (6) more from
# stage 1's weights on FSDD mixed with synthetic digit words from many espeak-ng
# voices (`asr prepare synthetic --texts digits`; voices of the demo and of the
# synthetic dev/test splits are never trained on), so the model holds on voices
# it never heard. FT_EPOCHS=0 stops after stage 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=${1:-../shared/data/fsdd_speech_commands}
FT_EPOCHS=${2:-6}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
NOISE="augment.noise_dir=$ROOT/_background_noise_"
$ASR prepare speech-commands --root "$ROOT" --out data/fsdd
$ASR train --config configs/speech_commands.yaml \
  --train data/fsdd/train.jsonl --val data/fsdd/validation.jsonl \
  --set "$NOISE" --set augment.noise_prob=0.5 --out runs/digits
RUN=runs/digits
if [ "$FT_EPOCHS" -gt 0 ]; then
  $ASR prepare synthetic --texts digits --out data/synth_digits --hours 0.6 --seed 0
  $PY - <<'PY'
from pathlib import Path
from asr.manifest import read_manifest, write_manifest
Path("data/digits_mix").mkdir(exist_ok=True)
for split, fsdd, synth in (("train", "train", "train"), ("validation", "validation", "dev")):
    rows = read_manifest(f"data/fsdd/{fsdd}.jsonl")
    rows += read_manifest(f"data/synth_digits/{synth}.jsonl")
    write_manifest(f"data/digits_mix/{split}.jsonl", rows)
PY
  $ASR train --config configs/speech_commands.yaml --init-from runs/digits \
    --train data/digits_mix/train.jsonl --val data/digits_mix/validation.jsonl \
    --set "$NOISE" --set augment.noise_prob=0.5 --epochs "$FT_EPOCHS" \
    --set train.learning_rate=0.001 --set train.warmup_steps=100 --out runs/digits_mix
  RUN=runs/digits_mix
  $ASR evaluate --model "$RUN" --manifest data/synth_digits/test.jsonl \
    --out "$RUN/test_synth"
fi
$ASR evaluate --model "$RUN" --manifest data/fsdd/test.jsonl --out "$RUN/test"
$PY scripts/pack_model.py "$RUN" asr/pretrained/digits \
  --check-manifest data/fsdd/test.jsonl
