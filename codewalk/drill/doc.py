"""A drill question as data: its links (symbols that resolve, usable notes), its `--json` entry and
the replay without snapshots. The views render these; nothing here prints."""

from __future__ import annotations

from typing import Any

from codewalk.drill.model import Question


def links(q: Question, bank: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The question's symbols that resolve (with path and line) and its notes that are usable here."""
    symbols = []
    for source, symbol in q.symbols:
        where = bank.locate(source, symbol) if bank is not None else None
        if where is not None:
            symbols.append({"source": source, "symbol": symbol, "path": where[0], "line": where[1]})
    by_id = bank.notes.by_id() if bank is not None else {}
    notes = [n for n in q.notes if n in by_id and (by_id[n].source == "core" or bank.has_checkout(by_id[n].source))]
    return symbols, notes


def question_doc(q: Question, lang: str, bank: Any) -> dict[str, Any]:
    """One question as JSON-ready data (the `--json` document's entries)."""
    symbols, notes = links(q, bank)
    return {"topic": q.topic, "kind": q.kind, "seed": q.seed, "question": q.prompt.get(lang), "form": q.form,
            "choices": [c.get(lang) for c in q.choices], "answer": q.answer, "answer_text": q.answer_text.get(lang),
            "value": q.value, "explanation": q.explanation.get(lang), "symbols": symbols, "notes": notes,
            "scenario": q.scenario, "replay": replay_summary(q)}


def replay_summary(q: Question) -> list[dict[str, Any]]:
    """The replay without block-tree snapshots: what happened at each step."""
    r = q.replay
    if r.get("kind") == "frames":
        return [{"title": f["title"], "function": f.get("function", ""), "result": f["result"],
                 **({"queues": f["queues"]} if "queues" in f else {})} for f in r["frames"]]
    if r.get("kind") == "compare":
        return r["steps"]
    if r.get("kind") == "paging":
        return r["rows"]
    return []
