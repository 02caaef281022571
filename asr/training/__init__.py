"""Training: everything `asr train` runs, and nothing inference needs.

- `fit.py`: `fit(cfg, run_dir)`: builds or resumes a run, the optimiser and
  schedule, `--init-from`, distillation teachers, the run folder;
- `step.py`: `Trainer`, the distribution-safe train / validation step;
- `loss.py`: the CTC loss and the distillation loss;
- `pipeline.py`: the tf.data input pipeline (checks, decoding, augmentation,
  bucketing);
- `callbacks.py`: validation WER, best checkpoint, NaN guard, learning curve;
- `backup.py`: the resumable state (`backup/`): epoch-end, mid-epoch and
  on-signal checkpoints, resume with fallback past a damaged one;
- `averaging.py`: checkpoint averaging (N best epochs, `average_models`);
- `distribute.py`: tf.distribute strategy, cluster, batch and step split.

Models are loaded and saved through `asr.checkpoint`, never through the
inference modules (tests/test_layout.py checks it).
"""
