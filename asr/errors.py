"""The exceptions that mean "bad input", which the CLI reports in one line."""

from __future__ import annotations

from asr.audio import AudioLoadError
from asr.config import ConfigError
from asr.manifest import ManifestError


def _optional():
    errors = []
    try:
        from asr.datasets.download import DownloadError

        errors.append(DownloadError)
    except ImportError:  # pragma: no cover
        pass
    from asr.datasets.kaldi import KaldiDataError

    errors.append(KaldiDataError)
    return errors


USER_ERRORS: tuple[type[BaseException], ...] = (
    AudioLoadError,
    ConfigError,
    ManifestError,
    FileNotFoundError,  # includes transcribe.ModelNotFoundError
    NotADirectoryError,
    *_optional(),
)
