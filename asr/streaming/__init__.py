"""Streaming recognition: a causal model fed audio chunk by chunk.

- `recognizer.py`: `StreamingRecognizer`: audio and carried state through the
  step, endpointing, `accept_waveform` / `pop_finals` / `finalize`;
- `step.py`: `StreamStep`, the compiled step graph, its shapes and state specs;
- `state.py`: `StreamState`, what one stream carries between chunks, and its
  greedy decoding with endpointing;
- `layers.py`: the causal network's layers read for the step; `rnn_chunk`;
- `tflite.py`: the same step converted to TFLite and run by its interpreter;
- `microphone.py`: live microphone input and file replay;
- `keywords.py`: `KeywordSpotter`, a keyword classifier over a sliding window
  (the same interface, so file replay and the microphone feed it too).

`StreamingError` (here, so that every module raises the same one): the model
or the options cannot stream.
"""


class StreamingError(ValueError):
    """The model cannot stream (bidirectional, not causal, classifier head), or
    a streaming option is bad."""
