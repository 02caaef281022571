"""Checks of a command's inputs that run before any model is loaded.

Loading and converting a model takes seconds; a missing file, manifest or
folder named on the command line is reported first, in one line naming it.
Each check raises an error that `asr.cli.user_errors` reports (exit 2).
"""

from __future__ import annotations

import os
from pathlib import Path


def require_file(path: str | os.PathLike, what: str) -> Path:
    """`path` if it is a readable file.

    Raises:
        FileNotFoundError: missing, a folder, or not readable.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    if path.is_dir():
        raise FileNotFoundError(f"{path}: is a folder, expected the {what} file")
    if not os.access(path, os.R_OK):
        raise FileNotFoundError(f"{path}: {what} is not readable (permissions)")
    return path


def require_dir(path: str | os.PathLike, what: str) -> Path:
    """`path` if it is a readable folder.

    Raises:
        FileNotFoundError: missing or not readable.
        NotADirectoryError: a file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    if not path.is_dir():
        raise NotADirectoryError(f"{path}: not a folder (expected the {what})")
    if not os.access(path, os.R_OK | os.X_OK):
        raise FileNotFoundError(f"{path}: {what} is not readable (permissions)")
    return path


def require_model(model: str | os.PathLike) -> None:
    """The model names a bundled model, a run folder or a model file (found
    without loading it).

    Raises:
        asr.checkpoint.ModelNotFoundError: it does not.
    """
    from asr.checkpoint import resolve_model_path

    resolve_model_path(model)


def require_audio(path: str | os.PathLike) -> None:
    """`path` is an audio file whose header reads.

    Raises:
        asr.audio.AudioLoadError: missing, unreadable or empty.
    """
    from asr.audio import audio_info

    audio_info(path)


def require_rescore(folder: str | os.PathLike | None) -> None:
    """`--rescore FOLDER` (if given) holds an LSTM LM: `model.keras` and
    `vocab.txt` (`asr lm train`).

    Raises:
        FileNotFoundError: one is missing (names it).
    """
    if folder:
        for name in ("model.keras", "vocab.txt"):
            require_file(Path(folder) / name, "LSTM LM (asr lm train)")


def require_server() -> None:
    """The server's library (aiohttp) is installed.

    Raises:
        asr.streaming.server.ServerError: it is not (names the extra).
    """
    from asr.streaming.server import _web

    _web()


def require_free_port(host: str, port: int) -> None:
    """`host:port` can be listened on (not taken, an address of this machine).

    Raises:
        asr.streaming.server.ServerError: it cannot.
    """
    from asr.streaming.server import check_address

    check_address(host, port)
