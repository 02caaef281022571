"""The README agrees with the code: its layout with the package tree, its
command lines with the `asr` argument parser.

- The `## Layout` block lists exactly the modules and subpackages of `asr/`:
  every `.py` file but `__init__.py` / `__main__.py` and every folder directly
  in `asr/`, no more, no less. A line `asr/NAME` names a top-level entry; a line
  indented by four spaces names an entry of the folder above it; deeper
  indented lines continue a description.
- Every `asr ...` command in a fenced `sh` block of the README and of
  `docs/*.md` parses with `asr.cli.parser.build_parser()` (subcommand, corpus,
  flags and values), every
  `asr WORD` in inline code names a real subcommand, and every subcommand and
  corpus of `asr prepare` is shown in a code block.

Fast: reads text files and builds the parser (no TensorFlow).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from asr.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PACKAGE = ROOT / "asr"


def _section(text: str, title: str) -> str:
    """The text of the `## title` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def _code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)


def layout_entries(readme: str) -> set[str]:
    """Paths (`asr/x.py`, `asr/sub/`, `asr/sub/y.py`) the layout block lists."""
    blocks = _code_blocks(_section(readme, "Layout"))
    assert len(blocks) == 1, "the Layout section should hold one code block"
    entries, parent = set(), None
    for number, line in enumerate(blocks[0][1].splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("asr/"):
            name = line.split()[0]
            entries.add(name)
            parent = name if name.endswith("/") else None
        elif re.match(r"    \S", line):
            assert parent, f"layout line {number} is indented under no folder: {line!r}"
            entries.add(parent + line.split()[0])
        elif not line.startswith("     "):
            pytest.fail(f"layout line {number} is neither an entry nor a continuation")
    return entries


def tree_entries(package: Path = PACKAGE) -> set[str]:
    """What the layout must list: modules and top-level folders of `asr/`."""
    out = {
        f"asr/{p.name}/"
        for p in package.iterdir()
        if p.is_dir() and not p.name.startswith((".", "__"))
    }
    for path in package.rglob("*.py"):
        rel = path.relative_to(package)
        if path.name in ("__init__.py", "__main__.py") or rel.parts[0] in (
            "pretrained",
            "assets",
        ):
            continue
        out.add("asr/" + rel.as_posix())
    return out


def test_layout_lists_exactly_the_package_tree():
    listed = layout_entries(README.read_text(encoding="utf-8"))
    actual = tree_entries()
    assert len(actual) > 30  # the tree was found
    assert not actual - listed, (
        f"missing from the README layout: {sorted(actual - listed)}"
    )
    assert not listed - actual, (
        f"in the README layout, not in asr/: {sorted(listed - actual)}"
    )


def test_layout_parser_sees_indented_entries():
    block = (
        "## Layout\n\n```\nasr/a.py     one\n                 more\nasr/sub/     s\n"
        "    b.py         two\n```\n"
    )
    assert layout_entries(block) == {"asr/a.py", "asr/sub/", "asr/sub/b.py"}


def asr_command_lines(readme: str) -> list[list[str]]:
    """The argument lists of every `asr ...` command in the fenced `sh` blocks."""
    commands = []
    for language, body in _code_blocks(readme):
        if language not in ("sh", "bash", "console"):
            continue  # output, Python, JSON and the layout hold no commands
        for line in body.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;", line):
                if not re.match(r"\s*(\S*/)?asr\s", part):
                    continue  # not an asr command (it may not even be shell)
                words = shlex.split(part, comments=True)
                if words and (words[0] == "asr" or words[0].endswith("/asr")):
                    commands.append(words[1:])
    return commands


def _subparsers(parser) -> dict:
    """Name -> parser of a parser's subcommands."""
    for action in parser._actions:
        if action.choices and hasattr(action, "_name_parser_map"):
            return dict(action._name_parser_map)
    return {}


README_TEXT = README.read_text(encoding="utf-8")
COMMANDS = asr_command_lines(README_TEXT)
DOC_COMMANDS = [
    (path.name, argv)
    for path in sorted((ROOT / "docs").glob("*.md"))
    for argv in asr_command_lines(path.read_text(encoding="utf-8"))
]


def test_readme_shows_commands():
    assert len(COMMANDS) >= 15


def _check_parses(argv: list[str], where: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(
                f"{where}: `asr {' '.join(argv)}` does not parse:\n{err.getvalue()}"
            )
    assert args.command == argv[0]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_readme_command_parses(argv):
    _check_parses(argv, "README.md")


def test_docs_commands_parse():
    assert DOC_COMMANDS  # docs/ shows commands too
    for name, argv in DOC_COMMANDS:
        _check_parses(argv, f"docs/{name}")


def test_every_subcommand_and_corpus_is_shown():
    subcommands = _subparsers(build_parser())
    shown = {c[0] for c in COMMANDS if c}
    assert set(subcommands) <= shown, f"not in the README: {set(subcommands) - shown}"
    corpora = set(_subparsers(subcommands["prepare"]))
    shown = {c[1] for c in COMMANDS if c[:1] == ["prepare"] and len(c) > 1}
    assert corpora <= shown, (
        f"`asr prepare` corpora not in the README: {corpora - shown}"
    )


def test_inline_asr_commands_are_real():
    subcommands = set(_subparsers(build_parser()))
    named = re.findall(r"`(?:\S*/)?asr ([a-z][a-z-]*)", README_TEXT)
    assert named
    assert set(named) <= subcommands, f"unknown: {set(named) - subcommands}"


def test_bad_command_is_caught():
    """The parse check can fail: an unknown flag does not parse."""
    bad = asr_command_lines("```sh\nasr train --config c.yaml --out r --bogus 1\n```\n")
    assert bad == [["train", "--config", "c.yaml", "--out", "r", "--bogus", "1"]]
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        build_parser().parse_args(bad[0])
