"""The record every drill generator returns, and exact answer checking.

A question is pure data computed from a seed: the scenario that was run, the answer the bound
core gave, the text in English and Chinese, and the replay (demo frames, a compare document or a
paging table) that proves the answer.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from codewalk.guides.schema import Text

FORMS = ("int", "pair", "sequence", "choice")
_INT = re.compile(r"-?\d+")


@dataclass(slots=True)
class Question:
    """One drill question. `answer` is an int, [int, int], a list of ids, or a choice letter."""

    topic: str
    kind: str
    seed: int
    prompt: Text
    form: str
    answer: Any
    answer_text: Text
    explanation: Text
    scenario: dict[str, Any] = field(default_factory=dict)
    choices: list[Text] = field(default_factory=list)
    replay: dict[str, Any] = field(default_factory=dict)
    symbols: list[tuple[str, str]] = field(default_factory=list)  # (source, qualified name)
    notes: list[str] = field(default_factory=list)
    value: Any = None  # the computed fact behind `answer` (the reference must agree); defaults to answer

    def __post_init__(self) -> None:
        if self.value is None:
            self.value = self.answer
        assert self.form in FORMS, self.form
        assert self.form != "choice" or self.answer in letters(len(self.choices))


def letters(n: int) -> list[str]:
    return [chr(ord("a") + i) for i in range(n)]


def parse(form: str, text: str, n_choices: int = 0) -> Any | None:
    """The typed answer in the question's form, or None when it cannot be read as one."""
    text = text.strip().lower()
    if form == "choice":
        m = re.fullmatch(r"\(?([a-z])\)?[.)]?", text)
        return m.group(1) if m and m.group(1) in letters(n_choices) else None
    numbers = [int(x) for x in _INT.findall(text)]
    if form == "int":
        return numbers[0] if len(numbers) == 1 else None
    if form == "pair":
        return numbers if len(numbers) == 2 else None
    return numbers or None


def is_right(q: Question, text: str) -> bool:
    """True when the typed answer equals the computed one exactly."""
    return parse(q.form, text, len(q.choices)) == q.answer


def rng_for(topic: str, seed: int) -> random.Random:
    """The question's random source: the same (topic, seed) always gives the same scenario."""
    return random.Random(f"codewalk-drill:{topic}:{seed}")


def multiple_choice(rng: random.Random, right: Text, wrong: list[Text], n: int = 4) -> tuple[list[Text], str]:
    """Shuffle the right option among up to n-1 distinct wrong ones; returns (choices, letter)."""
    pool = []
    for w in wrong:
        if w.en != right.en and all(w.en != p.en for p in pool):
            pool.append(w)
    options = [right] + rng.sample(pool, min(n - 1, len(pool)))
    rng.shuffle(options)
    return options, letters(len(options))[next(i for i, o in enumerate(options) if o is right)]


def fmt_choices(choices: list[Text], lang: str) -> list[str]:
    return [f"{c}) {t.get(lang)}" for c, t in zip(letters(len(choices)), choices)]


HINTS = {
    "int": Text("type a number", "输入一个整数"),
    "pair": Text("type two numbers, e.g. `3 5`", "输入两个整数，例如 `3 5`"),
    "sequence": Text("type the ids in order, e.g. `2 1 3`", "按顺序输入编号，例如 `2 1 3`"),
    "choice": Text("type a letter", "输入选项字母"),
}
