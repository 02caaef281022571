# Sourced by the english recipes: the data of `english` and `english-streaming`
# (each step skips what exists). Needs SO762, ASR and PY.
$ASR prepare kaldi --dir "$SO762" --out data/so762 --dev-speakers 20 --seed 0
$ASR prepare synthetic --out data/synth_open --hours 3 --seed 1
$ASR prepare noise --out data/noise --seed 0 --count 4
$PY - <<'PY'
import random
from pathlib import Path
from asr.manifest import read_manifest, write_manifest
real = read_manifest("data/so762/train.jsonl")
synth = read_manifest("data/synth_open/train.jsonl")
random.Random(0).shuffle(synth)
Path("data/english").mkdir(exist_ok=True)
write_manifest("data/english/train.jsonl", real + synth[: len(real) // 2])
PY
$PY scripts/make_lm.py --manifest data/so762/train.jsonl --order 3 --vocabulary 50000 \
  --out data/so762/lm3.arpa

