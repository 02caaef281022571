"""Logits -> text.

- `ctc.py`: greedy and prefix beam search without an LM, word timestamps;
- `ngram.py`: `LMDecoder`, beam search with a KenLM word n-gram LM (backends:
  pyctcdecode, or flashlight-text's lexicon decoder in `lexicon.py`);
- `arpa.py`: building an ARPA n-gram LM from transcripts, reading its words.

The CTC loss is training's: `asr.training.loss`.
"""
