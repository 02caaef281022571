"""Where the tests find the shared digit corpus and its committed manifests."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
# Development data beside the project root; tests using it skip without it.
SHARED_FSDD = PROJECT.parent / "shared/data/fsdd_speech_commands"
# Its splits as `asr prepare speech-commands` lists them (data_manifests/README.md).
FSDD_MANIFESTS = PROJECT / "data_manifests/fsdd"
