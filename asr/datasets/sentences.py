"""Generated English sentences for the synthetic corpus.

`generate_sentences(n, seed)` fills templates (statements, questions, requests,
with clauses) from word lists: names, places, things, verbs in every form,
numbers, days and times. Deterministic; a stream of distinct sentences.
`closed_vocabulary()` is every word it can say (about 950).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Iterator, Sequence

_NAMES = """
    alice bob carol daniel emma frank grace henry isabel jack kate lucy mark nina
    oliver paul rachel sam sophie tom anna ben chloe david ella george hannah james
    laura michael olivia peter ruth simon thomas victoria william zoe maria carlos
    yuki ahmed priya chen fatima ivan leo mia noah ethan amelia jacob lily oscar ruby
    """.split()
_CITIES = """
    london paris tokyo boston chicago berlin madrid rome dublin cairo sydney toronto
    denver seattle glasgow lisbon vienna prague oslo delhi lagos nairobi lima canada
    france spain japan brazil mexico italy egypt kenya norway india ireland scotland
    wales peru chile
    """.split()
_PEOPLE = """
    boy girl man woman child baby teacher doctor farmer nurse pilot sailor singer
    soldier student writer painter cook king queen neighbour friend driver waiter
    baker guard stranger captain
    """.split()
_ANIMALS = "dog cat horse fox rabbit mouse bird lion tiger monkey wolf cow".split()
_THINGS = """
    apple bag ball basket bell bicycle boat book bottle box bucket button cake camera
    candle car card carpet chair clock coat coin computer cup desk door dress drum egg
    engine flag flower glass glove guitar hammer hat jacket kettle key kite knife
    ladder lamp leaf letter map mirror orange pencil piano picture plate pocket radio
    rock rope shell shirt shoe spoon stone sweater table telephone tent towel truck
    umbrella violin wagon watch window wallet ticket blanket envelope newspaper
    suitcase pillow ring necklace helmet parcel
    """.split()
_FOODS = "bread cheese soup rice pizza salad sandwiches cookies bananas pie".split()
_DRINKS = "coffee tea milk water juice lemonade".split()
_PLACES = """
    garden kitchen forest market station library park office hospital museum village
    classroom hall harbour street field river lake mountain cave castle hotel bakery
    restaurant airport beach bridge farm church shop
    """.split()
_FAMILY = "mother father brother sister uncle aunt cousin grandmother son".split()
_ADJ_ANY = "big small old new strange famous tiny huge quiet lucky little nice".split()
_ADJ_PERSON = """
    happy sad brave clever careful gentle angry tired hungry friendly funny lonely
    proud rich poor polite busy lazy tall young calm noisy kind shy sleepy
    """.split()
_ADJ_THING = """
    red blue green yellow black white brown grey heavy light warm cold hot wet dry
    clean dirty long empty full broken shiny soft hard sharp round fresh simple cheap
    expensive beautiful wooden golden silver ancient modern narrow wide sweet pale
    dusty bright dark
    """.split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTHS = """
    january february march april may june july august september october november
    december
    """.split()
_ANYTIME = [
    *(f"on {d}" for d in _WEEKDAYS), *(f"in {m}" for m in _MONTHS),
    "at noon", "at midnight", "after dinner", "before breakfast", "this evening",
]  # fmt: skip
_UNITS = "one two three four five six seven eight nine".split()
_TEENS = """
    ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen
    """.split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
# Slots filled with a word or phrase from a list; `_Grammar` adds built phrases.
_LISTS = {
    "name": _NAMES,
    "city": _CITIES,
    "person": _PEOPLE,
    "family": _FAMILY,
    "food": _FOODS,
    "drink": _DRINKS,
    "adj_thing": _ADJ_THING,
    "adj_person": _ADJ_PERSON,
    "adverb": "very really quite rather too so".split(),
    "freq": "always never often sometimes usually rarely".split(),
    "weather": "sunny rainy windy cloudy cold warm hot foggy snowy stormy".split(),
    "currency": "dollars pounds euros".split(),
    "past": [
        *_ANYTIME, "yesterday", "last night", "last week", "last month", "last year",
        "this morning", "an hour ago", "a long time ago", "two days ago",
    ],
    "future": [
        *_ANYTIME, "tomorrow", "tonight", "next week", "next month", "next year",
        "later today", "in an hour", "the day after tomorrow",
    ],
    "soon": ["tomorrow", "tonight", "next week", "on saturday", "this weekend"],
    "now": ["today", "tonight", "this morning", "this afternoon", "this evening"],
    "habit": [
        "every day", "every morning", "at night", "on weekends", "in the evening",
        "after school", "before work", "on sundays", "in the summer", "in winter",
    ],
    "prep": """
        in on under behind near beside inside across through over along around above
        """.split(),
}  # fmt: skip

# `{slot}` is filled from `_Grammar.slots`; `{slot?}` half the time; `[a|b]` picks
# one alternative (alternatives may hold slots).
_TEMPLATES = (
    "{agent} {vt_past} {thing} {place?} {past?}",
    "{agent} {vi_past} {place} {past?}",
    "{name} will {vt_base} {thing} {future}",
    "the {person} is {vt_ing} {thing} {place?}",
    "did {agent} {vt_base} {thing} {past?}",
    "where did {name} {vt_base} {thing}",
    "why is the {thing_noun} so {adj_thing}",
    "is the {thing_noun} {adverb?} {adj_thing}",
    "there are {count} {adj_thing} {things_noun} {place}",
    "{thing} was {adverb} {adj_thing} [and {adj_thing}|]",
    "{name} has {count} [{things_noun}|{animals}]",
    "[he|she|they|i|we] [said|thought|knew|heard] that {clause}",
    "please {vt_base} {thing} {place}",
    "{thing} was {vt_pp} by {name} {past?}",
    "{name} [flew|drove|travelled|walked] from {city} to {city} {past?}",
    "{name} lives in {city} with [his|her|their] [{family}|{animal}]",
    "{name}'s {family} {vi_past} {place}",
    "i don't [like|want|need] {things}",
    "we can't {vt_base} {thing} {future}",
    "let's {vt_base} {thing} {future}",
    "it's {weather} in {city} {now}",
    "the [train|bus|meeting|film|class] [starts|leaves|ends] at {clock} {future?}",
    "{name} paid {count} {currency} for {thing}",
    "{agent} {vt_past} {thing} and {vt_past} {thing}",
    "if it's {weather} {soon} we will {vi_base} {place}",
    "{name} and {name} {vi_past} {place} {past?}",
    "can you {vt_base} {thing} [for me|please|{future}|{place}]",
    "{agent} [ate|shared|made] [the|some|a lot of] {food} {past}",
    "{name} [drank|spilled|wanted] [a cup of|a glass of|some] {drink}",
    "how many {things_noun} did {name} {vt_base} {past}",
    "{name} wanted to {vt_base} {thing} but [she|he|they] [couldn't|didn't|forgot]",
    "{agent} {vi_past} because [he was|she was|they were|i felt] {adverb} {adj_person}",
    "my {family} {freq} {vt_third} [{thing}|{things}] {habit?}",
    "the {adj_person} {person} {freq} {vi_third} {habit}",
    "{agent} [can't|won't|didn't] {vi_base} {place}",
    "{name} gave {name} {thing} {past?}",
    "we need {count} {things_noun} for {name}'s party",
    "the {person} asked {name} to {vt_base} {thing}",
    "[yes|no|okay] i'll {vt_base} {thing} {future}",
)
_CLAUSES = (
    "{agent} {vt_past} {thing}",
    "{agent} {vi_past} {place}",
    "{thing} was {adj_thing}",
    "{name} would {vi_base} {future}",
)

# base[:past[:participle]]; a missing form follows the regular rules.
_VERBS_THING = """
    find:found take:took:taken bring:brought buy:bought sell:sold carry open close
    clean paint wash fix drop hold:held lose:lost keep:kept move push pull
    throw:threw:thrown catch:caught build:built break:broke:broken hide:hid:hidden
    borrow lend:lent need want like see:saw:seen choose:chose:chosen order return
    check fill forget:forgot:forgotten steal:stole:stolen wrap pack drag polish
    """.split()
_VERBS_INTRANSITIVE = """
    sleep:slept laugh smile sing:sang:sung dance run:ran:run walk swim:swam:swum
    jump wait rest cry shout whistle arrive leave:left travel work play sit:sat
    stand:stood fall:fell:fallen hurry wander listen climb
    """.split()
_DOUBLED = {"run", "swim", "sit", "drop", "wrap", "drag", "forget", "travel"}
_IRREGULAR_PLURALS = {
    "child": "children", "man": "men", "woman": "women", "mouse": "mice",
    "knife": "knives", "leaf": "leaves", "wolf": "wolves", "baby": "babies",
}  # fmt: skip


def _verb(spec: str) -> dict[str, str]:
    """Forms of a verb from `base[:past[:participle]]`."""
    base, *irregular = spec.split(":")
    consonant_y = base.endswith("y") and base[-2] not in "aeiou"
    if base.endswith(("s", "x", "z", "o", "ch", "sh")):
        third = base + "es"
    else:
        third = base[:-1] + "ies" if consonant_y else base + "s"
    if base in _DOUBLED:
        stem = base + base[-1]
    elif base.endswith("e") and not base.endswith("ee"):
        stem = base[:-1]
    else:
        stem = base
    past = base[:-1] + "ied" if consonant_y else stem + "ed"
    if base.endswith("e"):
        past = base + "d"
    past = irregular[0] if irregular else past
    participle = irregular[1] if len(irregular) > 1 else past
    return {"base": base, "third": third, "past": past, "pp": participle,
            "ing": stem + "ing"}  # fmt: skip


def _plural(noun: str) -> str:
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _number(n: int) -> str:
    """1..999 spelled out: 342 -> "three hundred and forty two"."""
    hundreds, rest = divmod(n, 100)
    words = [_UNITS[hundreds - 1], "hundred"] if hundreds else []
    if rest and hundreds:
        words.append("and")
    if rest >= 20:
        words.append(_TENS[rest // 10 - 2])
        if rest % 10:
            words.append(_UNITS[rest % 10 - 1])
    elif rest >= 10:
        words.append(_TEENS[rest - 10])
    elif rest:
        words.append(_UNITS[rest - 1])
    return " ".join(words)


class _Grammar:
    """Fills `_TEMPLATES` from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.used: set[str] = set()
        self.slots: dict[str, Callable[[], str]] = {
            key: functools.partial(self.fresh, words) for key, words in _LISTS.items()
        }
        for kind, specs in (("vt", _VERBS_THING), ("vi", _VERBS_INTRANSITIVE)):
            verbs = [_verb(s) for s in specs]
            for form in verbs[0]:
                self.slots[f"{kind}_{form}"] = functools.partial(self.form, verbs, form)
        self.slots.update(
            agent=self.agent,
            thing=self.thing,
            things=lambda: self.thing(plural=True),
            thing_noun=lambda: rng.choice(_THINGS),
            things_noun=lambda: _plural(rng.choice(_THINGS)),
            animal=lambda: rng.choice(_ANIMALS),
            animals=lambda: _plural(rng.choice(_ANIMALS)),
            place=lambda: f"{self.fresh(_LISTS['prep'])} the {self.fresh(_PLACES)}",
            count=lambda: _number(rng.choice((2, 3, 4, 5, 6, 10, rng.randint(2, 999)))),
            clock=self.clock,
            clause=lambda: self.expand(rng.choice(_CLAUSES)),
        )

    def fresh(self, words: Sequence[str]) -> str:
        """A word not yet used in this sentence (no "from paris to paris")."""
        for _ in range(8):
            word = self.r.choice(words)
            if word not in self.used:
                break
        self.used.add(word)
        return word

    def form(self, verbs: list[dict[str, str]], form: str) -> str:
        return self.r.choice(verbs)[form]

    def noun_phrase(self, dets: Sequence[str], adj: str, noun: str) -> str:
        det = self.r.choice(dets)
        if det == "a" and (adj or noun)[0] in "aeiou":
            det = "an"
        return " ".join(w for w in (det, adj, noun) if w)

    def thing(self, plural: bool = False) -> str:
        adj = self.fresh(_ADJ_THING + _ADJ_ANY) if self.r.random() < 0.5 else ""
        noun = self.fresh(_THINGS)
        if plural:
            dets = ("the", "these", "those", "some", "my", "our", "many")
            return self.noun_phrase(dets, adj, _plural(noun))
        dets = ("the", "the", "a", "this", "that", "my", "your", "her", "his")
        return self.noun_phrase(dets, adj, noun)

    def agent(self) -> str:
        kind = self.r.random()
        if kind < 0.35:
            return self.fresh(_NAMES)
        if kind < 0.45:
            return self.r.choice(("he", "she", "they", "we", "i", "you"))
        adj = self.fresh(_ADJ_PERSON + _ADJ_ANY) if self.r.random() < 0.4 else ""
        noun = self.fresh(_PEOPLE + _ANIMALS)
        return self.noun_phrase(("the", "the", "a", "my", "our", "that"), adj, noun)

    def clock(self) -> str:
        hour = self.r.randint(1, 12)
        minute = self.r.choice((0, 0, 15, 30, 45, self.r.randint(1, 59)))
        if minute == 0:
            return f"{_number(hour)} o'clock"
        if minute == 30 and self.r.random() < 0.5:
            return f"half past {_number(hour)}"
        return f"{_number(hour)} {'oh ' if minute < 10 else ''}{_number(minute)}"

    def expand(self, template: str) -> str:
        text = re.sub(
            r"\[([^\]]*)\]", lambda m: self.r.choice(m.group(1).split("|")), template
        )

        def fill(m: re.Match) -> str:
            if m.group(2) and self.r.random() < 0.5:
                return ""
            return self.slots[m.group(1)]()

        return re.sub(r"\{(\w+)(\?)?\}", fill, text)

    def sentence(self) -> str:
        self.used.clear()
        return " ".join(self.expand(self.r.choice(_TEMPLATES)).split())


