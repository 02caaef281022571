"""Recurrent layers.

- `layer.py`: `FusedRNN`, the fast (Bi)LSTM / GRU / SimpleRNN layer, and
  `make_rnn` (Keras's layer or the fused one, same function and weights);
- `recurrence.py`: the cell maths, written once: one time step of each cell
  (also what `asr.streaming` runs) and the whole-sequence loops with their
  hand-written gradients;
- `convert.py`: `fuse_model` / `unfuse_model`, a whole network's Keras RNN
  layers <-> `FusedRNN`, weights included.
"""
