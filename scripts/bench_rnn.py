"""Forward + backward time of the recurrent stack: stock Keras vs `FusedRNN`.

    python scripts/bench_rnn.py                     # 3 x BiLSTM 256 on 16 x 500 frames
    python scripts/bench_rnn.py --train-step        # also the whole ds2_small step
    python scripts/bench_rnn.py --impls keras,fused_jit --repeats 9 --padded

Every implementation runs in this one process on the same weights and inputs,
interleaved round by round (these machines are shared and noisy), so compare the
ratios: `speedup` is keras median / impl median, and `speedup_per_round` gives
the ratio within each round, which shows how noisy the run was. A 1024^2 matmul
probe before each round (`probe_gflops`) shows the machine's state.

Implementations: `keras` (Bidirectional(LSTM) etc.), `fused` (FusedRNN, TF while
loops), `fused_jit` (FusedRNN with XLA-compiled loops). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr.cpu import cpu_info  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench_rnn {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def probe_gflops(tf) -> float:
    """Best of 3 fp32 1024^2 matmuls in TF, GFLOP/s (a noise probe)."""
    a = tf.random.normal((1024, 1024))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        tf.matmul(a, a).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2 * 1024**3 / best / 1e9


def stack_flops(args) -> float:
    """Analytic training FLOPs of the stack: 3 x forward (2 x MACs)."""
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[args.cell]
    dirs = 1 if args.unidirectional else 2
    width, forward = args.features, 0.0
    for _ in range(args.layers):
        forward += 2 * args.frames * dirs * gates * (width + args.units) * args.units
        width = dirs * args.units
    return 3 * forward * args.batch


def impl_kwargs(impl: str) -> tuple[str, dict]:
    if impl == "keras":
        return "keras", {}
    if impl == "fused":
        return "fused", {"jit_compile": False}
    if impl == "fused_jit":
        return "fused", {"jit_compile": True}
    raise ValueError(f"--impls: unknown {impl!r}; known: keras, fused, fused_jit")


def interleaved(fns: dict, repeats: int, tf) -> tuple[dict, list[float]]:
    """Times each of `fns` once per round, `repeats` rounds. Returns the times and
    the probe before each round."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    probes = []
    for r in range(repeats):
        probes.append(probe_gflops(tf))
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        log(f"round {r}: " + ", ".join(f"{n} {t[-1]:.3f}s" for n, t in times.items()))
    return times, probes


def summarise(times: dict, base: str = "keras") -> dict:
    out = {
        name: {
            "median_s": float(np.median(t)),
            "min_s": float(np.min(t)),
            "times_s": [round(x, 4) for x in t],
        }
        for name, t in times.items()
    }
    if base in times:
        for name, t in times.items():
            if name == base:
                continue
            ratios = np.array(times[base]) / np.array(t)
            out[name]["speedup"] = float(np.median(times[base]) / np.median(t))
            out[name]["speedup_per_round"] = [round(float(x), 3) for x in ratios]
    return out


