"""The `asr` command: the only place that parses argv, prints and sets up logging.

Every subcommand (`asr.cli.commands`, `asr.cli.transcribe` and the other
modules here) forwards to one library function; the argument parser is
`asr.cli.parser`. Usage and input errors exit with status 2
and one line naming the file or key (`--verbose` shows the traceback). A write
that fails on a full or failing disk exits with status 1 and one line naming
the file (`asr.files.WriteError`; the previous file is kept). A job stopped
cleanly by SIGTERM or Ctrl+C (`asr.interrupts.Interrupted`: training saved its
state, `transcribe` finished its current file) exits with status 75 and one
line saying how to go on.
"""

from __future__ import annotations

import logging
import os
import sys

from asr.cli.parser import build_parser

# Commands whose work imports TensorFlow.
TF_COMMANDS = (
    "train",
    "evaluate",
    "transcribe",
    "stream",
    "serve",
    "export",
    "demo",
    "lm",
    "tune",
    "crossval",
)


def _quiet_tensorflow() -> None:
    """Imports TensorFlow with its C++ start-up lines ("oneDNN custom
    operations are on...", "All log messages before absl::InitializeLog()...")
    kept off the terminal: they are written to file descriptor 2 during the
    import, before `TF_CPP_MIN_LOG_LEVEL` takes effect. Later C++ messages
    below ERROR are off too. The devices are listed inside the same quiet
    window: on a machine without a GPU, TensorFlow's CUDA build otherwise logs
    "failed call to cuInit" at its first device query. Only the CLI does this
    (`--verbose` skips it); an import error still raises, with its Python
    message."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not verbose:
        # TensorFlow's warnings (e.g. tf.function retracing on utterances of new
        # lengths) are about its internals, not the user's input.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "bad input", reported in one line (imported
    here, not at the top: `asr --help` stays instant)."""
    from asr.audio import AudioLoadError
    from asr.config import ConfigError
    from asr.datasets.download import DownloadError
    from asr.datasets.kaldi import KaldiDataError
    from asr.lm.model import LMConfigError
    from asr.lm.perplexity import ArpaError
    from asr.lm.vocabulary import VocabularyError
    from asr.manifest import ManifestError

    return (
        AudioLoadError,
        ConfigError,
        ManifestError,
        DownloadError,
        KaldiDataError,
        LMConfigError,
        VocabularyError,
        ArpaError,
        FileNotFoundError,  # includes asr.checkpoint.ModelNotFoundError
        FileExistsError,  # an output that would overwrite something else
        NotADirectoryError,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verbose and args.command in TF_COMMANDS:
        _quiet_tensorflow()
    _setup_logging(args.verbose)
    bad_input = user_errors()
    from asr.files import disk_error
    from asr.interrupts import INTERRUPTED_EXIT, Interrupted

    try:
        return args.func(args)
    except Interrupted as e:
        print(f"asr {args.command}: {e}", file=sys.stderr)
        return INTERRUPTED_EXIT
    except KeyboardInterrupt:
        print("asr: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if args.verbose:
            raise
        if isinstance(e, bad_input):
            print(f"asr {args.command}: error: {e}", file=sys.stderr)
            return 2
        cause = disk_error(e)
        if cause is None:
            raise
        print(f"asr {args.command}: error: {_disk_message(e, cause)}", file=sys.stderr)
        return 1


def _disk_message(error: BaseException, cause: OSError) -> str:
    """One line for a full or failing disk: `asr.files.WriteError` names the
    file; other writers' errors (e.g. Keras's CSV logger) name it when they
    know it."""
    from asr.files import WriteError

    if isinstance(error, WriteError):
        return str(error)
    where = f"{cause.filename}: " if cause.filename else ""
    return f"{where}{cause.strerror or cause}"
