"""Factual questions from the notes and the interview-facts guide, checked against an index.

A note is used only when its source has a checkout (`core` always: the built-in corpus;
`ksanallm`/`vllm` when registered or configured, `codewalk.sources.checkouts`) and its symbol resolves
there, so a question never names a symbol that does not exist. Kinds: `fact-symbol` (which
symbol a note describes), `fact-file` (which file defines a symbol), `fact-figure` (which figure
belongs to a claim) and `fact-demo` (which demo recomputes a figure).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from codewalk.notes.schema import Note, Notes, reflow
from codewalk.drill.model import Question, Text, multiple_choice

FIGURE_GUIDE = "interview-facts"
DEMOS = ("prefix-cache", "schedule", "paged-vs-contiguous", "online-softmax", "compare")
_TOPIC_OF_FILE = {"prefix_cache": "prefix-cache", "upstream_bugs": "prefix-cache", "scheduler": "scheduler",
                  "scheduler_behaviour": "scheduler"}


def note_topic(note: Note) -> str:
    """The drill topic a note belongs to, by its file (vLLM notes: vllm-vs-ksanallm)."""
    path = Path(note.path)
    if "paged-attention" in note.concepts and path.parent.name != "core":
        return "paged-attention"
    if path.parent.name == "vllm":
        return "vllm-vs-ksanallm"
    return _TOPIC_OF_FILE.get(path.stem, "")


class FactBank:
    """The notes and figures usable for questions, with the symbols' locations (source, path, line)."""

    def __init__(self, notes: Notes, guide: Any = None, overrides: dict[str, Path] | None = None) -> None:
        from codewalk.guides.resolve import Checkouts

        self.notes = notes
        self.guide = guide
        self.checkouts = Checkouts(notes, overrides or {})
        self._located: dict[tuple[str, str], tuple[str, int] | None] = {}
        self.usable = [n for n in notes.notes if note_topic(n) and self.locate(n.source, n.symbol) is not None]

    def locate(self, source: str, symbol: str) -> tuple[str, int] | None:
        """(path, line) of the symbol's definition in the source's checkout; None when it does not resolve."""
        key = (source, symbol)
        if key not in self._located:
            ix = self.checkouts.index(source)
            found = None
            if ix is not None:
                exact = [e for e in ix.find(symbol) if e.qname == symbol]
                if exact:
                    row = exact[0].primary
                    found = (ix.path(row), int(row["line"]))
            self._located[key] = found
        return self._located[key]

    def has_checkout(self, source: str) -> bool:
        return self.checkouts.index(source) is not None

    def _pool(self, topic: str) -> list[Note]:
        return [n for n in self.usable if note_topic(n) == topic]

    def _figures(self) -> list[tuple[Text, Text, Any]]:
        """(claim, figure, step) of the guide's steps whose title reads `claim: figure` with a number."""
        out = []
        for step in self.guide.steps if self.guide is not None else []:
            en = re.split(r":\s", step.title.en, maxsplit=1)
            zh = re.split(r"[:：]\s?", step.title.zh, maxsplit=1)
            if len(en) == 2 and len(zh) == 2 and re.search(r"\d", en[1]):
                out.append((Text(en[0].strip(), zh[0].strip()), Text(en[1].strip(), zh[1].strip()), step))
        return out

    def kinds(self, topic: str) -> list[str]:
        pool = self._pool(topic)
        out = []
        if len({n.symbol for n in pool}) >= 2:
            out.append("fact-symbol")
        if len({self.locate(n.source, n.symbol)[0] for n in pool}) >= 2:
            out.append("fact-file")
        if topic == "paged-attention" and len(self._figures()) >= 2:
            out.append("fact-figure")
            if any(f[2].demo for f in self._figures()):
                out.append("fact-demo")
        return out

    def generate(self, topic: str, kind: str, rng: random.Random, seed: int) -> Question:
        if kind in ("fact-figure", "fact-demo"):
            return self._figure_question(topic, kind, rng, seed)
        pool = sorted(self._pool(topic), key=lambda n: n.id)
        note = rng.choice(pool)
        path, line = self.locate(note.source, note.symbol)
        where = f"{note.source}: {path}:{line}"
        if kind == "fact-symbol":
            right = Text(note.symbol, note.symbol)
            wrong = [Text(n.symbol, n.symbol) for n in pool if n.symbol != note.symbol]
            q = Text(f"Which symbol is this note about: “{note.heading('en')}”?",
                     f"这条笔记讲的是哪个符号：“{note.heading('zh')}”？")
        else:
            right = Text(path, path)
            wrong = [Text(p, p) for p in sorted({self.locate(n.source, n.symbol)[0] for n in pool}) if p != path]
            q = Text(f"In which file of the {note.source} source is `{note.symbol}` defined?",
                     f"在 {note.source} 源码中，`{note.symbol}` 定义在哪个文件里？")
        choices, letter = multiple_choice(rng, right, wrong)
        e = Text(f"{note.symbol} is at {where}. Note {note.id}: {_excerpt(note.text('en'))}",
                 f"{note.symbol} 位于 {where}。笔记 {note.id}：{_excerpt(note.text('zh'))}")
        return Question(topic, kind, seed, q, "choice", letter, right, e, choices=choices,
                        scenario={"note": note.id}, symbols=[(note.source, note.symbol)], notes=[note.id],
                        value=right.en)

    def _figure_question(self, topic: str, kind: str, rng: random.Random, seed: int) -> Question:
        figures = self._figures()
        pick = [f for f in figures if f[2].demo] if kind == "fact-demo" else figures
        claim, figure, step = rng.choice(pick)
        if kind == "fact-figure":
            right = figure
            wrong = [f[1] for f in figures if f[1].en != figure.en]
            q = Text(f"Which figure belongs to the claim “{claim.en}”?", f"“{claim.zh}”对应的是哪个数字？")
        else:
            right = Text(f"codewalk demo {step.demo.split()[-1]}", f"codewalk demo {step.demo.split()[-1]}")
            wrong = [Text(f"codewalk demo {d}", f"codewalk demo {d}") for d in DEMOS]
            q = Text(f"Which demo recomputes the figure “{step.title.en}”?", f"哪个 demo 能复算“{step.title.zh}”这个数字？")
        choices, letter = multiple_choice(rng, right, wrong)
        e = Text(f"{step.title.en}. {_excerpt(reflow(step.prose.en))} (guide {FIGURE_GUIDE})",
                 f"{step.title.zh}。{_excerpt(reflow(step.prose.zh))}（指南 {FIGURE_GUIDE}）")
        return Question(topic, kind, seed, q, "choice", letter, right, e, choices=choices,
                        scenario={"guide": FIGURE_GUIDE, "claim": claim.en}, value=right.en)


def _excerpt(text: str, limit: int = 420) -> str:
    """The first sentences of a text, up to about `limit` characters."""
    text = " ".join(text.split()) if not re.search(r"[\u4e00-\u9fff]", text) else text.replace("\n", "")
    if len(text) <= limit:
        return text
    cut = max(text.rfind(". ", 0, limit), text.rfind("。", 0, limit))
    return text[:cut + 1] if cut > 0 else text[:limit] + "…"


def load_bank(overrides: dict[str, Path] | None = None) -> FactBank:
    """The shipped notes and the interview-facts guide, against the checkouts at hand."""
    from codewalk.notes.schema import annotations_dir, load
    from codewalk.guides.schema import guides_dir, load_guides

    notes = load(annotations_dir())
    guides = load_guides(guides_dir(annotations_dir()), notes)
    return FactBank(notes, guides.get(FIGURE_GUIDE), overrides)
