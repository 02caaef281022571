#!/usr/bin/env bash
# Trains the bundled `keywords` model: a Speech Commands style keyword
# classifier (zero..nine, _unknown_, _silence_), tested on a speaker it never
# heard. Resumable: rerun after an interruption (finished stages are redone
# quickly or skipped by the commands themselves).
#   bash scripts/recipes/keywords.sh [FSDD_ROOT] [HELD_OUT_SPEAKER] [SO762_DIR]
# Data (docs/keywords.md):
# - keywords: FSDD (Speech Commands layout, speakers george, jackson, lucas,
#   nicolas): every clip of HELD_OUT_SPEAKER (default george) is test, the
#   other three speakers' takes 5-9 dev, the rest train; plus synthetic digit
#   words (`asr prepare synthetic --texts digits`, voices split by family);
# - _unknown_: 1 s cuts of real read English with no digit word
#   (speechocean762, whole speakers held out for dev and test) and single
#   non-keyword words spoken by espeak-ng;
# - _silence_: 1 s crops of FSDD's _background_noise_, zeros, a noise floor.
# Training noise comes from `asr prepare noise` (configs/keywords.yaml).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=${1:-../shared/data/fsdd_speech_commands}
HELD=${2:-george}
SO762=${3:-../shared/data/speechocean762_train}
ASR=${ASR:-.venv/bin/asr}
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/keywords}

# 1. sources
$ASR prepare speech-commands --root "$ROOT" --out data/fsdd
$ASR prepare synthetic --texts digits --out data/synth_digits --hours 0.6 --seed 0
$ASR prepare noise --out data/noise
REAL=()
if [ -d "$SO762" ]; then
  $ASR prepare kaldi --dir "$SO762" --out data/so762 --dev-speakers 20 --seed 0
  REAL=(so762)
fi
# 2. hold out a whole FSDD speaker (and split speechocean762's dev speakers
#    into dev and test halves)
HELD="$HELD" $PY - <<'PY'
import os
from pathlib import Path

from asr.manifest import read_manifest, write_manifest

held = os.environ["HELD"]
out = Path("data/kw_sources")
speaker = lambda r: Path(r.audio_filepath).name.split("_nohash_")[0]  # noqa: E731
rows = {s: read_manifest(f"data/fsdd/{s}.jsonl") for s in ("train", "validation", "test")}
every = [r for s in rows.values() for r in s]
if held not in {speaker(r) for r in every}:
    raise SystemExit(f"no FSDD speaker {held!r}")
write_manifest(out / "fsdd_test.jsonl", [r for r in every if speaker(r) == held])
write_manifest(out / "fsdd_dev.jsonl", [r for r in rows["validation"] if speaker(r) != held])
train = rows["train"] + rows["test"]
write_manifest(out / "fsdd_train.jsonl", [r for r in train if speaker(r) != held])
if Path("data/so762/dev.jsonl").is_file():
    write_manifest(out / "so762_train.jsonl", read_manifest("data/so762/train.jsonl"))
    dev = read_manifest("data/so762/dev.jsonl")
    speakers = sorted({dict(r.extra)["speaker"] for r in dev})
    half = set(speakers[::2])
    write_manifest(out / "so762_dev.jsonl", [r for r in dev if dict(r.extra)["speaker"] in half])
    write_manifest(out / "so762_test.jsonl", [r for r in dev if dict(r.extra)["speaker"] not in half])
PY
# 3. the classifier's manifests
EXTRA_TRAIN=() EXTRA_DEV=() EXTRA_TEST=()
if [ ${#REAL[@]} -gt 0 ]; then
  EXTRA_TRAIN=(--train data/kw_sources/so762_train.jsonl)
  EXTRA_DEV=(--dev data/kw_sources/so762_dev.jsonl)
  EXTRA_TEST=(--test data/kw_sources/so762_test.jsonl)
fi
$ASR prepare keywords --out data/keywords --noise-dir "$ROOT/_background_noise_" \
  --train data/kw_sources/fsdd_train.jsonl --train data/synth_digits/train.jsonl \
  --dev data/kw_sources/fsdd_dev.jsonl --dev data/synth_digits/dev.jsonl \
  --test data/kw_sources/fsdd_test.jsonl \
  "${EXTRA_TRAIN[@]}" "${EXTRA_DEV[@]}" "${EXTRA_TEST[@]}" --seed 0
# 4. train, evaluate on the held-out speaker (and on unseen synthetic voices)
$ASR train --config configs/keywords.yaml --train data/keywords/train.jsonl \
  --val data/keywords/dev.jsonl --out "$RUN"
$ASR evaluate --model "$RUN" --manifest data/keywords/test.jsonl \
  --group-by source --out "$RUN/test"
$ASR evaluate --model "$RUN" --manifest data/synth_digits/test.jsonl \
  --out "$RUN/test_synth"
# 5. bundle
$PY scripts/pack_model.py "$RUN" asr/pretrained/keywords \
  --check-manifest data/keywords/test.jsonl
