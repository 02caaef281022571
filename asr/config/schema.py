"""The configuration tree: frozen dataclasses with the defaults.

YAML files in `configs/` and `--set key=value` only override these defaults
(`asr.config.loading`); `asr.config.checks.validate` checks the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A config file or override names an unknown key or has a bad value."""


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel front end (see `asr.features`)."""

    sample_rate: int = 16000
    win_length: int = 400  # 25 ms; also the FFT size, as in librosa's n_fft
    hop_length: int = 160  # 10 ms
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    log_floor: float = 1e-6


@dataclass(frozen=True)
class AugmentConfig:
    """Training-only augmentation. Waveform options run in the input pipeline
    (`asr.augment.waveform_augmenter`, in this order: trim, speed, VTLP, reverb,
    gain, time shift, silence padding, noise, noise floor, band limit),
    SpecAugment runs inside the model after the features. Every waveform
    option is off by default; `configs/augment_real.yaml` turns them on for
    real recordings.
    Probabilities are per utterance; ranges are [low, high], drawn uniformly."""

    spec_time_masks: int = 2
    spec_time_width: int = 40  # frames, at most
    spec_freq_masks: int = 2
    spec_freq_width: int = 15  # mel bands, at most
    # Audio files (any length, any number; `asr prepare noise` makes some):
    # one is picked per utterance, at a random offset, tiled if short, and
    # mixed at an SNR in noise_snr_db against the clip before padding.
    noise_dir: str | None = None
    noise_prob: float = 0.0
    noise_snr_db: tuple[float, float] = (5.0, 30.0)
    # Two sources at once (babble over traffic, music over a fan): with this
    # probability a second excerpt (any file, its own offset) joins the first,
    # its power noise_mix_db dB relative to the first's; the sum is then
    # mixed at the drawn SNR like a single excerpt.
    noise_mix_prob: float = 0.0
    noise_mix_db: tuple[float, float] = (-10.0, 0.0)
    speed_factors: tuple[float, ...] = ()  # e.g. (0.9, 1.0, 1.1)
    # Trim: the clip cut to its speech (10 ms frames within trim_db of its
    # loudest) plus a margin drawn from trim_margin_ms at each end, so that
    # speech starting at the first sample (a tightly cut clip, a
    # voice-activity segment) is not new; padding may add silence back.
    trim_prob: float = 0.0
    trim_margin_ms: tuple[float, float] = (0.0, 50.0)
    trim_db: float = 40.0
    # False: only clips that get no added noise are trimmed (at trim_prob), so
    # a noisy clip keeps its noise-only lead-in and tail (docs/robustness.md).
    trim_noisy: bool = True
    # Vocal-tract-length perturbation: all frequencies times a factor drawn
    # from vtlp_range (> 1 is higher), duration unchanged.
    vtlp_prob: float = 0.0
    vtlp_range: tuple[float, float] = (0.9, 1.1)
    # Room reverberation: synthetic responses, RT60 (s, 60 dB decay) and
    # direct-to-reverberant ratio (dB) drawn from these ranges.
    reverb_prob: float = 0.0
    rt60_range: tuple[float, float] = (0.2, 0.8)
    reverb_drr_db: tuple[float, float] = (0.0, 10.0)
    time_shift_ms: float = 0.0
    gain_db: float = 0.0  # random gain in [-gain_db, +gain_db]
    # Band limit (a telephone line, an 8 kHz recording, a cheap microphone):
    # everything above a cutoff drawn from bandwidth_hz removed, last, over
    # the noise too, as the recording channel would.
    bandwidth_prob: float = 0.0
    bandwidth_hz: tuple[float, float] = (3400.0, 8000.0)
    # Silence (digital zeros) before and after, each of a length drawn from
    # [0, pad_silence_max_s] seconds; then noise and floor cover it.
    pad_silence_prob: float = 0.0
    pad_silence_max_s: float = 1.0
    # White or pink Gaussian noise over the whole clip at an RMS level drawn
    # from noise_floor_dbfs (dB relative to full scale 1.0).
    noise_floor_prob: float = 0.0
    noise_floor_dbfs: tuple[float, float] = (-80.0, -45.0)


@dataclass(frozen=True)
class DataConfig:
    train_manifest: str | None = None
    val_manifest: str | None = None
    test_manifest: str | None = None
    batch_size: int = 16
    max_duration: float = 30.0  # seconds; longer utterances are skipped and reported
    num_buckets: int = 8
    shuffle_buffer: int = 2048


@dataclass(frozen=True)
class ModelConfig:
    head: str = "ctc"  # "ctc" (transcription) or "classifier" (many-to-one keywords)
    classes: tuple[str, ...] = ()  # classifier labels; empty: taken from the data
    conv_filters: tuple[int, ...] = (32, 32)
    conv_kernels: tuple[tuple[int, int], ...] = ((11, 41), (11, 21))  # (time, freq)
    conv_strides: tuple[tuple[int, int], ...] = ((2, 2), (1, 2))
    conv_activation: str = "relu"  # "relu" or "clipped_relu" (min(relu, 20))
    causal: bool = False  # convolutions see no future frames
    rnn_cell: str = "lstm"  # "lstm", "gru" or "simple_rnn"
    # "fused" (asr.rnn.layer.FusedRNN: faster on CPU) or "keras" (keras.layers.LSTM
    # etc.: cuDNN on a GPU). Same function and weights; asr.rnn.convert converts.
    rnn_impl: str = "fused"
    rnn_units: int = 256
    rnn_layers: int = 3
    bidirectional: bool = True  # False gives the streaming model
    dropout: float = 0.1  # between recurrent layers
    rnn_norm: str = "none"  # "none", "batch" or "layer", between recurrent layers
    # Future output frames each output sees, after the recurrent layers
    # (DeepSpeech2's lookahead convolution); for forward-only models: the
    # streaming latency grows by lookahead * the output frame (20 ms).
    lookahead: int = 0
    initializer: str = "glorot_uniform"  # "glorot_uniform", "he_normal", "orthogonal"
    l1: float = 0.0
    l2: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    optimizer: str = "adamw"  # "adam" or "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    schedule: str = "cosine"  # "cosine", "constant" or "plateau"
    clip_norm: float = 5.0
    early_stopping_patience: int = 0  # epochs; 0 disables
    mixed_precision: bool = False
    seed: int = 1234
    init_from: str | None = None
    freeze_frontend: bool = False
    nan_policy: str = "stop"  # "stop" or "skip"
    strategy: str = "default"  # "default", "mirrored" or "multiworker"
    steps_per_epoch: int | None = None
    # Mid-epoch checkpoints in backup/ (besides the one at every epoch's end):
    # every N steps and/or every N minutes of training; 0 turns either off.
    # A rerun resumes at the last one, with the same batches to come.
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 30.0
    # A wall-time budget: training stops after the step during which this
    # many minutes (of this command's training) were spent, with a checkpoint
    # to resume from; 0: no budget. See asr.training.callbacks.TimeBudget.
    max_minutes: float = 0.0
    val_max_utterances: int = 500  # WER each epoch on at most this many
    # > 1: keep the weights of the N best epochs (validation WER) and, at the
    # end, average them; the average becomes model.keras if its WER is better.
    average_best: int = 0
    # Knowledge distillation: a teacher model (anything `load_model` takes)
    # whose per-frame posteriors the student also matches, KL(teacher ||
    # student) at `distill_temperature`, weighted by `distill_weight`, with the
    # student's frame t against the teacher's frame t - `distill_shift` (a
    # causal student emits later than a bidirectional teacher:
    # scripts/spike_offset.py measures by how much).
    distill_from: str | None = None
    distill_weight: float = 1.0
    distill_shift: int = 0
    distill_temperature: float = 1.0


@dataclass(frozen=True)
class StreamingConfig:
    chunk_ms: int = 100
    endpoint_silence_ms: int = 800


@dataclass(frozen=True)
class ExperimentConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)


_CHOICES = {
    "model.head": ("ctc", "classifier"),
    "model.conv_activation": ("relu", "clipped_relu"),
    "model.rnn_cell": ("lstm", "gru", "simple_rnn"),
    "model.rnn_impl": ("fused", "keras"),
    "model.rnn_norm": ("none", "batch", "layer"),
    "model.initializer": ("glorot_uniform", "he_normal", "orthogonal"),
    "train.optimizer": ("adam", "adamw"),
    "train.schedule": ("cosine", "constant", "plateau"),
    "train.nan_policy": ("stop", "skip"),
    "train.strategy": ("default", "mirrored", "multiworker"),
}
