"""The `asr` command: the only place that parses argv, prints and sets up logging.

Every subcommand (`asr.cli.commands`) forwards to one library function; the
argument parser is `asr.cli.parser`. Usage and input errors exit with status 2
and one line naming the file or key (`--verbose` shows the traceback).
"""

from __future__ import annotations

import logging
import os
import sys

from asr.cli.parser import build_parser


def _setup_logging(verbose: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "bad input", reported in one line (imported
    here, not at the top: `asr --help` stays instant)."""
    from asr.audio import AudioLoadError
    from asr.config import ConfigError
    from asr.datasets.download import DownloadError
    from asr.datasets.kaldi import KaldiDataError
    from asr.manifest import ManifestError

    return (
        AudioLoadError,
        ConfigError,
        ManifestError,
        DownloadError,
        KaldiDataError,
        FileNotFoundError,  # includes asr.checkpoint.ModelNotFoundError
        FileExistsError,  # an output that would overwrite something else
        NotADirectoryError,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    bad_input = user_errors()

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("asr: interrupted", file=sys.stderr)
        return 130
    except bad_input as e:
        if args.verbose:
            raise
        print(f"asr {args.command}: error: {e}", file=sys.stderr)
        return 2
