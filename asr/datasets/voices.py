"""The synthetic corpus's voice partition: espeak-ng variants split by family.

A voice is an accent (an espeak-ng language voice such as `en-us`,
`en-gb-scotland`) optionally followed by `+variant`, one of the ~100 timbre files
in `espeak-ng-data/voices/!v` (`en-us+f3`, `en-029+klatt4`). Variants that share a
formant table, or a name up to trailing digits (`iven`..`iven4`), form one family:
the same vocal tract with another pitch, synthesiser or echo. `split_voices`
partitions families, never single voices: about 10% of the variants go to dev,
10% to test and 5% to "demo" (used by no split; see `held_out_voices`), counted per
gender so each has female voices; the rest, always including the plain voices and
the default vocal tract (`klatt*`), go to train. So no dev, test or demo timbre is
heard in training. The accents are shared by all splits: too few to hold out.
Deterministic: the same voices and seed give the same partition.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

from asr.datasets.espeak import _catalog, _paths, list_voices

VOICE_SPLIT = {"dev": 0.10, "test": 0.10, "demo": 0.05}  # of variants, per gender


def _variant_families(variants: Sequence[str]) -> dict[str, str]:
    """Variant -> family key. One family: same formant table, or same name up to
    trailing digits (`steph`, `steph2`); no formants means the default tract ("")."""
    voices_dir = Path(_paths()[1]) / "voices" / "!v"
    parent = {v: v for v in variants}

    def find(v: str) -> str:
        while parent[v] != v:
            v = parent[v]
        return v

    groups: dict[str, list[str]] = {}
    for v in variants:
        stem = re.sub(r"\d+$", "", v.lower())
        keys = [f"stem:{stem}"] if len(stem) > 1 else []
        try:
            text = (voices_dir / v).read_text(encoding="utf-8", errors="replace")
        except OSError:  # not an espeak-ng variant: a family of its own
            text = None
        if text is not None:
            formants = sorted(
                " ".join(line.split("//")[0].split())
                for line in text.splitlines()
                if re.match(r"\s*formant\s", line)
            )
            keys.append("formants:" + "|".join(formants) if formants else "default")
        for key in keys:
            groups.setdefault(key, []).append(v)
    for members in groups.values():
        for v in members[1:]:
            parent[find(v)] = find(members[0])
    default = {find(v) for v in groups.get("default", [])}
    return {v: "" if find(v) in default else find(v) for v in variants}


def split_voices(voices: Sequence[str], seed: int = 0) -> dict[str, list[str]]:
    """Partitions voices into train / dev / test / demo by variant family.

    Plain voices and the default vocal tract always go to train. The other
    families, in an order shuffled by `seed`, fill dev, test and demo up to
    fractions `VOICE_SPLIT` of the variants, counted separately for female and
    male variants (at least one family each); families too big for the room left
    go to train. A family's voices, all accents included, land in one split.

    Args:
        voices: names as from `list_voices()`.
        seed: shuffles the families; the same seed gives the same partition.
    Returns:
        {"train", "dev", "test", "demo"} -> sorted, disjoint voice lists.
    Raises:
        ValueError: fewer than 4 variant families to share out.
    """
    variants = sorted({v.partition("+")[2] for v in voices} - {""})
    family = {"": "", **_variant_families(variants)}
    members: dict[str, list[str]] = {}
    for v in variants:
        if family[v]:
            members.setdefault(family[v], []).append(v)
    if len(members) < 4:
        raise ValueError(
            f"split_voices: {len(members)} variant families, need at least 4 "
            "(pass voices with more variants, e.g. list_voices())"
        )
    keys = sorted(members)
    random.Random(seed).shuffle(keys)
    # Quotas per gender, so no held-out split ends up all male; a family is
    # female when most of its variants are.
    female = _catalog().female
    is_female = {
        k: 2 * sum(v in female for v in members[k]) > len(members[k]) for k in keys
    }
    room, in_train = {}, {}
    for g in (False, True):
        size = sum(len(members[k]) for k in keys if is_female[k] == g)
        in_train[g] = sum(is_female[k] == g for k in keys)
        room.update({(s, g): max(1, round(f * size)) for s, f in VOICE_SPLIT.items()})
    where: dict[str, str] = dict.fromkeys(["", *keys], "train")
    for key in keys:  # families too big for the room left stay in train
        g, size = is_female[key], len(members[key])
        split = next((s for s in VOICE_SPLIT if size <= room[s, g]), "train")
        if split != "train" and in_train[g] > 1:  # train keeps both genders
            where[key] = split
            room[split, g] -= size
            in_train[g] -= 1
    for split in VOICE_SPLIT:  # small voice sets: still one family each if possible
        spare = [k for k in keys if where[k] == "train"]
        if split not in where.values() and len(spare) > 1:
            where[min(spare, key=lambda k: len(members[k]))] = split
    out: dict[str, list[str]] = {s: [] for s in ("train", *VOICE_SPLIT)}
    for v in voices:
        out[where[family[v.partition("+")[2]]]].append(v)
    return {s: sorted(vs) for s, vs in out.items()}


def held_out_voices(language_prefix: str = "en", seed: int = 0) -> list[str]:
    """Voices that `prepare_synthetic(voice_seed=seed)` puts in no split, for demos
    on speakers a model never heard."""
    return split_voices(list_voices(language_prefix), seed)["demo"]
