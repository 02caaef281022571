"""CTC beam search with a word n-gram LM in C++: flashlight-text's lexicon decoder.

The search runs in C++ instead of pyctcdecode's pure Python, at the same WER
(docs/performance.md has the comparison), which is what brings LM decoding into a
real-time budget. The price is the lexicon:
output words come from the LM's unigram list (a word the LM has never seen cannot
be produced; pyctcdecode can, with a penalty) and hotwords are not supported, so
`asr.decoding.ngram.LMDecoder` routes hotword requests to pyctcdecode.

`flashlight-text` is part of the `[lm]` extra and imported only here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import numpy as np

from asr import text as text_lib

logger = logging.getLogger(__name__)

_UNK = "<unk>"


class LexiconBeamDecoder:
    """Lexicon-constrained CTC beam search fused with a KenLM word model.

    Args:
        lm_path: ARPA or KenLM binary file.
        words: the lexicon; words with symbols outside `asr.text.VOCAB` are
            dropped (logged).
        alpha: LM weight.
        beta: score added per word.
        beam_width: hypotheses kept per frame.
        beam_size_token: characters tried per frame (the best ones).
        beam_threshold: hypotheses this far below the best are dropped.

    Raises:
        ImportError: flashlight-text is not installed.
        ValueError: no word of `words` can be spelled.
    """

    def __init__(
        self,
        lm_path: str | os.PathLike,
        words: Iterable[str],
        alpha: float = 1.0,
        beta: float = 0.0,
        beam_width: int = 32,
        beam_size_token: int = 8,
        beam_threshold: float = 15.0,
    ) -> None:
        from flashlight.lib.text.decoder import (
            CriterionType,
            LexiconDecoder,
            LexiconDecoderOptions,
            SmearingMode,
            Trie,
        )
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary

        symbols = set(text_lib.CHARS) - {" "}
        words = sorted(set(words))
        spellable = [w for w in words if w and set(w) <= symbols]
        if len(spellable) < len(words):
            logger.info(
                "%s: %d LM words use symbols outside the vocabulary; left out",
                lm_path,
                len(words) - len(spellable),
            )
        if not spellable:
            raise ValueError(
                f"{lm_path}: no LM word can be spelled with the vocabulary"
            )
        self._space = text_lib.VOCAB.index(" ")
        self._words = Dictionary([*spellable, _UNK])
        self._words.set_default_index(self._words.get_index(_UNK))
        self._lm = KenLM(str(lm_path), self._words)
        # Each word's spelling ends at a word boundary (the space); the trie's
        # scores are the words' unigram LM scores, smeared onto their prefixes so
        # partial words are ranked by the best word they can still become.
        trie = Trie(text_lib.vocab_size(), self._space)
        start = self._lm.start(False)
        for word in spellable:
            index = self._words.get_index(word)
            _, score = self._lm.score(start, index)
            spelling = [text_lib.VOCAB.index(c) for c in word] + [self._space]
            trie.insert(spelling, index, score)
        trie.smear(SmearingMode.MAX)
        options = LexiconDecoderOptions(
            beam_size=beam_width,
            beam_size_token=beam_size_token,
            beam_threshold=beam_threshold,
            lm_weight=alpha,
            word_score=beta,
            unk_score=float("-inf"),
            sil_score=0.0,
            log_add=False,
            criterion_type=CriterionType.CTC,
        )
        self._decoder = LexiconDecoder(
            options,
            trie,
            self._lm,
            self._space,
            text_lib.BLANK,
            self._words.get_index(_UNK),
            [],
            False,
        )
        # A word is only emitted at a boundary, so every utterance gets one
        # final frame that is certainly a space: the last word is then complete.
        self._end = np.full((1, text_lib.vocab_size()), -30.0, np.float32)
        self._end[0, self._space] = 0.0

    def decode(self, log_probs: np.ndarray) -> str:
        """Best transcript of (frames, vocab) log-probabilities."""
        return self.decode_nbest(log_probs)[0][0]

    def decode_nbest(self, log_probs: np.ndarray) -> list[tuple[str, float]]:
        """The final beam's transcripts with their scores (acoustic + weighted
        LM + word scores), best first."""
        x = np.ascontiguousarray(np.concatenate([log_probs, self._end]), np.float32)
        results = self._decoder.decode(x.ctypes.data, x.shape[0], x.shape[1])
        pairs = [
            (
                " ".join(self._words.get_entry(i) for i in r.words if i >= 0),
                float(r.score),
            )
            for r in results
        ]
        return sorted(pairs, key=lambda p: -p[1]) or [("", 0.0)]