def bench_stack(args, impls: list[str]) -> dict:
    import keras
    import tensorflow as tf

    from asr.rnn.layer import FusedRNN, make_rnn

    rng = np.random.default_rng(0)
    b, t, f = args.batch, args.frames, args.features
    bi = not args.unidirectional
    x = tf.constant(rng.standard_normal((b, t, f)).astype(np.float32))
    lengths = rng.integers(t * 3 // 4, t + 1, b) if args.padded else np.full(b, t)
    lengths[0] = t
    mask = tf.sequence_mask(lengths, t)
    w = tf.constant(rng.standard_normal((b, t, args.units * (2 if bi else 1))))
    w = tf.cast(w, tf.float32)

    def build(impl: str) -> keras.Model:
        kind, kw = impl_kwargs(impl)
        inp = keras.Input((None, f))
        m = keras.Input((None,), dtype="bool")
        y = inp
        for i in range(args.layers):
            y = make_rnn(args.cell, args.units, bi, kind, name=f"rnn{i}", **kw)(
                y, mask=m
            )
        return keras.Model([inp, m], y)

    keras.utils.set_random_seed(0)
    models = {impl: build(impl) for impl in impls}
    ref = build("keras") if "keras" not in models else models["keras"]
    for model in models.values():  # every implementation gets the same weights
        for i in range(args.layers):
            src, dst = ref.layers[2 + i], model.layers[2 + i]
            if isinstance(dst, FusedRNN):
                dst.set_keras_weights(src.get_weights())

    def make_step(model):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(model([x, mask], training=True) * w)
            grads = tape.gradient(loss, [x, *model.trainable_variables])
            return loss, grads[0]

        return lambda: step()[1].numpy()

    steps = {impl: make_step(m) for impl, m in models.items()}
    first, check = {}, {}
    for impl, step in steps.items():
        t0 = time.perf_counter()
        check[impl] = step()
        first[impl] = time.perf_counter() - t0
        log(f"{impl}: first call (trace, compile, run) {first[impl]:.1f}s")
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times, probes = interleaved(steps, args.repeats, tf)
    out = summarise(times)
    flops = stack_flops(args)
    for impl in impls:
        out[impl]["first_call_s"] = first[impl]
        out[impl]["gflop_per_s"] = flops / out[impl]["median_s"] / 1e9
        out[impl]["dx_max_abs_diff_vs_first"] = float(
            np.max(np.abs(check[impl] - check[impls[0]]))
        )
    return {"train_gflop": flops / 1e9, "probe_gflops": probes, "impls": out}


def bench_train_step(args, impls: list[str]) -> dict:
    """The ds2_small train step (as scripts/benchmark.py times it) with each
    implementation swapped into `asr.model`'s builder for this process only."""
    import keras
    import tensorflow as tf

    import asr.model
    from asr.config import load_config
    from asr.rnn.layer import FusedRNN, make_rnn
    from asr.training.optimizer import make_optimizer
    from asr.training.step import Trainer

    cfg = load_config(ROOT / "configs/ds2_small.yaml", ["model.dropout=0.0"])
    batch, seconds = 16, 10
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((batch, 16000 * seconds))).astype(np.float32)
    x = {"audio": audio, "audio_lengths": np.full(batch, 16000 * seconds, np.int32)}
    labels = rng.integers(1, 29, (batch, 150)).astype(np.int32)
    y = {
        "labels": labels,
        "label_lengths": np.full(batch, 150, np.int32),
        "paths": np.array([b"x"] * batch),
    }
    data = (
        tf.nest.map_structure(tf.constant, x),
        tf.nest.map_structure(tf.constant, y),
    )
    original = asr.model._rnn_layer

    def build(impl: str) -> keras.Model:
        kind, kw = impl_kwargs(impl)
        m = cfg.model

        def rnn_layer(mcfg, name):
            return make_rnn(
                m.rnn_cell, m.rnn_units, m.bidirectional, kind, name=name,
                kernel_initializer=m.initializer,
                kernel_regularizer=asr.model._regularizer(m), **kw,
            )  # fmt: skip

        asr.model._rnn_layer = rnn_layer
        try:
            keras.utils.set_random_seed(0)
            return asr.model.build_model(cfg)
        finally:
            asr.model._rnn_layer = original

    networks = {impl: build(impl) for impl in impls}
    ref = networks[impls[0]]
    for net in networks.values():  # same weights everywhere
        for layer in net.layers:
            src = ref.get_layer(layer.name)
            if isinstance(layer, FusedRNN) and not isinstance(src, FusedRNN):
                layer.set_keras_weights(src.get_weights())
            elif isinstance(src, FusedRNN) and not isinstance(layer, FusedRNN):
                layer.set_weights(src.get_keras_weights())
            else:
                layer.set_weights(src.get_weights())
    steps, first, losses = {}, {}, {}
    for impl, net in networks.items():
        trainer = Trainer(net)
        trainer.compile(optimizer=make_optimizer(cfg, 100))
        step = tf.function(trainer.train_step)
        steps[impl] = lambda step=step: float(step(data)["loss"])
        t0 = time.perf_counter()
        losses[impl] = steps[impl]()
        first[impl] = time.perf_counter() - t0
        log(f"step {impl}: first call {first[impl]:.1f}s, loss {losses[impl]:.4f}")
    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times, probes = interleaved(steps, args.train_repeats, tf)
    out = summarise(times)
    for impl in impls:
        out[impl]["first_call_s"] = first[impl]
        out[impl]["first_loss"] = losses[impl]
        out[impl]["train_audio_s_per_s"] = batch * seconds / out[impl]["median_s"]
    return {"probe_gflops": probes, "impls": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impls", default="keras,fused,fused_jit")
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru", "simple_rnn"])
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=500, help="10 s at 50 frames/s")
    parser.add_argument("--features", type=int, default=1280, help="40 freq x 32 ch")
    parser.add_argument("--unidirectional", action="store_true")
    parser.add_argument(
        "--padded",
        action="store_true",
        help="random lengths in [75%%, 100%%] of --frames, with a mask",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--train-step", action="store_true", help="also time the ds2_small train step"
    )
    parser.add_argument("--train-repeats", type=int, default=5)
    parser.add_argument("--skip-stack", action="store_true")
    parser.add_argument(
        "--intra-threads",
        type=int,
        default=0,
        help="TF intra-op threads (0: TF's default)",
    )
    parser.add_argument("--inter-threads", type=int, default=0)
    args = parser.parse_args()
    impls = [s for s in args.impls.split(",") if s]
    for impl in impls:
        impl_kwargs(impl)

    import keras
    import tensorflow as tf

    if args.intra_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_threads)
    if args.inter_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_threads)
    t_start = time.perf_counter()
    result: dict = {"config": vars(args)}
    if not args.skip_stack:
        log("recurrent stack")
        result["stack"] = bench_stack(args, impls)
    if args.train_step:
        log("ds2_small train step")
        result["train_step"] = bench_train_step(args, impls)
    result["env"] = {
        **cpu_info(),
        "cores": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    result["wall_s"] = time.perf_counter() - t_start
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
