"""The word-level LSTM language model (`asr lm train|perplexity|tune-weight`).

- `vocabulary.py`: words <-> ids, the n-gram's `<unk>`/`<s>`/`</s>` convention;
- `model.py`: `LMConfig`, the Keras network, `LanguageModel` (sentence scores);
- `train.py`: `train_lm`, resumable, with history and learning curve;
- `perplexity.py`: per-word perplexity of the LSTM and of an ARPA n-gram;
- `rescore.py`: N-best rescoring (`Rescorer`) and tuning its weight.

Decoding uses it through `asr.transcribe.Recognizer.decode(rescore=...)`.
"""
