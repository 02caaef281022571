"""CTC beam search with a word n-gram language model (KenLM): `LMDecoder`.

Two backends: flashlight-text's C++ lexicon decoder (`asr.decoding.lexicon`)
and pyctcdecode (pure Python, here). Both are optional (`pip install
'asr[lm]'`) and imported only when an `LMDecoder` is built. To make an LM from
training transcripts without KenLM's `lmplz`: `asr.decoding.arpa.build_arpa`.

The LM weight (alpha) and word bonus (beta) that suit an LM depend on the
acoustic model and the LM: `asr lm tune-ngram` chooses them on a dev set and
can store them beside the LM (`lm.arpa` -> `lm.weights.json`, `tuned_weights`),
where an `LMDecoder` given no weights finds them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from asr import text as text_lib
from asr.decoding.arpa import read_arpa_unigrams
from asr.decoding.ctc import log_softmax

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'asr[lm]'"
# pyctcdecode labels: blank is "" and stays at index 0; the rest as in text.VOCAB.
LABELS: tuple[str, ...] = tuple(
    "" if i == text_lib.BLANK else s for i, s in enumerate(text_lib.VOCAB)
)


BACKENDS = ("auto", "flashlight", "pyctcdecode")
# LM weight and word bonus per backend, chosen on the bundled synth-en model's dev
# split (the two score words differently, so they need their own values).
DEFAULT_WEIGHTS = {"flashlight": (1.0, 0.0), "pyctcdecode": (0.5, 1.0)}
WEIGHTS_SUFFIX = ".weights.json"  # lm.arpa -> lm.weights.json (`tuned_weights`)


def weights_path(lm_path: str | os.PathLike) -> Path:
    """Where the tuned weights of the LM file `lm_path` are stored."""
    return Path(lm_path).with_suffix(WEIGHTS_SUFFIX)


def tuned_weights(
    lm_path: str | os.PathLike, backend: str
) -> tuple[float, float] | None:
    """`(lm_weight, word_bonus)` stored beside `lm_path` by `asr lm tune-ngram
    --save` for `backend`, or None: no file, another backend's, or unreadable
    (logged)."""
    path = weights_path(lm_path)
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("backend") != backend:
            return None
        return float(stored["lm_weight"]), float(stored["word_bonus"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        logger.warning("%s: ignored, not tuned weights (%s)", path, e)
        return None


class LMDecoder:
    """CTC beam search with shallow fusion of a KenLM n-gram model.

    Two backends: `flashlight` (flashlight-text's C++ lexicon decoder, about 4x
    faster; output words come from the LM's word list) and `pyctcdecode`
    (pure Python; also decodes without an LM, boosts hotwords, and can produce
    words the LM lacks). `auto` takes flashlight for an ARPA LM without hotwords
    when flashlight-text is installed, pyctcdecode otherwise.

    Args:
        lm_path: ARPA or KenLM binary file; None decodes without an LM (hotwords
            still apply; pyctcdecode only).
        alpha: language model weight (None: `tuned_weights` of `lm_path`,
            else the backend's default).
        beta: word insertion bonus (None: likewise).
        beam_width: beams kept per frame.
        hotwords: words (or phrases) to boost; they need not be in the LM.
        hotword_weight: log-score bonus per hotword.
        unigrams: the LM's words; read from the file when it is ARPA.
        token_min_logp: per frame, characters below this log-prob are skipped
            (the frame's best is always tried; pyctcdecode only).
        beam_prune_logp: beams this far below the best are dropped.
        backend: one of `BACKENDS`.

    Raises:
        ImportError: the backend's package (or, with `lm_path`, kenlm) is not
            installed.
        FileNotFoundError: `lm_path` does not exist.
        ValueError: unknown backend, or flashlight asked for what it cannot do.
    """

    def __init__(
        self,
        lm_path: str | os.PathLike | None = None,
        alpha: float | None = None,
        beta: float | None = None,
        beam_width: int = 32,
        hotwords: Iterable[str] | None = None,
        hotword_weight: float = 10.0,
        unigrams: Iterable[str] | None = None,
        token_min_logp: float = -5.0,
        beam_prune_logp: float = -10.0,
        backend: str = "auto",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        lm_path = None if lm_path is None else str(lm_path)
        if lm_path is not None and not Path(lm_path).is_file():
            raise FileNotFoundError(f"{lm_path}: language model not found")
        if unigrams is None and lm_path is not None and lm_path.endswith(".arpa"):
            unigrams = read_arpa_unigrams(lm_path)
        self.lm_path = lm_path
        self.beam_width = beam_width
        self.hotwords = tuple(hotwords) if hotwords else ()
        self.hotword_weight = hotword_weight
        self.token_min_logp = token_min_logp
        self.beam_prune_logp = beam_prune_logp
        self.backend = self._pick_backend(backend, unigrams)
        default_alpha, default_beta = DEFAULT_WEIGHTS[self.backend]
        tuned = tuned_weights(lm_path, self.backend) if lm_path else None
        if tuned is not None and (alpha is None or beta is None):
            default_alpha, default_beta = tuned
            logger.info("%s: weights %s", weights_path(lm_path), tuned)
        self.alpha = default_alpha if alpha is None else alpha
        self.beta = default_beta if beta is None else beta
        if self.backend == "flashlight":
            from asr.decoding.lexicon import LexiconBeamDecoder

            self._decoder = LexiconBeamDecoder(
                lm_path,
                unigrams,
                alpha=self.alpha,
                beta=self.beta,
                beam_width=beam_width,
                beam_threshold=-beam_prune_logp,
            )
        else:
            self._decoder = _pyctcdecode_decoder(
                lm_path, unigrams, self.alpha, self.beta
            )

    def _pick_backend(self, backend: str, unigrams) -> str:
        flashlight_ok = self.lm_path is not None and unigrams is not None
        if backend == "flashlight":
            if self.hotwords or not flashlight_ok:
                raise ValueError(
                    "the flashlight backend needs an LM with a word list (an ARPA "
                    "file, or unigrams=) and takes no hotwords; use pyctcdecode"
                )
            _require("flashlight", "flashlight-text")
            return backend
        if backend == "auto" and flashlight_ok and not self.hotwords:
            if importlib.util.find_spec("flashlight") is not None:
                return "flashlight"
            logger.info("flashlight-text not installed; LM decoding with pyctcdecode")
        return "pyctcdecode"

    def decode(self, log_probs: np.ndarray, length: int | None = None) -> str:
        """Best transcript of one utterance.

        Args:
            log_probs: (frames, vocab) logits or log-probabilities.
            length: true number of frames; frames after it are padding.
        """
        x = self._prepare(log_probs, length)
        if x.shape[0] == 0:
            return ""
        if self.backend == "flashlight":
            return text_lib.tidy(self._decoder.decode(x))
        return text_lib.tidy(
            self._decoder.decode(
                x,
                beam_width=self.beam_width,
                beam_prune_logp=self.beam_prune_logp,
                token_min_logp=self.token_min_logp,
                hotwords=list(self.hotwords) or None,
                hotword_weight=self.hotword_weight,
            )
        )

    def decode_nbest(
        self, log_probs: np.ndarray, length: int | None = None, n: int = 16
    ) -> list[tuple[str, float]]:
        """The `n` best distinct transcripts of one utterance with their search
        scores (acoustic log-probability plus the weighted LM score and word
        bonuses), best first: what `asr.lm.rescore` rescores.

        Args:
            log_probs: (frames, vocab) logits or log-probabilities.
            length: true number of frames; frames after it are padding.
            n: at most this many (and at most `beam_width`).
        """
        x = self._prepare(log_probs, length)
        if x.shape[0] == 0:
            return [("", 0.0)]
        if self.backend == "flashlight":
            pairs = self._decoder.decode_nbest(x)
        else:
            beams = self._decoder.decode_beams(
                x,
                beam_width=self.beam_width,
                beam_prune_logp=self.beam_prune_logp,
                token_min_logp=self.token_min_logp,
                hotwords=list(self.hotwords) or None,
                hotword_weight=self.hotword_weight,
            )
            pairs = [(b[0], float(b[4])) for b in beams]
        best: dict[str, float] = {}
        for text, score in pairs:
            text = text_lib.tidy(text)
            best[text] = max(score, best.get(text, -np.inf))
        return sorted(best.items(), key=lambda kv: -kv[1])[:n]

    @staticmethod
    def _prepare(log_probs: np.ndarray, length: int | None) -> np.ndarray:
        x = np.asarray(log_probs)
        if x.ndim != 2 or x.shape[1] != len(LABELS):
            raise ValueError(
                f"log_probs: expected (frames, {len(LABELS)}), got {x.shape}"
            )
        if length is not None:
            x = x[: int(length)]
        # Both backends take log-probabilities (pyctcdecode would otherwise guess
        # probabilities vs logits from the row sums).
        return log_softmax(x.astype(np.float32))

    def decode_batch(
        self,
        log_probs: Sequence[np.ndarray] | np.ndarray,
        lengths: Sequence[int] | np.ndarray | None = None,
    ) -> list[str]:
        """Best transcript of each utterance.

        Args:
            log_probs: (batch, frames, vocab) array, or a list of (frames, vocab).
            lengths: (batch,) true frame counts; None means all frames.
        """
        if lengths is None:
            lengths = [None] * len(log_probs)
        return [self.decode(x, n) for x, n in zip(log_probs, lengths, strict=True)]


def _require(module: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"LM decoding needs {package}: {INSTALL_HINT}")


def _pyctcdecode_decoder(lm_path, unigrams, alpha: float, beta: float):
    try:
        import pyctcdecode
    except ImportError as e:
        raise ImportError(
            f"LM decoding needs pyctcdecode and kenlm: {INSTALL_HINT}"
        ) from e
    if lm_path is not None:
        try:
            import kenlm  # noqa: F401
        except ImportError as e:
            raise ImportError(
                f"LM decoding needs the kenlm module: {INSTALL_HINT}"
            ) from e
        if unigrams is None:
            logger.warning(
                "%s: binary LM without a unigram list; pass unigrams= for "
                "better partial-word scoring",
                lm_path,
            )
    return pyctcdecode.build_ctcdecoder(
        list(LABELS),
        kenlm_model_path=lm_path,
        unigrams=None if unigrams is None else sorted(set(unigrams)),
        alpha=alpha,
        beta=beta,
    )
