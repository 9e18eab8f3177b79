"""Turning clean template sentences into the casual, terse, misspelled or ASR-garbled text users produce.

Templates are split into train and test sets by position (every fourth template of an intent is
a test template), so test phrasings never appear in training data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FILLERS = ("uh", "um", "like", "so", "hmm", "er")
OPENERS = ("hey", "ok", "ok so", "yo", "hi", "hey there", "alright", "quick one", "can u")
CLOSERS = ("pls", "please", "thx", "thanks", "asap", "ty", "now", "real quick")
SHORTHAND = {
    "please": "pls", "you": "u", "your": "ur", "thanks": "thx", "are": "r", "right now": "rn",
    "because": "cuz", "tonight": "2nite", "to": "2", "for": "4", "okay": "ok", "what is": "whats",
}
# Words an ASR system mishears (the real banking set shows "checkin ballets", "save ins", "cred it").
HOMOPHONES = {
    "to": ("two", "too"), "for": ("four",), "checking": ("checkin", "chicken"), "savings": ("save ins", "savin"),
    "credit": ("cred it", "credd it"), "debit": ("dead it", "deb it"), "balance": ("ballets", "balanse"),
    "statement": ("state meant",), "transfer": ("trans fur",), "fraudulent": ("fraud you lent",),
    "fraud": ("frawd",), "reset": ("ree set",), "activate": ("actovate", "activ eight"), "ending": ("endin",),
    "stolen": ("stolin",), "replacement": ("re placement",), "account": ("a count",), "agent": ("a gent",),
    "bill": ("bil",), "card": ("car",), "pin": ("pen",), "money": ("mony",), "dollars": ("dollers",),
}
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
KEYBOARD_NEIGHBOURS = {
    "a": "qs", "e": "wr", "i": "uo", "o": "ip", "n": "bm", "t": "ry", "r": "et", "s": "ad", "l": "k", "h": "gj",
}


def split_templates(templates: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Partition templates (keeping their index, the stable template id) into train and test."""
    if len(set(templates)) != len(templates):
        raise ValueError(f"duplicate template in {templates!r}")
    out: dict[str, list[tuple[int, str]]] = {"train": [], "test": []}
    for i, text in enumerate(templates):
        out["test" if i % 4 == 3 else "train"].append((i, text))
    if len(templates) > 1 and not out["test"]:
        raise ValueError(f"intent with templates {templates!r} has no test template")
    return out


@dataclass(frozen=True)
class Intent:
    """A family of user phrasings (templates with `{slot}` fields) sharing one reference behaviour."""

    key: str
    templates: tuple[str, ...]

    def pick(self, rng: random.Random, split: str) -> tuple[str, str]:
        """A (template_id, template) for the split; single-template intents are shared by both splits."""
        parts = split_templates(list(self.templates))
        choices = parts[split] or parts["train"]
        index, text = rng.choice(choices)
        return f"{self.key}.{index}", text


def typo(word: str, rng: random.Random) -> str:
    """One keyboard slip: dropped, doubled, swapped or neighbouring letter."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    near = KEYBOARD_NEIGHBOURS.get(word[i].lower())
    return word[:i] + rng.choice(near) + word[i + 1 :] if near else word[:i] + word[i + 1 :]


def casualize(text: str, rng: random.Random, typo_rate: float = 0.06, keep: frozenset[str] = frozenset()) -> str:
    """Make a clean sentence sound typed by a hurried user (case, punctuation, shorthand, typos, fillers).

    Words in `keep` (free-text slot values copied into the reference call) are never misspelled.
    """
    if rng.random() < 0.5:
        text = " ".join(w if w.lower() in keep else w.lower() for w in text.split())
    if rng.random() < 0.5:
        text = text.rstrip(".?!")
    if rng.random() < 0.25:
        for long, short in SHORTHAND.items():
            if f" {long} " in f" {text} " and rng.random() < 0.5:
                text = f" {text} ".replace(f" {long} ", f" {short} ").strip()
    words = [typo(w, rng) if rng.random() < typo_rate and w.lower() not in keep else w for w in text.split()]
    if rng.random() < 0.15:
        words.insert(0, rng.choice(OPENERS))
    if rng.random() < 0.12:
        words.append(rng.choice(CLOSERS))
    if rng.random() < 0.05 and len(words) > 1:
        words.insert(rng.randrange(1, len(words)), rng.choice(FILLERS))
    if rng.random() < 0.04 and words[-1].lower() not in keep:  # "~!!" would no longer be a path
        words[-1] = words[-1] + rng.choice(("??", "!!", "...", " :)"))
    return " ".join(words)


def asr_noise(text: str, rng: random.Random, rate: float = 0.3, keep: frozenset[str] = frozenset()) -> str:
    """Make a sentence look like speech-to-text output: homophones, fillers, stutters, dropped words.

    Words in `keep` (slot values copied verbatim into the reference call) pass through unchanged.
    """
    words = text.rstrip(".?!").split()
    out: list[str] = []
    for word in words:
        bare = word.lower().strip(",")
        if bare in keep:
            out.append(word)
            continue
        if bare in HOMOPHONES and rng.random() < rate:
            out.append(rng.choice(HOMOPHONES[bare]))
            continue
        if rng.random() < rate * 0.3 and len(words) > 4 and bare in DROPPABLE:
            continue  # a word the recogniser lost
        if rng.random() < rate * 0.15:
            out.append(rng.choice(FILLERS[:3]))
        if rng.random() < rate * 0.05 and len(bare) > 3:
            out.append(bare[:3] + "-")
        out.append(word)
    sentence = " ".join(out)
    return sentence[0].upper() + sentence[1:] if sentence and rng.random() < 0.7 else sentence


# Only words whose loss keeps every slot value recoverable are ever dropped.
DROPPABLE = frozenset("the a my please can you i me just some like is it".split())


def spell_digits(digits: str) -> str:
    """'4532' -> 'four five three two' (how card numbers come out of a speech recogniser)."""
    return " ".join(DIGIT_WORDS[int(d)] for d in digits)


def number_words(n: int) -> str:
    """Whole dollars in words for the amounts the generators use (1-9999), e.g. 150 -> 'one fifty'."""
    ones = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
    tens = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

    def below_100(k: int) -> str:
        return ones[k] if k < 20 else (tens[k // 10] + (" " + ones[k % 10] if k % 10 else ""))

    if n < 100:
        return below_100(n)
    if n < 1000:
        rest = n % 100
        head = ones[n // 100] + " hundred"
        return head + (" and " + below_100(rest) if rest else "")
    thousands, rest = divmod(n, 1000)
    head = below_100(thousands) + " thousand"
    return head + (" " + number_words(rest) if rest else "")
