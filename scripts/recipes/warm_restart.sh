# Sourced by the synth recipes: stage 2 of a two-stage run.
#   warm_restart CONFIG STAGE1 RUN FT_EPOCHS
# Trains RUN from STAGE1's weights (`--init-from`) for FT_EPOCHS under a fresh
# cosine from lr 1e-3 (warm-up 200), and sets FINAL to the run to evaluate:
# RUN, or STAGE1 when FT_EPOCHS is 0. Resumable like any `asr train`.
warm_restart() {
  local config=$1 stage1=$2 run=$3 epochs=$4
  if [ "$epochs" -gt 0 ]; then
    $ASR train --config "$config" --init-from "$stage1" --epochs "$epochs" \
      --set train.learning_rate=0.001 --set train.warmup_steps=200 --out "$run"
    FINAL=$run
  else
    FINAL=$stage1
  fi
}
