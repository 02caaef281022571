"""The cell maths, once: one time step of each cell, and the recurrences of
`asr.rnn.layer.FusedRNN` with hand-written gradients.

`lstm_step`, `gru_step` and `simple_step` are one time step of a Keras LSTM,
GRU (`reset_after=True`) and SimpleRNN cell (tanh and sigmoid activations),
from the step's input projection and recurrent product. The whole-sequence
loops below run them, and so does the streaming step
(`asr.streaming.layers.rnn_chunk`), chunk by chunk from carried states.

`recurrence(cell, xp, u)` runs an LSTM, GRU (reset gate after the matmul) or
tanh RNN over time-major input projections, both directions at once as one
batched matmul per step, from zero state. Its gradient (`tf.custom_gradient`)
runs the backward recurrence in one loop that does only the `dz @ U^T` matmul
and the gate math; the recurrent-kernel gradient is then one matmul over all
steps. With `jit_compile=True` both loops are compiled by XLA.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

CELLS = {"lstm": 4, "gru": 3, "simple_rnn": 1}  # gates per cell

# -- one time step ------------------------------------------------------------------
# Gate order as Keras's: LSTM i, f, g (the candidate), o; GRU z, r, h with the
# reset gate applied after the recurrent matmul. Shapes (..., G*H) and (..., H).


def lstm_step(
    z: tf.Tensor, c: tf.Tensor, g_doubled: bool = True
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]:
    """One LSTM step.

    Args:
        z: (..., 4H) pre-activations x W + b + h U.
        c: (..., H) cell state.
        g_doubled: the g block of `z` is doubled (its weights pre-scaled by 2,
            as `FusedRNN` does): one sigmoid then gives every gate, as
            tanh(x) = 2 sigmoid(2x) - 1. False: `z` as Keras has it.
    Returns:
        (h, c, a): the new output and cell state, (..., H) each, and with
        `g_doubled` the sigmoid of `z` (..., 4H), which the gradient reuses
        (None otherwise).
    """
    if g_doubled:
        a = tf.sigmoid(z)
        i, f, g, o = tf.split(a, 4, axis=-1)
        g = 2.0 * g - 1.0
    else:
        a = None
        i, f, g, o = tf.split(z, 4, axis=-1)
        i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
    c = f * c + i * g
    return o * tf.tanh(c), c, a


def gru_step(
    x: tf.Tensor, rec: tf.Tensor, h: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """One GRU step (`reset_after=True`).

    Args:
        x: (..., 3H) input projection plus input bias.
        rec: (..., 3H) h U plus recurrent bias.
        h: (..., H) state.
    Returns:
        (h, s, hh, rh): the new state, sigmoid(z, r) (..., 2H), the candidate
        hh and the recurrent candidate input rh (..., H): what the gradient
        reuses.
    """
    hidden = h.shape[-1] if h.shape[-1] is not None else tf.shape(h)[-1]
    s = tf.sigmoid(x[..., : 2 * hidden] + rec[..., : 2 * hidden])
    z, r = tf.split(s, 2, axis=-1)
    rh = rec[..., 2 * hidden :]
    hh = tf.tanh(x[..., 2 * hidden :] + r * rh)
    return hh + z * (h - hh), s, hh, rh


def simple_step(x: tf.Tensor, rec: tf.Tensor) -> tf.Tensor:
    """One tanh-RNN step: (..., H) input projection plus bias, and h U."""
    return tf.tanh(x + rec)


# -- the recurrences ---------------------------------------------------------------
# Shapes: D directions, T time steps, B batch, H units, G gates.
# xp (D, T, B, G*H): input projections plus input bias, time-major per direction.
# u (D, H, G*H): recurrent kernels. Per-step tensors are (D, B, ...).


def _loop(
    body: Callable,
    steps: tf.Tensor,
    carry: tuple[tf.Tensor, ...],
    out_like: Sequence[tf.Tensor],
    reverse: bool,
    parallel_iterations: int,
) -> list[tf.Tensor]:
    """Runs `carry, outs = body(t, carry)` for t in range(steps) (or reversed)
    and returns each of `outs` stacked over t: (steps, *out.shape)."""
    tas = tuple(
        tf.TensorArray(o.dtype, size=steps, element_shape=o.shape) for o in out_like
    )

    def step(i, carry, tas):
        t = steps - 1 - i if reverse else i
        carry, outs = body(t, carry)
        return i + 1, carry, tuple(ta.write(t, o) for ta, o in zip(tas, outs))

    _, _, tas = tf.while_loop(
        lambda i, *_: i < steps,
        step,
        (tf.constant(0), carry, tas),
        parallel_iterations=parallel_iterations,
        maximum_iterations=steps,
    )
    return [ta.stack() for ta in tas]


def _by(u: tf.Tensor) -> Callable[[tf.Tensor], tf.Tensor]:
    """`x -> x @ u` for the loops' per-step products, x (D, B, K), u (D, K, N).
    XLA on CPU runs this batched dot with D = 1 at batch 1 about 10-30x slower
    than a 2-D one (docs/performance.md): a single direction (D static 1)
    uses the 2-D product of its one matrix, sliced once outside the loop."""
    if u.shape[0] == 1:
        u2 = u[0]
        return lambda x: tf.matmul(x[0], u2)[None]
    return lambda x: tf.matmul(x, u)


def _shifted(seq: tf.Tensor) -> tf.Tensor:
    """(T, ...) -> the same sequence one step later, zeros first (x[t - 1])."""
    return tf.concat([tf.zeros_like(seq[:1]), seq[:-1]], axis=0)


def _transposed(u: tf.Tensor) -> tf.Tensor:
    """(D, H, G*H) -> (D, G*H, H), once before a backward loop: a per-step
    `matmul(dz, u, transpose_b=True)` runs several times slower on CPU."""
    return tf.transpose(u, (0, 2, 1))


def _recurrent_grad(h: tf.Tensor, dz: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """dxp and dU from the per-step pre-activation gradients, in one matmul.

    Args:
        h: (T, D, B, H) outputs; the step t input state is h[t - 1].
        dz: (T, D, B, G*H) gradient of the recurrent pre-activations.
    Returns:
        dz as (D, T, B, G*H) and dU (D, H, G*H).
    """
    d, hidden, width = tf.shape(h)[1], tf.shape(h)[3], tf.shape(dz)[3]
    dz = tf.transpose(dz, (1, 0, 2, 3))
    h_prev = tf.transpose(_shifted(h), (1, 0, 2, 3))
    du = tf.matmul(
        tf.reshape(h_prev, (d, -1, hidden)),
        tf.reshape(dz, (d, -1, width)),
        transpose_a=True,
    )
    return dz, du


def _lstm_forward(xp, u, parallel_iterations):
    """LSTM recurrence. The g-gate columns of xp and u are pre-scaled by 2, so
    one sigmoid gives every gate (tanh(x) = 2 sigmoid(2x) - 1).

    Returns: h (T, D, B, H), gate activations a (T, D, B, 4H), c (T, D, B, H).
    """
    steps = tf.shape(xp)[1]
    # tf.shape, not u.shape: a retrace with relaxed shapes (reduce_retracing)
    # leaves the static width unknown, and `: None` would keep all 4H columns.
    zeros = tf.zeros_like(xp[:, 0, :, : tf.shape(u)[1]])
    by_u = _by(u)

    def body(t, carry):
        h, c = carry
        h, c, a = lstm_step(tf.gather(xp, t, axis=1) + by_u(h), c)
        return (h, c), (h, a, c)

    return _loop(
        body, steps, (zeros, zeros), (zeros, xp[:, 0], zeros), False,
        parallel_iterations,
    )  # fmt: skip


def _lstm_outputs_xla(xp, u, parallel_iterations):
    """`_lstm_forward`'s h alone (T, D, B, H), for inference under XLA: the
    gate activations and cell states that only the gradient reads are not
    stored (docs/performance.md). `_lstm_inference` calls it once per
    direction (D = 1, so `_by` gives 2-D products): the calls run on two
    cores at once."""
    steps = tf.shape(xp)[1]
    zeros = tf.zeros_like(xp[:, 0, :, : tf.shape(u)[1]])
    by_u = _by(u)

    def body(t, carry):
        h, c = carry
        h, c, _ = lstm_step(tf.gather(xp, t, axis=1) + by_u(h), c)
        return (h, c), (h,)

    return _loop(body, steps, (zeros, zeros), (zeros,), False, parallel_iterations)


def _lstm_backward(dh_all, h, a, c, u, parallel_iterations):
    """Gradients of `_lstm_forward`: (dxp (D, T, B, 4H), du (D, H, 4H))."""
    steps, by_ut = tf.shape(a)[0], _by(_transposed(u))
    c_prev_all = _shifted(c)
    zeros = tf.zeros_like(dh_all[0])

    def body(t, carry):
        dh_next, dc_next = carry
        a_t = a[t]
        i, f, g, o = tf.split(a_t, 4, axis=-1)
        tc = tf.tanh(c[t])
        dh = dh_all[t] + dh_next
        dc = dc_next + dh * o * (1.0 - tc * tc)
        da = tf.concat(
            [dc * (2.0 * g - 1.0), dc * c_prev_all[t], 2.0 * dc * i, dh * tc], -1
        )
        dz = da * a_t * (1.0 - a_t)
        return (by_ut(dz), dc * f), (dz,)

    (dz,) = _loop(body, steps, (zeros, zeros), (a[0],), True, parallel_iterations)
    return _recurrent_grad(h, dz)


def _gru_forward(xp, u, br, parallel_iterations):
    """GRU recurrence (reset gate after the matmul), gates z, r, h.

    Args: br: (D, 1, 3H) recurrent bias.
    Returns: h (T, D, B, H), sigmoid(z, r) (T, D, B, 2H), candidate hh and
        recurrent candidate input rh (T, D, B, H) each.
    """
    steps, hidden = tf.shape(xp)[1], tf.shape(u)[1]  # see _lstm_forward
    zeros = tf.zeros_like(xp[:, 0, :, :hidden])
    by_u = _by(u)

    def body(t, carry):
        (h,) = carry
        h, s, hh, rh = gru_step(tf.gather(xp, t, axis=1), by_u(h) + br, h)
        return (h,), (h, s, hh, rh)

    return _loop(
        body, steps, (zeros,), (zeros, xp[:, 0, :, : 2 * hidden], zeros, zeros),
        False, parallel_iterations,
    )  # fmt: skip


def _gru_backward(dh_all, h, s, hh, rh, u, parallel_iterations):
    """Gradients of `_gru_forward`: dxp (D, T, B, 3H), du, dbr (D, 1, 3H)."""
    steps, by_ut = tf.shape(s)[0], _by(_transposed(u))
    h_prev_all = _shifted(h)
    zeros = tf.zeros_like(dh_all[0])

    def body(t, carry):
        (dh_next,) = carry
        z, r = tf.split(s[t], 2, axis=-1)
        hh_t = hh[t]
        dh = dh_all[t] + dh_next
        dz = dh * (h_prev_all[t] - hh_t) * z * (1.0 - z)
        dah = dh * (1.0 - z) * (1.0 - hh_t * hh_t)
        dr = dah * rh[t] * r * (1.0 - r)
        drec = tf.concat([dz, dr, dah * r], -1)
        dh_prev = dh * z + by_ut(drec)
        return (dh_prev,), (tf.concat([dz, dr, dah], -1), drec)

    dxp, drec = _loop(
        body, steps, (zeros,), (tf.concat([s[0], hh[0]], -1),) * 2, True,
        parallel_iterations,
    )  # fmt: skip
    dxp = tf.transpose(dxp, (1, 0, 2, 3))
    drec, du = _recurrent_grad(h, drec)
    return dxp, du, tf.reduce_sum(drec, axis=(1, 2))[:, None]


def _simple_forward(xp, u, parallel_iterations):
    """tanh RNN recurrence. Returns h (T, D, B, H)."""
    steps = tf.shape(xp)[1]
    zeros = tf.zeros_like(xp[:, 0])
    by_u = _by(u)

    def body(t, carry):
        h = simple_step(tf.gather(xp, t, axis=1), by_u(carry[0]))
        return (h,), (h,)

    return _loop(body, steps, (zeros,), (zeros,), False, parallel_iterations)


def _simple_backward(dh_all, h, u, parallel_iterations):
    """Gradients of `_simple_forward`: (dxp (D, T, B, H), du (D, H, H))."""
    steps, by_ut = tf.shape(h)[0], _by(_transposed(u))

    def body(t, carry):
        h_t = h[t]
        dz = (dh_all[t] + carry[0]) * (1.0 - h_t * h_t)
        return (by_ut(dz),), (dz,)

    zeros = tf.zeros_like(dh_all[0])
    (dz,) = _loop(body, steps, (zeros,), (zeros,), True, parallel_iterations)
    return _recurrent_grad(h, dz)


def _no_tape(*tensors: tf.Tensor) -> list[tf.Tensor]:
    """The tensors, unwatched: the loops run without an autodiff record (an
    XLA function called under a tape would hand its loop state back to TF)."""
    return [tf.stop_gradient(t) for t in tensors]


_XLA: dict[Callable, Callable] = {}


def _compiled(fn: Callable, jit: bool) -> Callable:
    """`fn`, or `fn` compiled by XLA (one cached tf.function per function)."""
    if not jit:
        return fn
    if fn not in _XLA:
        _XLA[fn] = tf.function(fn, jit_compile=True, reduce_retracing=True)
    return _XLA[fn]


def recurrence(
    cell: str,
    xp: tf.Tensor,
    u: tf.Tensor,
    recurrent_bias: tf.Tensor | None = None,
    jit_compile: bool = False,
    parallel_iterations: int = 32,
    inference: bool = False,
) -> tf.Tensor:
    """Runs the recurrence of `cell` from zero state, with a hand-written gradient.

    Args:
        cell: "lstm", "gru" or "simple_rnn".
        xp: (D, T, B, G*H) input projections plus input bias; for the LSTM the
            g-gate block pre-scaled by 2.
        u: (D, H, G*H) recurrent kernels (LSTM: g block pre-scaled by 2).
        recurrent_bias: GRU only, (D, 1, 3H).
        jit_compile: compile the forward and backward loops with XLA.
        parallel_iterations: of the `tf.while_loop`s.
        inference: with `jit_compile`, an LSTM runs a loop that keeps only h
            (`_lstm_outputs_xla`); a gradient is still right (it reruns the
            training loop first), only slower: for `training=False`.
    Returns:
        (T, D, B, H) hidden states.
    """
    if inference and jit_compile and cell == "lstm":
        h = _lstm_inference(xp, u, parallel_iterations)
    else:
        h = _recurrence(cell, xp, u, recurrent_bias, jit_compile, parallel_iterations)
    # The compiled loops are shared by every layer and retraced with relaxed
    # shapes (reduce_retracing): restore the static shape they lose.
    return tf.ensure_shape(h, [xp.shape[1], xp.shape[0], xp.shape[2], u.shape[1]])


def _lstm_inference(xp, u, p) -> tf.Tensor:
    """The XLA LSTM keeping only h, one compiled call per direction; its
    gradient reruns the training loop."""

    directions = xp.shape[0]
    if directions is None:
        raise ValueError("the XLA inference loop needs a static number of directions")

    @tf.custom_gradient
    def run(xp, u):
        xp_, u_ = _no_tape(xp, u)
        one = _compiled(_lstm_outputs_xla, True)
        # Independent calls: TensorFlow runs the two directions concurrently.
        h = tf.concat(
            [one(xp_[d : d + 1], u_[d : d + 1], p)[0] for d in range(directions)],
            axis=1,
        )

        def grad(dh):
            h, a, c = _compiled(_lstm_forward, True)(*_no_tape(xp, u), p)
            return _compiled(_lstm_backward, True)(dh, h, a, c, u, p)

        return h, grad

    return run(xp, u)


def _recurrence(cell, xp, u, recurrent_bias, jit_compile, p) -> tf.Tensor:

    if cell == "lstm":
        fwd, bwd = (
            _compiled(_lstm_forward, jit_compile),
            _compiled(_lstm_backward, jit_compile),
        )

        @tf.custom_gradient
        def run(xp, u):
            h, a, c = fwd(*_no_tape(xp, u), p)
            return h, lambda dh: bwd(dh, h, a, c, u, p)

        return run(xp, u)
    if cell == "gru":
        fwd, bwd = (
            _compiled(_gru_forward, jit_compile),
            _compiled(_gru_backward, jit_compile),
        )

        @tf.custom_gradient
        def run_gru(xp, u, br):
            h, s, hh, rh = fwd(*_no_tape(xp, u, br), p)
            return h, lambda dh: bwd(dh, h, s, hh, rh, u, p)

        return run_gru(xp, u, recurrent_bias)
    if cell == "simple_rnn":
        fwd, bwd = (
            _compiled(_simple_forward, jit_compile),
            _compiled(_simple_backward, jit_compile),
        )

        @tf.custom_gradient
        def run_simple(xp, u):
            (h,) = fwd(*_no_tape(xp, u), p)
            return h, lambda dh: bwd(dh, h, u, p)

        return run_simple(xp, u)
    raise ValueError(f"cell: unknown {cell!r}; known: {sorted(CELLS)}")


def bucketed_steps(steps: tf.Tensor) -> tf.Tensor:
    """`steps` rounded up to a multiple of 2^(floor(log2(steps)) - 3): one of 8
    lengths per octave, so XLA compiles a few shapes, not one per length."""
    n = tf.cast(tf.maximum(steps, 1), tf.float64)
    octave = tf.math.floor(tf.math.log(n) / np.log(2.0))
    quantum = tf.cast(2.0 ** tf.maximum(octave - 3.0, 0.0), steps.dtype)
    return -(-steps // quantum) * quantum
