"""Speed and memory of the toolkit on this machine, as ratios to references
measured in the same run (these machines are shared and noisy).

    python scripts/benchmark.py --quick          # ~10 min on 2 cores
    python scripts/benchmark.py                  # full run
    python scripts/benchmark.py --only streaming # rerun one section, merged in

Writes benchmarks/results.json and benchmarks/results.md (the README's table).
Keys: matmul_gflops, features_x_librosa, train_audio_s_per_s,
train_flop_utilisation, offline_rtf, stream_chunk_ms_p50/_p95, greedy_decode_ms,
beam_decode_ms, beam_lm_decode_ms, transcribe_1h_peak_rss_mb (+ _s),
batch_audio_h_per_cpu_h (+ _one_by_one, batch_x_one_by_one_cpu),
soak_rss_end_x_start, soak_chunk_ms_p50_end_x_start,
server_soak_rss_end_x_start, server_soak_partial_ms_p50_end_x_start, and for
memory train_peak_rss_mb, train_rss_growth.

What each run does (full / --quick):
- matmul peak, best of 10 / 5, at the start and the end;
- features: 40 / 15 interleaved rounds on 60 s of audio;
- train: ds2_small on 16 x 10 s, the FusedRNN model (`model.rnn_impl=fused`,
  the default) and the stock Keras one (`keras`) side by side in this
  process: trace + 1 warm-up step / the trace step each, then 10 / 3 rounds of
  one step each in shuffled order (`train_fused_x_keras` = ratio of the
  medians); then a child process runs 3 / 1 fused steps on the same batch for
  `train_peak_rss_mb` (its VmHWM); and the second conv's kernel gradient,
  oneDNN vs `asr.conv`'s XLA-compiled one, 10 / 5 interleaved rounds
  (`conv_kernel_grad_xla_x_onednn`); and the CTC loss's gradient, ours
  (TensorFlow's C++ kernel) vs `keras.ops.ctc_loss`, 10 / 3 rounds
  (`ctc_sparse_x_dense`);
- leak: a child process runs `--leak-steps` (1000 / 150) fused steps on
  16 x 0.5 s clips and reads its current RSS (/proc/self/statm) after step 100
  and after the last (`train_rss_growth`, goal <= 0.05);
- inference: offline 10 s, 15 / 5 interleaved rounds of the default precision
  (bfloat16 where the CPU has it), float32 and the plain graph; decoders
  100 / 20 times on 8 s of logits;
- streaming, in a child process: 1000 / 100 chunks of 100 ms through each
  step backend, the TFLite interpreter (`stream_chunk_ms_*`, what `asr stream`
  uses), the same with int8 weights (`*_int8`) and the TensorFlow graph
  (`*_tf`), interleaved (`stream_tflite_x_tf`, `stream_int8_x_tflite`: ratios
  of p50); then the algorithmic latency (chunk + look-ahead), finalize()'s
  time and the endpointed final's delay;
- transcribe: 1 h / 10 min of synthetic audio in a child process;
- batch, in a child process: `asr transcribe DIR` on 48 espeak-ng files of
  2-12 s with the bundled synth-en model, its batches (up to 16 files / 160 s
  per call) against one file per call, alternating 4 / 2 times: audio hours
  per CPU hour and per wall hour, `batch_x_one_by_one_cpu` / `_wall`;
- soak, in a child process: one `StreamingRecognizer` (synth-en-streaming,
  TFLite) fed 1 h / 10 min of 4 s speech + 1 s silence in 100 ms chunks,
  through an endpoint every 5 s: RSS and chunk latency p50/p95 over the first
  and the last 5 min, and their ratios (end / start: flat is 1);
- server (`--only server`): N WebSocket clients of a `ServerThread` in this
  process, N doubling until the partials' p95 latency passes 300 ms;
- server_soak: `asr serve` in a child process and 20 WebSocket clients here,
  each streaming the soak's speech and pauses in 100 ms chunks at real time
  for 10 / 2 min: the server's RSS (every 10 s) and the partials' latency
  p50/p95 over the first and the last 2 min / 30 s, and their ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# numpy's OpenBLAS kernel. The PyTorch reference unsets OPENBLAS_CORETYPE /
# OPENBLAS_L2_SIZE because the override slows numpy 2.x there; but the numpy
# 1.26 wheel that pyctcdecode's pin (numpy<2) installs here does not know this
# CPU and, with the variable unset, falls back to its Prescott kernel (~7x
# slower). So each candidate setting is timed in a child and the fastest is
# used here, before numpy loads: librosa, the features' reference, gets
# numpy's best.
_MATMUL = """
import time, numpy as np
a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
b = a.copy(); a @ b
best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter())
           for _ in range({n}))
try:
    from threadpoolctl import threadpool_info
    core = ",".join(i.get("architecture") or "?" for i in threadpool_info())
except ImportError:
    core = "?"
print(2 * 2048**3 / best / 1e9, core)
"""
_TF_MATMUL = """
import os, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
a = tf.random.normal((2048, 2048)); tf.matmul(a, a).numpy()
best = float("inf")
for _ in range({n}):
    t0 = time.perf_counter(); tf.matmul(a, a).numpy()
    best = min(best, time.perf_counter() - t0)
