# Sourced by the synth recipes: one warm-restart stage of a staged run.
#   warm_restart CONFIG FROM RUN EPOCHS [LR] [WARMUP] [ASR TRAIN ARGS...]
# Trains RUN from FROM's weights (`--init-from`) for EPOCHS under a fresh cosine
# from LR (default 1e-3) after WARMUP steps (default 200), passing any further
# arguments to `asr train`, and sets FINAL to the run to go on from: RUN, or
# FROM when EPOCHS is 0. Resumable like `asr train`.
warm_restart() {
  local config=$1 from=$2 run=$3 epochs=$4 lr=${5:-0.001} warmup=${6:-200}
  shift $(($# < 6 ? $# : 6))
  if [ "$epochs" -gt 0 ]; then
    $ASR train --config "$config" --init-from "$from" --epochs "$epochs" \
      --set train.learning_rate="$lr" --set train.warmup_steps="$warmup" \
      --out "$run" "$@"
    FINAL=$run
  else
    FINAL=$from
  fi
}