def _sentence_stream(seed: int | str) -> Iterator[str]:
    """Unique sentences of 4-14 words, in an order fixed by `seed`."""
    grammar = _Grammar(random.Random(f"asr-synthetic:{seed}"))
    seen: set[str] = set()
    misses = 0
    while misses < 10_000:
        text = grammar.sentence()
        if text in seen or not 4 <= len(text.split()) <= 14:
            misses += 1
            continue
        misses = 0
        seen.add(text)
        yield text
    raise ValueError(f"sentence generator exhausted after {len(seen)} sentences")


def generate_sentences(n: int, seed: int | str = 0) -> list[str]:
    """`n` distinct, normalised English sentences of 4-14 words.

    Deterministic, and a prefix of the same call with a larger `n`.

    Args:
        n: how many.
        seed: picks the stream.
    Returns:
        Lowercase a-z, apostrophes and single spaces (`text.normalise` leaves
        them unchanged).
    """
    stream = _sentence_stream(seed)
    return [next(stream) for _ in range(n)]


@functools.lru_cache(maxsize=1)
def closed_vocabulary() -> frozenset[str]:
    """Every word `generate_sentences` can produce."""
    grammar = _Grammar(random.Random(0))
    words: set[str] = set()
    for template in (*_TEMPLATES, *_CLAUSES):
        words.update(re.findall(r"[a-z']+", re.sub(r"\{\w+\??\}", " ", template)))
    phrases = [p for values in _LISTS.values() for p in values]
    for nouns in (_THINGS, _ANIMALS):
        phrases += [*nouns, *map(_plural, nouns)]
    phrases += [*_PLACES, *_PEOPLE, *_TEENS, *_TENS, "an", "hundred"]
    phrases += [f"{name}'s" for name in _NAMES]
    for specs in (_VERBS_THING, _VERBS_INTRANSITIVE):
        phrases += [form for spec in specs for form in _verb(spec).values()]
    things = functools.partial(grammar.thing, plural=True)
    for words_of in (grammar.thing, things, grammar.agent, grammar.clock):
        phrases += [words_of() for _ in range(2000)]  # determiners, pronouns
    for p in phrases:
        words.update(p.split())
    return frozenset(words)