print(2 * 2048**3 / best / 1e9)
"""
_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _child(code: str, env: dict) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def _numpy_env(coretype: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _BLAS_VARS}
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(os.cpu_count() or 2)
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def _pick_numpy_blas() -> dict:
    """Times numpy's matmul with OPENBLAS_CORETYPE unset, as inherited, and
    empty (OpenBLAS's own detection); returns the best as
    {"coretype", "gflops", "core", "tried"} and sets it in os.environ."""
    candidates = [None, ""]
    inherited = os.environ.get("OPENBLAS_CORETYPE")
    if inherited:
        candidates.append(inherited)
    tried = {}
    for c in candidates:
        gflops, core = _child(_MATMUL.format(n=3), _numpy_env(c))
        tried["unset" if c is None else c or "empty"] = [float(gflops), core]
    best = max(tried, key=lambda k: tried[k][0])
    for var in _BLAS_VARS:
        os.environ.pop(var, None)
    if best != "unset":
        os.environ["OPENBLAS_CORETYPE"] = "" if best == "empty" else best
    return {"coretype": best, "core": tried[best][1], "tried": tried}


NUMPY_BLAS = _pick_numpy_blas() if __name__ == "__main__" else None

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr.cpu import cpu_info  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# -- machine peak -----------------------------------------------------------------
def matmul_gflops(repeats: int) -> dict:
    """fp32 2048^2 matmul peak, best of `repeats`, in clean children: numpy
    (with the OpenBLAS setting picked at start-up) and TensorFlow."""
    env = _numpy_env(os.environ.get("OPENBLAS_CORETYPE"))  # as picked at start-up
    numpy_gflops = float(_child(_MATMUL.format(n=repeats), env)[0])
    tf_gflops = float(_child(_TF_MATMUL.format(n=repeats), dict(os.environ))[0])
    return {"numpy": numpy_gflops, "tf": tf_gflops}


def interleaved_times(fns: dict, rounds: int, warmup: int = 2) -> dict:
    """Seconds per call of each of `fns`, over `rounds` rounds in which all
    run back to back, so they see the same load (here it drifts 2x within
    seconds: blocks of repeats compare different loads). The order is
    shuffled every round: TF right after librosa runs ~1.5x slower (its
    threads asleep, OpenBLAS's spinning), so a fixed order is biased.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    times = {name: [] for name in names}
    order = np.random.default_rng(0)
    for _ in range(rounds):
        for i in order.permutation(len(names)):
            t0 = time.perf_counter()
            fns[names[i]]()
            times[names[i]].append(time.perf_counter() - t0)
    return {name: np.array(t) for name, t in times.items()}


# -- features -----------------------------------------------------------------------
def bench_features(quick: bool) -> dict:
    """Log-mel of 60 s of audio: `LogMel.frames` against librosa.

    `features_x_librosa` is the median over rounds of librosa's time / ours in
    the same round, `_q25`/`_q75` its quartiles (the noise). The breakdown,
    `features_prefix_x_librosa`, gives the same ratio for the layer's graph cut
    after each stage (frame and window, rfft, power, mel, log): differences of
    medians are too noisy on a shared machine. `features_floor_x_librosa` is the
    prefix up to the rfft, which any exact TF implementation has to run, and
    `features_xla_x_librosa` the layer under `jit_compile`, for the record: one
    fixed shape compiled once, whereas the layer sees a new padded length at
    nearly every batch and XLA compiles each (~0.4 s), so it does not use it.
    """
    import librosa
    import tensorflow as tf

    from asr.config import FeatureConfig
    from asr.features import LogMel

    seconds = 60
    y = (0.1 * np.random.default_rng(0).standard_normal(16000 * seconds)).astype(
        np.float32
    )
    reps = 15 if quick else 40

    def lib():
        mel = librosa.feature.melspectrogram(
            y=y, sr=16000, n_fft=400, hop_length=160, n_mels=80, center=False
        )
        return np.log(mel + 1e-6)

    layer = LogMel.from_feature_config(FeatureConfig())
    cfg = layer.cfg
    spec = [tf.TensorSpec([1, None], tf.float32)]
    yt = tf.constant(y[None])

    def frame_window(a):
        return tf.signal.frame(a, cfg.win_length, cfg.hop_length) * layer._window

    def rfft(a):
        return tf.signal.rfft(frame_window(a), fft_length=[cfg.win_length])

    def power(a):
        s = rfft(a)
        return tf.math.square(tf.math.real(s)) + tf.math.square(tf.math.imag(s))

    def mel(a):
        return tf.tensordot(power(a), layer._mel, axes=1)

    prefixes = {  # the graph up to and including each stage
        name: tf.function(f, input_signature=spec)
        for name, f in [
            ("frame_window", frame_window),
            ("rfft", rfft),
            ("power", power),
            ("mel", mel),
            ("log", layer.frames),
        ]
    }
    ours = prefixes["log"]
    xla = tf.function(layer.frames, jit_compile=True)
    np.testing.assert_allclose(ours(yt).numpy()[0], lib().T, atol=1e-4)
    np.testing.assert_allclose(xla(yt).numpy(), ours(yt).numpy(), atol=1e-4)

    def run(f, fetch=True):  # prefixes' big outputs stay in TF: no copy
        return (lambda: f(yt).numpy()) if fetch else (lambda: f(yt))

    fns = {"librosa": lib, "ours": run(ours), "xla": run(xla)}
    fns.update({name: run(f, fetch=False) for name, f in prefixes.items()})
    t = interleaved_times(fns, reps)

    def x_librosa(name):
        return float(np.median(t["librosa"] / t[name]))

    ratio = t["librosa"] / t["ours"]
    return {
        "librosa_logmel_x_realtime": seconds / float(np.median(t["librosa"])),
        "logmel_x_realtime": seconds / float(np.median(t["ours"])),
        "features_x_librosa": float(np.median(ratio)),
        "features_x_librosa_q25": float(np.percentile(ratio, 25)),
        "features_x_librosa_q75": float(np.percentile(ratio, 75)),
        "features_floor_x_librosa": x_librosa("rfft"),
        "features_xla_x_librosa": x_librosa("xla"),
        "features_prefix_x_librosa": {name: x_librosa(name) for name in prefixes},
    }


# -- training ------------------------------------------------------------------------
def train_flops_per_audio_second(cfg) -> float:
    """Analytic training FLOPs (3 x forward, 2 x MACs) per second of audio."""
    m, f = cfg.model, cfg.features
    frames = 100.0  # feature frames per second
    t, freq, cin = frames, f.n_mels, 1
    forward = 0.0
    for filters, (kt, kf), (st, sf) in zip(
        m.conv_filters, m.conv_kernels, m.conv_strides
    ):
        t, freq = t / st, -(-freq // sf)
        forward += 2 * t * freq * filters * kt * kf * cin
        cin = filters
    width = freq * cin
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[m.rnn_cell]
    dirs = 2 if m.bidirectional else 1
    for _ in range(m.rnn_layers):
        forward += 2 * t * dirs * gates * (width + m.rnn_units) * m.rnn_units
        width = dirs * m.rnn_units
    forward += 2 * t * width * 29
    return 3 * forward


TRAIN_BATCH = (16, 10)  # clips x seconds of the training benchmark
LEAK_BATCH = (16, 0.5)  # and of the leak check (1,000 steps of 16 x 10 s: ~1 h)


def train_step(impl: str, batch: int, seconds: float):
    """A callable running one training step of ds2_small (dropout off, the
    recurrent layers `model.rnn_impl=impl`) on a fixed batch of random clips,
    waiting for its loss; and the config."""
    import keras
    import tensorflow as tf

    from asr.config import load_config
    from asr.model import build_model
    from asr.training.optimizer import make_optimizer
    from asr.training.step import Trainer

    cfg = load_config(
        ROOT / "configs/ds2_small.yaml", ["model.dropout=0.0", f"model.rnn_impl={impl}"]
    )
    n, n_labels = int(16000 * seconds), int(15 * seconds)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((batch, n))).astype(np.float32)
    x = {"audio": audio, "audio_lengths": np.full(batch, n, np.int32)}
    y = {
        "labels": rng.integers(1, 29, (batch, n_labels)).astype(np.int32),
        "label_lengths": np.full(batch, n_labels, np.int32),
        "paths": np.array([b"x"] * batch),
    }
    keras.utils.set_random_seed(0)
    trainer = Trainer(build_model(cfg))
    trainer.compile(optimizer=make_optimizer(cfg, 100))
    it = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
    step = tf.function(trainer.train_step)
    return (lambda: float(step(next(it))["loss"])), cfg


def bench_conv_kernel_grad(cfg, batch: int, seconds: float, rounds: int) -> dict:
    """The kernel gradient of ds2_small's second conv on a 16 x 10 s batch:
    TensorFlow's oneDNN `conv2d_backprop_filter` against `asr.conv`'s
    XLA-compiled one (what training runs), interleaved."""
    import tensorflow as tf

    from asr.conv import kernel_grad

    m = cfg.model
    (kt, kf), (st, sf) = m.conv_kernels[1], m.conv_strides[1]
    frames = -(-int(seconds * 100) // m.conv_strides[0][0])  # 10 ms hop
    f_in = -(-cfg.features.n_mels // m.conv_strides[0][1]) + kf - 1
    out = (batch, -(-frames // st), (f_in - kf) // sf + 1, m.conv_filters[1])
    x = tf.random.normal((batch, (out[1] - 1) * st + kt, f_in, m.conv_filters[0]))
    dy = tf.random.normal(out)
    shape, strides = (kt, kf, m.conv_filters[0], m.conv_filters[1]), (1, st, sf, 1)
    fns = {
        "onednn": tf.function(
            lambda: tf.compat.v1.nn.conv2d_backprop_filter(
                x, shape, dy, strides, "VALID"
            )
        ),
        "xla": tf.function(lambda: kernel_grad(x, dy, shape, strides)),
    }
    ms = _interleaved_ms(fns, rounds)
    return {
        "conv_kernel_grad_ms_onednn": ms["onednn"],
        "conv_kernel_grad_ms_xla": ms["xla"],
        "conv_kernel_grad_xla_x_onednn": ms["onednn"] / ms["xla"],
    }


def bench_ctc(batch: int, seconds: float, rounds: int) -> dict:
    """CTC loss + logit gradient on a 16 x 10 s batch (500 frames, 150
    labels): `asr.training.loss.ctc_loss` (TensorFlow's C++ kernel, sparse labels)
    against `keras.ops.ctc_loss` (dense labels: the pure-TF version)."""
    import keras
    import tensorflow as tf

    from asr.training.loss import ctc_loss

    rng = np.random.default_rng(0)
    frames, n_labels = int(seconds * 50), int(seconds * 15)
    logits = tf.Variable(rng.standard_normal((batch, frames, 29)), dtype=tf.float32)
    labels = rng.integers(1, 29, (batch, n_labels)).astype(np.int32)
    label_lengths = np.full(batch, n_labels, np.int32)
    logit_lengths = np.full(batch, frames, np.int32)

    def grad(loss_fn):
        @tf.function
        def run():
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(loss_fn())
            return tape.gradient(total, logits)

        return run

    fns = {
        "sparse": grad(lambda: ctc_loss(labels, logits, label_lengths, logit_lengths)),
        "dense": grad(
            lambda: keras.ops.ctc_loss(
                labels, logits, label_lengths, logit_lengths, mask_index=0
            )
        ),
    }
    ms = _interleaved_ms(fns, rounds)
    return {
        "ctc_grad_ms": ms["sparse"],
        "ctc_grad_ms_keras_dense": ms["dense"],
        "ctc_sparse_x_dense": ms["dense"] / ms["sparse"],
    }


def _interleaved_ms(fns: dict, rounds: int) -> dict:
    """Median ms per call of each tensor-returning callable (`interleaved_times`)."""
    fetched = {k: (lambda f=f: f().numpy()) for k, f in fns.items()}
    times = interleaved_times(fetched, rounds, warmup=1)
    return {k: 1e3 * float(np.median(t)) for k, t in times.items()}


def bench_training(quick: bool, peak_gflops: float) -> dict:
    """Fused and stock-Keras recurrent layers, interleaved round by round (one
    step each, shuffled order), so both see the same load; then peak RSS."""
    batch, seconds = TRAIN_BATCH
    steps = {}
    for impl in ("fused", "keras"):
        steps[impl], cfg = train_step(impl, batch, seconds)
        for _ in range(1 if quick else 2):  # trace (+ warm-up)
            steps[impl]()
    times = {impl: [] for impl in steps}
    order = np.random.default_rng(0)
    for _ in range(3 if quick else 10):
        for impl in order.permutation(list(steps)):
            t0 = time.perf_counter()
            steps[impl]()
            times[impl].append(time.perf_counter() - t0)
    step_s, keras_s = (float(np.median(times[impl])) for impl in ("fused", "keras"))
    flops = train_flops_per_audio_second(cfg)
    log(f"training FLOPs (analytic): {flops / 1e9:.4g} GFLOP per audio second")
    audio_per_s = batch * seconds / step_s
    del steps  # free both models before the child process
    conv = bench_conv_kernel_grad(cfg, batch, seconds, 5 if quick else 10)
    conv.update(bench_ctc(batch, seconds, 3 if quick else 10))
    rss = train_rss_child(batch, seconds, 1 if quick else 3)
    return {
        **conv,
        "train_step_s": step_s,
        "train_step_s_keras_rnn": keras_s,
        "train_audio_s_per_s": audio_per_s,
        "train_audio_s_per_s_keras_rnn": batch * seconds / keras_s,
        "train_fused_x_keras": keras_s / step_s,
        "train_gflop_per_audio_s": flops / 1e9,
        "train_flop_utilisation": audio_per_s * flops / 1e9 / peak_gflops,
        "train_peak_rss_mb": rss["peak_rss_mb"],
    }


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak RSS of this process, or of process `pid` (VmHWM). Not ru_maxrss:
    Linux carries the parent's peak over fork + exec, so a child would report
    its parent's."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no VmHWM in /proc/{pid}/status")


def cpu_s(pid: int | str = "self") -> float:
    """CPU time (user + system, all threads) of this process, or of `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | str = "self") -> float:
    """Current resident set size of this process, or of process `pid` (not
    the peak)."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def train_rss(batch: int, seconds: float, steps: int, early: int) -> dict:
    """(Child process) `steps` fused training steps: RSS after step `early`
    and after the last, and the peak RSS of the process."""
    step, _ = train_step("fused", batch, seconds)
    rss = {}
    for i in range(1, steps + 1):
        step()
        if i in (early, steps):
            rss[i] = rss_mb()
    return {
        "rss_mb_early": rss[early],
        "rss_mb_last": rss[steps],
        "peak_rss_mb": peak_rss_mb(),
    }


_TRAIN_RSS = """
import json, sys
sys.path.insert(0, {scripts!r})
import benchmark
print(json.dumps(benchmark.train_rss({args})))
"""


def train_rss_child(batch: int, seconds: float, steps: int, early: int = 1) -> dict:
    args = f"{batch}, {seconds}, {steps}, {early}"
    code = _TRAIN_RSS.format(scripts=str(ROOT / "scripts"), args=args)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.splitlines()[-1])


def bench_leak(steps: int) -> dict:
    """RSS growth of a training process from step 100 (or steps // 2 if fewer)
    to its last step, on the short clips of LEAK_BATCH."""
    early = max(1, min(100, steps // 2))
    r = train_rss_child(*LEAK_BATCH, steps, early)
    return {
        "train_leak_steps": steps,
        "train_leak_step_early": early,
        "train_rss_mb_at_step_100": r["rss_mb_early"],
        "train_rss_mb_at_step_last": r["rss_mb_last"],
        "train_rss_growth": r["rss_mb_last"] / r["rss_mb_early"] - 1,
    }


# -- inference -----------------------------------------------------------------------
def bench_inference(quick: bool) -> dict:
    """Offline RTF of a 10 s utterance as `asr transcribe` runs it (a batch of
    one: XLA-compiled recurrences on CPU, `--precision auto`), beside float32
    and the plain graph it replaced, interleaved (`interleaved_times`)."""
    from asr.config import load_config
    from asr.model import build_model
    from asr.precision import resolve
    from asr.transcribe import Recognizer

    cfg = load_config(ROOT / "configs/ds2_small.yaml")
    network = build_model(cfg)
    wave = (0.1 * np.random.default_rng(1).standard_normal(160000)).astype(np.float32)
    default = resolve("auto")
    recs = {
        "offline_rtf": Recognizer(network, cfg, precision=default),
        "offline_rtf_f32": Recognizer(network, cfg),
        "offline_rtf_graph": Recognizer(network, cfg, xla_loops=False),
    }
    times = interleaved_times(
        {key: lambda r=rec: r.logits_batch([wave]) for key, rec in recs.items()},
        rounds=5 if quick else 15,
    )
    out = {key: float(np.median(t)) / 10.0 for key, t in times.items()}
    out["offline_precision"] = default
    out["offline_xla_x_graph"] = out["offline_rtf_graph"] / out["offline_rtf_f32"]
    out["offline_bf16_x_f32"] = out["offline_rtf_f32"] / out["offline_rtf"]
    out.update(bench_decoding(quick))
    return out


def bench_decoding(quick: bool) -> dict:
    """Decoder times on real logits: the bundled synth-en model on about 8 s of a
    held-out voice (random logits would be far less peaky than a trained model's,
    and beam search time depends on how many characters each frame leaves open)."""
    from asr.checkpoint import PRETRAINED_DIR
    from asr.datasets.synthetic import generate_sentences, held_out_voices, synthesize
    from asr.decoding import ctc
    from asr.transcribe import load_model

    recognizer = load_model("synth-en")
    sentences = iter(generate_sentences(40, seed="benchmark"))
    wave = np.zeros(0, np.float32)
    while len(wave) < 8 * 16000:
        wave = np.concatenate([wave, synthesize(next(sentences), held_out_voices()[0])])
    logits = recognizer.logits_batch([wave[: 8 * 16000]])[0]
    reps = 20 if quick else 100
    n = np.array([len(logits)])
    out = {
        "decode_frames_8s": len(logits),
        "greedy_decode_ms": 1e3
        * median_time(lambda: ctc.greedy_decode_batch(logits[None], n), reps),
        "beam_decode_ms": 1e3 * median_time(lambda: ctc.beam_search(logits, 16), reps),
    }
    try:
        from asr.decoding.ngram import LMDecoder

        arpa = PRETRAINED_DIR / "synth-en" / "lm.arpa"
        for backend, key in (
            ("flashlight", "beam_lm_decode_ms"),
            ("pyctcdecode", "beam_lm_pyctcdecode_ms"),
        ):
            decoder = LMDecoder(arpa, beam_width=32, backend=backend)
            out[key] = 1e3 * median_time(lambda d=decoder: d.decode(logits), reps)
        out["beam_lm_backend"] = "flashlight"
    except ImportError as e:
        log(f"beam_lm_decode_ms skipped: {e}")
    return out


def bench_streaming(quick: bool) -> dict:
    """In a child process: after the sections before, TensorFlow's thread
    pools here slowed the single-threaded interpreter ~1.7x (5.3 vs 3.1 ms)."""
    out = subprocess.run(
        [sys.executable, __file__, "--streaming-child", "100" if quick else "1000"],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        log(f"streaming failed: {out.stderr.strip().splitlines()[-1:]}")
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])


def streaming_child(n: int) -> dict:
    from asr.streaming.recognizer import StreamingRecognizer
    from asr.transcribe import load_model

    # The bundled configs/streaming.yaml model: trained weights, whose
    # activations (unlike a random network's) are those of real use.
    recognizer = load_model("synth-en-streaming")
    rng = np.random.default_rng(3)
    chunk = (0.1 * rng.standard_normal(1600)).astype(np.float32)
    backends = ("tflite", "tflite-int8", "tf")
    recs = {
        b: StreamingRecognizer(recognizer, chunk_ms=100, backend=b) for b in backends
    }
    times = {b: [] for b in recs}
    for rec in recs.values():
        for _ in range(10):
            rec.accept_waveform(chunk)
    # Interleaved in blocks of 10 chunks, so the backends see the same machine
    # load while each keeps its weights in cache as it would when alone.
    for _ in range(n // 10):
        for b, rec in recs.items():
            for _ in range(10):
                t0 = time.perf_counter()
                rec.accept_waveform(chunk)
                times[b].append(time.perf_counter() - t0)
    out = {}
    for b, suffix in (("tflite", ""), ("tflite-int8", "_int8"), ("tf", "_tf")):
        ms = 1e3 * np.array(times[b])
        out[f"stream_chunk_ms_p50{suffix}"] = float(np.percentile(ms, 50))
        out[f"stream_chunk_ms_p95{suffix}"] = float(np.percentile(ms, 95))
    out["stream_rtf"] = out["stream_chunk_ms_p50"] / 100.0
    out["stream_tflite_x_tf"] = (
        out["stream_chunk_ms_p50_tf"] / out["stream_chunk_ms_p50"]
    )
    out["stream_int8_x_tflite"] = (
        out["stream_chunk_ms_p50"] / out["stream_chunk_ms_p50_int8"]
    )
    # End of speech to final text: at the end of a stream, finalize()'s compute
    # (the last partial step and the look-ahead's steps on silence); with
    # endpointing, the endpoint silence plus the algorithmic latency.
    rec = recs["tflite"]
    finals = []
    for _ in range(10 if n <= 100 else 30):
        rec.accept_waveform(np.tile(chunk, 7)[:11_000])
        t0 = time.perf_counter()
        rec.finalize()
        finals.append(time.perf_counter() - t0)
    algorithmic = 1e3 * (rec.step_samples / rec.sample_rate)
    algorithmic += 1e3 * rec.lookahead * rec.frame_seconds
    out["stream_lookahead_frames"] = rec.lookahead
    out["stream_algorithmic_latency_ms"] = algorithmic
    out["stream_finalize_ms"] = 1e3 * float(np.median(finals))
    out["stream_endpoint_final_ms"] = (
        recognizer.cfg.streaming.endpoint_silence_ms + algorithmic
    )
    return out


def pcm16(wave: np.ndarray) -> np.ndarray:
    """float samples in [-1, 1] -> little-endian 16-bit PCM, the server's
    default format."""
    return np.clip(np.round(wave * 32768), -32768, 32767).astype("<i2")


async def stream_client(session, url: str, chunks, partials: list, offset=0.0):
    """One WebSocket client of `asr serve` at `url` (http://host:port): after
    `offset` seconds, sends `chunks` (16-bit PCM arrays at 16 kHz) paced at
    real time, then `end`, and reads to `done`. For each partial it appends
    (arrival time, latency s) to `partials` (times: `time.perf_counter`);
    latency: the arrival less the send time of the chunk that completed the
    audio the partial covers (its `seconds`). Returns whether `done` came."""
    import asyncio
    import bisect

    sent_s: list[float] = []  # audio sent so far after each chunk, seconds
    sent_at: list[float] = []  # when each chunk was sent
    async with session.ws_connect(url.replace("http", "ws", 1) + "/ws") as ws:
        await ws.receive_json()
        await asyncio.sleep(offset)
        start = time.perf_counter()

        async def receive() -> bool:
            async for msg in ws:
                m = msg.json()
                if m["type"] == "partial":
                    now = time.perf_counter()
                    i = bisect.bisect_right(sent_s, m["seconds"] + 1e-6) - 1
                    if i >= 0:
                        partials.append((now, now - sent_at[i]))
                elif m["type"] == "done":
                    return True
            return False

        reader = asyncio.create_task(receive())
        samples = 0
        for pcm in chunks:
            await asyncio.sleep(max(0, start + samples / 16000 - time.perf_counter()))
            samples += len(pcm)
            sent_s.append(round(samples / 16000, 3))
            sent_at.append(time.perf_counter())
            await ws.send_bytes(pcm.tobytes())
        await ws.send_str('{"type": "end"}')
        return await reader


def bench_server(quick: bool) -> dict:
    """`asr serve` under load: N WebSocket clients on 127.0.0.1 each stream
    speech at real-time pace in 100 ms chunks (`stream_client`); a partial's
    latency is its arrival time less the time the audio it covers (its
    `seconds`) was sent. N doubles until the p95 passes 300 ms;
    `server_streams_realtime` is the largest N within it. The clients share
    this process (and its cores) with the server, so the figure is a floor.
    Run with `--only server`."""
    import asyncio

    import aiohttp

    from asr import demo
    from asr.streaming.server import ServerLimits, ServerThread, SpeechServer
    from asr.transcribe import load_model

    seconds = 4.0 if quick else 10.0
    clips = demo.make_clips(4, seed=1).waves
    wave = np.concatenate([np.concatenate([c, np.zeros(8000)]) for c in clips])
    wave = np.tile(wave, 1 + int(seconds * 16000) // len(wave))[: int(seconds * 16000)]
    pcm = pcm16(wave)
    chunks = [pcm[i : i + 1600] for i in range(0, len(pcm), 1600)]
    server = SpeechServer(
        load_model("synth-en-streaming"),
        backend="tflite",
        limits=ServerLimits(max_streams=1024),
    )

    async def level(url, n):
        partials: list = []
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(
                *(
                    stream_client(session, url, chunks, partials, 0.1 * k / n)
                    for k in range(n)
                )
            )
        return 1e3 * float(np.percentile([lat for _, lat in partials], 95))

    out: dict = {"server_p95_partial_ms": {}}
    best = 0
    with ServerThread(server) as url:
        n = 1
        while n <= (32 if quick else 256):
            p95 = asyncio.run(level(url, n))
            out["server_p95_partial_ms"][str(n)] = p95
            log(f"  {n} streams: p95 partial latency {p95:.0f} ms")
            if p95 > 300:
                break
            best, n = n, 2 * n
    out["server_streams_realtime"] = best
    return out


_TRANSCRIBE_1H = """
import sys, time, numpy as np
sys.path.insert(0, {root!r})
from asr.config import load_config
from asr.model import build_model
from asr.transcribe import Recognizer
cfg = load_config({root!r} + "/configs/ds2_small.yaml")
rec = Recognizer(build_model(cfg), cfg)
rng = np.random.default_rng(0)
def blocks():
    for _ in range(int({seconds} // 30)):
        yield (0.05 * rng.standard_normal(16000 * 30)).astype(np.float32)
t0 = time.perf_counter()
logits, _ = rec.logits_long(blocks())
text = rec.decode(logits)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(time.perf_counter() - t0, int(hwm.split()[1]) / 1024)
"""


def bench_transcribe_long(quick: bool) -> dict:
    seconds = 600 if quick else 3600
    out = subprocess.run(
        [sys.executable, "-c", _TRANSCRIBE_1H.format(root=str(ROOT), seconds=seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall, rss = map(float, out.stdout.split()[-2:])
    return {
        "transcribe_audio_s": seconds,
        "transcribe_1h_s": wall * 3600 / seconds,
        "transcribe_1h_peak_rss_mb": rss,
    }


# -- batch transcription and the streaming soak --------------------------------------
def speech_clips(durations: list[float], seed: str) -> list[np.ndarray]:
    """espeak-ng speech (held-out voices, as `bench_decoding`) cut to each of
    `durations` seconds: sentences one after another, the last one cut."""
    import itertools

    from asr.datasets.synthetic import generate_sentences, held_out_voices, synthesize

    voices = held_out_voices()
    sentences = itertools.cycle(generate_sentences(len(durations) * 3 + 10, seed=seed))
    clips = []
    for i, seconds in enumerate(durations):
        n = int(seconds * 16000)
        wave = np.zeros(0, np.float32)
        while len(wave) < n:
            voice = voices[(i + len(wave)) % len(voices)]
            wave = np.concatenate([wave, synthesize(next(sentences), voice)])
        clips.append(wave[:n].astype(np.float32))
    return clips


BATCH_FOLDER = (48, 2.0, 12.0)  # files, shortest and longest seconds


def bench_batch(quick: bool) -> dict:
    """In a child process (its CPU time is the recognition's alone)."""
    return _section_child("--batch-child", 2 if quick else 4)


def batch_child(rounds: int) -> dict:
    """`asr transcribe DIR` on a folder of short files: in batches, as it runs
    (`asr.cli.batch.batches` / `recognise_batch`: up to 16 files / 160 s per
    `Recognizer.transcribe_segments` call), against one file per call (its
    behaviour before), alternating in blocks (batched, one by one) x
    `rounds` after an untimed pass of each (the compiles). Greedy decoding,
    the bundled synth-en model. Figures: audio hours per hour of this
    process's CPU time (all its threads) and per wall hour, medians over the
    blocks; ratios are medians of each round's pair."""
    import tempfile

    import soundfile as sf

    from asr.audio import audio_info
    from asr.cli.batch import batches, collect_inputs, recognise_batch
    from asr.transcribe import load_model

    recognizer = load_model("synth-en")
    files, low, high = BATCH_FOLDER
    durations = np.random.default_rng(4).uniform(low, high, files).round(2).tolist()
    options = {"decoder": "greedy"}
    with tempfile.TemporaryDirectory() as tmp:
        for i, wave in enumerate(speech_clips(durations, "benchmark-batch")):
            sf.write(Path(tmp) / f"f{i:02d}.wav", wave, 16000)
        todo = [(item, audio_info(item.path)[0]) for item in collect_inputs([tmp], tmp)]
        audio_s = sum(d for _, d in todo)

        def batched() -> list[str]:
            texts = []
            for group in batches(todo, recognizer):
                segs = recognise_batch(recognizer, [i for i, _ in group], options)
                texts += [s.text for s in segs]
            return texts

        def one_by_one() -> list[str]:
            return [
                recognizer.transcribe_segments([item.path], **options)[0].text
                for item, _ in todo
            ]

        runs = {"batched": batched, "one_by_one": one_by_one}
        texts = {name: fn() for name, fn in runs.items()}  # compiles every shape
        cpu: dict = {name: [] for name in runs}
        wall: dict = {name: [] for name in runs}
        for _ in range(rounds):
            for name, fn in runs.items():
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    cpu = {k: np.array(v) for k, v in cpu.items()}
    wall = {k: np.array(v) for k, v in wall.items()}
    out = {
        "batch_files": len(todo),
        "batch_audio_s": audio_s,
        "batch_groups": len(batches(todo, recognizer)),
        "batch_rounds": rounds,
    }
    for name, suffix in (("batched", ""), ("one_by_one", "_one_by_one")):
        out[f"batch_audio_h_per_cpu_h{suffix}"] = audio_s / float(np.median(cpu[name]))
        out[f"batch_audio_h_per_wall_h{suffix}"] = audio_s / float(
            np.median(wall[name])
        )
    out["batch_x_one_by_one_cpu"] = float(np.median(cpu["one_by_one"] / cpu["batched"]))
    out["batch_x_one_by_one_wall"] = float(
        np.median(wall["one_by_one"] / wall["batched"])
    )
    out["batch_texts_differing"] = sum(
        a != b for a, b in zip(texts["batched"], texts["one_by_one"])
    )
    out["batch_peak_rss_mb"] = peak_rss_mb()
    return out


SOAK_UNIT = (4.0, 1.0)  # seconds of speech, then of silence
SOAK_WINDOW_S = 300  # the start and end windows compared


def soak_units(seed: str) -> list[np.ndarray]:
    """The soaks' audio: 60 distinct pieces of SOAK_UNIT (4 s of espeak-ng
    speech, `speech_clips`, then 1 s of silence), float32 at 16 kHz."""
    speech_s, silence_s = SOAK_UNIT
    silence = np.zeros(int(silence_s * 16000), np.float32)
    return [np.concatenate([p, silence]) for p in speech_clips([speech_s] * 60, seed)]


def soak_chunks(units: list[np.ndarray], seconds: float, first: int = 0):
    """`seconds` of audio in 100 ms chunks (1,600 samples): `units` from
    `units[first]` on, cycled."""
    per_unit = len(units[0]) // 1600
    for k in range(int(seconds * 10)):
        unit, pos = divmod(k, per_unit)
        yield units[(first + unit) % len(units)][pos * 1600 : (pos + 1) * 1600]


def bench_soak(quick: bool) -> dict:
    """1 h (10 min) of streaming in a child process (`soak_child`)."""
    return _section_child("--soak-child", 600 if quick else 3600)


def soak_child(seconds: int) -> dict:
    """One `StreamingRecognizer` (synth-en-streaming, TFLite step, as `asr
    stream`) fed `seconds` of audio in 100 ms chunks: 4 s of speech then 1 s
    of silence, repeated (60 distinct speech pieces, cycled), so the stream
    runs through an endpoint every 5 s and is never finalized. Chunk latency
    (`accept_waveform` + `pop_finals`) and this process's RSS (read every 10 s
    of audio, the most in each window) over the first and the last
    SOAK_WINDOW_S seconds."""
    from asr.streaming.recognizer import StreamingRecognizer
    from asr.transcribe import load_model

    units = soak_units("benchmark-soak")
    rec = StreamingRecognizer(
        load_model("synth-en-streaming"), chunk_ms=100, backend="auto"
    )
    rec.warmup()
    n = seconds * 10
    window = SOAK_WINDOW_S * 10
    ms = np.zeros(n)
    rss = []  # (chunk index, MB)
    finals = 0
    t_start = time.perf_counter()
    for k, samples in enumerate(soak_chunks(units, seconds)):
        t0 = time.perf_counter()
        rec.accept_waveform(samples)
        finals += len(rec.pop_finals())
        ms[k] = 1e3 * (time.perf_counter() - t0)
        if k % 100 == 99:
            rss.append((k, rss_mb()))
    wall = time.perf_counter() - t_start
    start = max(mb for k, mb in rss if k < window)
    end = max(mb for k, mb in rss if k >= n - window)
    first, last = ms[:window], ms[n - window :]
    out = {
        "soak_audio_s": seconds,
        "soak_wall_s": wall,
        "soak_endpoints": finals,
        "soak_rss_mb_start": start,
        "soak_rss_mb_end": end,
        "soak_rss_end_x_start": end / start,
        "soak_peak_rss_mb": peak_rss_mb(),
    }
    out.update(start_end_percentiles("soak_chunk_ms", first, last))
    out["soak_backend"] = rec.backend
    return out


def start_end_percentiles(key: str, first, last) -> dict:
    """`{key}_p50_start`, `_end`, `_end_x_start` and the same for p95, of the
    values `first` (the start window) and `last` (the end window)."""
    out = {}
    for q in (50, 95):
        a, b = float(np.percentile(first, q)), float(np.percentile(last, q))
        out[f"{key}_p{q}_start"] = a
        out[f"{key}_p{q}_end"] = b
        out[f"{key}_p{q}_end_x_start"] = b / a
    return out


SERVER_SOAK_STREAMS = 20


@contextlib.contextmanager
def server_process(*options: str, timeout: float = 600):
    """`asr serve --port 0 *options` (this checkout's package) in a child
    process; yields (its Popen, its URL) once it says where it listens, and
    stops it with SIGINT (Ctrl+C: a clean shutdown) at exit."""
    import re
    import signal
    import tempfile

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    command = [sys.executable, "-m", "asr", "serve", "--port", "0", *options]
    with tempfile.TemporaryDirectory() as tmp:
        errors = Path(tmp) / "stderr"
        with open(errors, "w") as err:
            proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=tmp
            )
        try:
            deadline = time.monotonic() + timeout
            while not (m := re.search(r" on (http://\S+?)/ ", errors.read_text())):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = errors.read_text().strip()[-500:]
                    raise RuntimeError(f"asr serve did not start: {tail}")
                time.sleep(0.5)
            yield proc, m.group(1)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def bench_server_soak(quick: bool) -> dict:
    """`asr serve` (TFLite step) in a child process, its RSS its own, with
    SERVER_SOAK_STREAMS WebSocket clients in this process streaming for
    10 min (`--quick`: 2 min) at once: each `stream_client` sends the soak's
    audio (4 s of speech, 1 s of silence, repeated; each client starts at
    another piece) in 100 ms chunks paced at real time, then `end`. Records
    every partial's latency (`stream_client`) and the server's RSS
    (/proc/PID/statm, every 10 s; the most in each window) and compares the
    first and the last 2 min (`--quick`: 30 s) of the run, by arrival time:
    end / start ratios, flat is 1; also the p95 of every such window in turn
    (`_p95_by_window`, keyed by the window's start in seconds) and the
    server's CPU time per second of the run (`_server_cpu_per_s`, 1 = one
    core)."""
    import asyncio

    import aiohttp

    streams = SERVER_SOAK_STREAMS
    seconds, window = (120, 30) if quick else (600, 120)
    units = [pcm16(u) for u in soak_units("benchmark-server-soak")]

    async def run(url: str, pid: int) -> tuple:
        partials: list = []
        rss: list = []  # (seconds since the start, MB)
        t0 = time.perf_counter()

        async def sample() -> None:
            while True:
                await asyncio.sleep(10 - (time.perf_counter() - t0) % 10)
                rss.append((time.perf_counter() - t0, rss_mb(pid)))

        sampler = asyncio.create_task(sample())
        async with aiohttp.ClientSession() as session:
            done = await asyncio.gather(
                *(
                    stream_client(
                        session,
                        url,
                        soak_chunks(units, seconds, first=3 * k),
                        partials,
                        0.1 * k / streams,
                    )
                    for k in range(streams)
                )
            )
        sampler.cancel()
        return [(t - t0, lat) for t, lat in partials], rss, sum(done)

    with server_process("--backend", "tflite", "--max-streams", "64") as (proc, url):
        idle, cpu0 = rss_mb(proc.pid), cpu_s(proc.pid)
        t_start = time.perf_counter()
        partials, rss, done = asyncio.run(run(url, proc.pid))
        wall = time.perf_counter() - t_start
        cpu = cpu_s(proc.pid) - cpu0
        peak = peak_rss_mb(proc.pid)
    start = max(mb for t, mb in rss if t < window)
    end = max(mb for t, mb in rss if t >= seconds - window)
    first = [1e3 * lat for t, lat in partials if t < window]
    last = [1e3 * lat for t, lat in partials if t >= seconds - window]
    out = {
        "server_soak_streams": streams,
        "server_soak_audio_s": seconds,
        "server_soak_window_s": window,
        "server_soak_wall_s": wall,
        "server_soak_streams_done": done,
        "server_soak_partials": len(partials),
        "server_soak_rss_mb_idle": idle,
        "server_soak_rss_mb_start": start,
        "server_soak_rss_mb_end": end,
        "server_soak_rss_end_x_start": end / start,
        "server_soak_peak_rss_mb": peak,
        "server_soak_server_cpu_per_s": cpu / wall,
    }
    out.update(start_end_percentiles("server_soak_partial_ms", first, last))
    out["server_soak_partial_ms_p95_by_window"] = {
        str(w): float(
            np.percentile([1e3 * lat for t, lat in partials if w <= t < w + window], 95)
        )
        for w in range(0, seconds, window)
    }
    return out


def _section_child(flag: str, arg: int) -> dict:
    """This script run again with `flag arg`: a section in a fresh process
    (its own memory and CPU time); its last stdout line is the JSON result."""
    out = subprocess.run(
        [sys.executable, __file__, flag, str(arg)], capture_output=True, text=True
    )
    if out.returncode:
        log(f"{flag} failed: {out.stderr.strip().splitlines()[-1:]}")
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats (~10 min on 2 cores)"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks"), help="output folder")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated sections to skip: "
        "features,train,leak,inference,streaming,transcribe,batch,soak,server,"
        "server_soak",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated sections to run (names as for --skip), merged "
        "into the existing "
        "results.json (the other rows kept; `section_runs` says when each ran)",
    )
    parser.add_argument(
        "--leak-steps",
        type=int,
        default=None,
        help="training steps of the leak check (default 1000, 150 with --quick)",
    )
    parser.add_argument(
        "--pytorch",
        metavar="FILE",
        help="the PyTorch reference's JSON (../shared/perf/reference.py --out "
        "FILE), run right before this one: adds `vs_pytorch`, each goal of the "
        "comparison as a ratio from the same sitting",
    )
    parser.add_argument("--streaming-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--soak-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for child, fn in (
        (args.streaming_child, streaming_child),
        (args.batch_child, batch_child),
        (args.soak_child, soak_child),
    ):
        if child:
            print(json.dumps(fn(child)))
            return 0
    leak_steps = args.leak_steps or (150 if args.quick else 1000)
    skip = set(filter(None, args.skip.split(",")))
    only = set(filter(None, args.only.split(",")))
    t_start = time.perf_counter()
    out = Path(args.out)
    results: dict = {"quick": args.quick}
    if only and (out / "results.json").exists():
        results = json.loads((out / "results.json").read_text())
    # The peak is the denominator of the training utilisation: measured in the
    # same run as training, or not at all (a merged run keeps the old pair).
    with_peak = not only or "train" in only
    if with_peak:
        log("matmul peak")
        peaks0 = matmul_gflops(5 if args.quick else 10)
    peak0 = max(peaks0.values()) if with_peak else 0.0
    sections = [
        ("features", lambda: bench_features(args.quick)),
        ("train", lambda: bench_training(args.quick, peak0)),
        ("leak", lambda: bench_leak(leak_steps)),
        ("inference", lambda: bench_inference(args.quick)),
        ("streaming", lambda: bench_streaming(args.quick)),
        ("transcribe", lambda: bench_transcribe_long(args.quick)),
        ("batch", lambda: bench_batch(args.quick)),
        ("soak", lambda: bench_soak(args.quick)),
        ("server", lambda: bench_server(args.quick)),
        ("server_soak", lambda: bench_server_soak(args.quick)),
    ]
    if unknown := (skip | only) - {name for name, _ in sections}:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    runs = results.setdefault("section_runs", {})
    fresh: dict = {}  # this run's figures (results may hold older ones)
    for name, fn in sections:
        if name in skip or (only and name not in only):
            continue
        log(name)
        fresh.update(fn())
        results.update(fresh)
        runs[name] = {
            "date": time.strftime("%Y-%m-%d"),
            "quick": args.quick,
            **cpu_info(),
        }
        time.sleep(0.3)
    if with_peak:
        peaks1 = matmul_gflops(5 if args.quick else 10)
        for lib in ("numpy", "tf"):
            results[f"matmul_gflops_{lib}"] = max(peaks0[lib], peaks1[lib])
            results[f"matmul_gflops_{lib}_start_end"] = [peaks0[lib], peaks1[lib]]
        results["matmul_gflops"] = max(
            results["matmul_gflops_numpy"], results["matmul_gflops_tf"]
        )
    results["numpy_blas"] = NUMPY_BLAS
    if "train_flop_utilisation" in results:
        results["train_flop_utilisation"] = (
            results["train_audio_s_per_s"]
            * results["train_gflop_per_audio_s"]
            / results["matmul_gflops"]
        )
    import keras
    import tensorflow as tf

    results["env"] = {
        **cpu_info(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.pytorch:  # a merged run (--only) replaces the ratios of its sections
        results["vs_pytorch"] = {
            **(results.get("vs_pytorch", {}) if only else {}),
            **vs_pytorch(fresh, json.loads(Path(args.pytorch).read_text())),
        }
    results["wall_s" if not only else f"wall_s_{'_'.join(sorted(only))}"] = (
        time.perf_counter() - t_start
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(results))
    print(json.dumps(results, indent=2))
    return 0


def vs_pytorch(ours: dict, torch: dict) -> dict:
    """The comparison with the PyTorch reference of the same sitting: each
    figure as ours / theirs (the goals of issue 30 beside them in `GOALS`),
    and the CPU each ran on."""
    out: dict = {
        "pytorch_cpu": torch.get("env", {}).get("cpu"),
        "pytorch_cpu_capability": torch.get("env", {}).get("torch_cpu_capability"),
    }
    pairs = {  # ratio name: (our key, their key)
        "train_audio_s_per_s_x": ("train_audio_s_per_s", "train_audio_s_per_s"),
        "offline_rtf_x": ("offline_rtf", "offline_rtf"),
        "stream_chunk_ms_p50_x": ("stream_chunk_ms_p50", "stream_chunk_ms_p50"),
    }
    for name, (a, b) in pairs.items():
        if a in ours and torch.get(b):
            out[f"pytorch_{b}"] = torch[b]
            out[name] = ours[a] / torch[b]
    if "train_flop_utilisation" in ours and torch.get("train_flop_utilisation"):
        out["pytorch_train_flop_utilisation"] = torch["train_flop_utilisation"]
    if "features_x_librosa" in ours and torch.get("librosa_logmel_x_realtime"):
        out["pytorch_logmel_x_librosa"] = (
            torch["torch_logmel_x_realtime"] / torch["librosa_logmel_x_realtime"]
        )
    return out


GOALS = {
    "vs_pytorch.train_audio_s_per_s_x": ">= 1.1",
    "vs_pytorch.offline_rtf_x": "<= 0.8",
    "vs_pytorch.stream_chunk_ms_p50_x": "<= 0.5",
    "features_x_librosa": ">= 4",
    "train_flop_utilisation": ">= 0.50",
    "offline_rtf": "<= 0.01",
    "stream_chunk_ms_p50": "<= 2.5",
    "stream_chunk_ms_p50_int8": "<= 2.5",
    "beam_lm_decode_ms": "<= 8",
    "transcribe_1h_peak_rss_mb": "<= 1500",
    "train_rss_growth": "<= 0.05",
    "soak_rss_end_x_start": "<= 1.05 (flat)",
    "soak_chunk_ms_p50_end_x_start": "~1 (flat)",
    "soak_chunk_ms_p95_end_x_start": "~1 (flat)",
    "server_soak_rss_end_x_start": "<= 1.05 (flat)",
    "server_soak_partial_ms_p50_end_x_start": "~1 (flat)",
    "server_soak_partial_ms_p95_end_x_start": "~1 (flat)",
}


def _runs_by_machine(runs: dict) -> dict:
    """{(cpu, date, quick): [section names]} of `section_runs`: more than one
    key when the table was merged from several runs (`--only`)."""
    groups: dict = {}
    for name, run in runs.items():
        key = (run.get("cpu"), run.get("date"), run.get("quick"))
        groups.setdefault(key, []).append(name)
    return groups


def markdown_table(r: dict) -> str:
    env, runs = r.get("env", {}), r.get("section_runs", {})
    isa = f" ({' '.join(env['isa'])})" if env.get("isa") else ""
    machine = f"Machine: {env.get('cpu')}{isa}, {env.get('cores')} cores"
    when = f"{env.get('date')}{' (--quick)' if r.get('quick') else ''}"
    groups = _runs_by_machine(runs)
    if len(groups) > 1:
        machine = f"Machines: {env.get('cores')} cores"
        when = "sections measured in separate runs: " + "; ".join(
            f"{', '.join(names)} on {cpu}, {date}{' (--quick)' if quick else ''}"
            for (cpu, date, quick), names in groups.items()
        )
    lines = [
        f"{machine}; TensorFlow {env.get('tensorflow')}, Keras {env.get('keras')}; "
        f"{when}.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
    ]
    for key, value in r.items():
        rows = value.items() if isinstance(value, dict) and key != "env" else []
        rows = [(f"{key}.{k}", v) for k, v in rows] or [(key, value)]
        for name, v in rows:  # dicts (the features breakdown) one row per entry
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                text = str(v) if isinstance(v, int) else f"{v:.4g}"
                lines.append(f"| `{name}` | {text} | {GOALS.get(name, '')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
