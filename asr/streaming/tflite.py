"""The streaming step run by the TFLite interpreter (`backend="tflite"`).

The streaming step is ~150 small ops (per 100 ms: five LSTM time steps in
each of three layers, every one a (1 x H) @ (H x 4H) product and its gate
math). TensorFlow's graph executor spends most of a step dispatching them; the
TFLite interpreter runs the same graph, converted once
(`stream_step_flatbuffer`, with `asr.tflite`), from a static plan with XNNPACK
kernels, so it spends its time computing instead, with logits within ~1e-5
(measured: `scripts/benchmark.py`, `stream_tflite_x_tf`; docs/performance.md).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np

from asr.tflite import convert, matmul_dft


def _interpreter_class():
    try:  # the LiteRT package, where installed, is TFLite's successor
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


class TFLiteStep:
    """Callable like `StreamingRecognizer.step_function`:
    `(audio, valid_frames, *state)` -> `{"logits": ..., state name: new state}`,
    numpy in and out.

    Args:
        flatbuffer: the step from `stream_step_flatbuffer`.
        state_names: the state inputs' names, in `state_specs` order.
        num_threads: interpreter threads (default 2, 1 on one core). The
            step is bound by reading the recurrent matrices (each read once per
            time step), which fit in two cores' L2 caches but not one's, so two
            threads beat one by more than the second core alone would
            (docs/performance.md).
    """

    def __init__(
        self, flatbuffer: bytes, state_names: list[str], num_threads: int | None = None
    ):
        self.num_threads = num_threads or min(2, os.cpu_count() or 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            self._interp = _interpreter_class()(
                model_content=flatbuffer, num_threads=self.num_threads
            )
        self._interp.allocate_tensors()
        signature = self._interp._get_full_signature_list()["serving_default"]
        inputs, self._outputs = signature["inputs"], signature["outputs"]
        names = ["audio", "valid_frames", *state_names]
        missing = set(names) - set(inputs)
        if missing:
            raise ValueError(f"TFLite step lacks the inputs {sorted(missing)}")
        self._inputs = [inputs[n] for n in names]
        dtypes = {d["index"]: d["dtype"] for d in self._interp.get_input_details()}
        self._dtypes = [dtypes[i] for i in self._inputs]

    def __call__(self, audio, valid_frames, *state) -> dict[str, np.ndarray]:
        interp = self._interp
        values = (audio, valid_frames, *state)
        for index, dtype, value in zip(self._inputs, self._dtypes, values, strict=True):
            interp.set_tensor(index, np.asarray(value, dtype))
        interp.invoke()
        return {name: interp.get_tensor(i) for name, i in self._outputs.items()}


def stream_step_flatbuffer(
    network, new_step_function: Callable, int8: bool = False
) -> bytes:
    """A streaming step as a TFLite flatbuffer (builtin ops where possible),
    with `network`'s current weights frozen in (as int8 with `int8`).

    Args:
        network: the Keras model the step runs.
        new_step_function: makes a fresh traced step of `network`
            (`asr.streaming.step.StreamStep.new_function`); it is called while the
            log-mel's DFT is swapped for a matrix product, so the trace uses it.
    Inputs and outputs are named as in the step function."""
    with matmul_dft(network, keep_float=int8):
        return convert(new_step_function(), int8=int8)
