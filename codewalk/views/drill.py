"""Rendering of `codewalk drill`: questions, the right/wrong verdict, the replay that proves the
answer (the demo and compare renderers), links to source symbols and notes (computed by
`codewalk.drill.doc`); `--stats`.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from codewalk.drill import is_right, parse
from codewalk.drill.model import HINTS, Question, fmt_choices

LABELS = {
    "en": {"right": "[green]right[/]", "wrong": "[red]wrong[/]", "answer": "answer", "why": "why",
           "symbols": "source symbols", "notes": "notes", "replay": "replay", "you": "you typed",
           "unreadable": "could not read that as an answer", "score": "{right}/{asked} right",
           "q": "question", "quit": "(empty line or q to stop)"},
    "zh": {"right": "[green]正确[/]", "wrong": "[red]错误[/]", "answer": "答案", "why": "解释",
           "symbols": "源码符号", "notes": "笔记", "replay": "回放", "you": "你的回答",
           "unreadable": "无法识别这个回答", "score": "答对 {right}/{asked}", "q": "题目",
           "quit": "（空行或 q 退出）"},
}


# ---------------------------------------------------------------------- terminal


def render_question(q: Question, lang: str, console: Console, number: int = 0) -> None:
    head = f"{LABELS[lang]['q']} {number} · {q.topic} · {q.kind} · seed {q.seed}" if number else q.topic
    body = q.prompt.get(lang)
    if q.choices:
        body += "\n\n" + "\n".join(fmt_choices(q.choices, lang))
    console.print(Panel(body, title=head, title_align="left", subtitle=HINTS[q.form].get(lang), subtitle_align="left"))


def render_verdict(q: Question, lang: str, console: Console, typed: str | None,
                   links: tuple[list[dict[str, Any]], list[str]]) -> bool | None:
    """Right/wrong for a typed answer (None: just show the answer), explanation and links
    (`codewalk.drill.doc.links`: the symbols that resolve, the usable notes)."""
    lab = LABELS[lang]
    right = None if typed is None else is_right(q, typed)
    shown = q.answer_text.get(lang)
    answer = f"{q.answer}) {shown}" if q.form == "choice" else shown
    if right is None:
        console.print(f"[bold]{lab['answer']}:[/] {answer}")
    else:
        unreadable = parse(q.form, typed, len(q.choices)) is None
        console.print(f"{lab['right'] if right else lab['wrong']} — {lab['answer']}: [bold]{answer}[/]"
                      + ("" if right else f"  ({lab['you']}: {escape(repr(typed))}"
                         + (f" — {lab['unreadable']}: {HINTS[q.form].get(lang)}" if unreadable else "") + ")"))
    console.print(f"[bold]{lab['why']}:[/] {q.explanation.get(lang)}")
    symbols, notes = links
    if symbols:
        console.print(f"[bold]{lab['symbols']}:[/] " + "; ".join(
            f"[cyan]{escape(s['symbol'])}[/] ({escape(s['source'])}: {escape(s['path'])}:{s['line']})" for s in symbols))
    if notes:
        console.print(f"[bold]{lab['notes']}:[/] " + escape(", ".join(notes)) + "  [dim](codewalk show SYMBOL)[/]")
    return right


def render_replay(q: Question, console: Console) -> None:
    """The steps that prove the answer, drawn by the demo/compare/paging renderers."""
    r = q.replay
    if r.get("kind") == "frames":
        from codewalk.lessons.replay import Frame, _step_functions, _step_summary
        from codewalk.views.demo import _frame_panel

        for f in r["frames"]:
            if "queues" in f:  # a scheduler step: name its functions and keep what changed
                frame = Frame(f["title"], _step_functions(f["result"]), _step_summary(f["result"]), f["snapshot"],
                              f["queues"])
            else:
                frame = Frame(f["title"], f["function"], f["result"], f["snapshot"])
            console.print(_frame_panel(frame))
    elif r.get("kind") == "compare":
        _render_compare(r, console)
    elif r.get("kind") == "paging":
        _render_paging(r, console)


def _render_compare(r: dict[str, Any], console: Console) -> None:
    from codewalk.views.compare import _cell

    t = Table("step", "KsanaLLM (ContinuousBatchingStrategy)", "vLLM v1 (Scheduler.schedule)", show_lines=True)
    for s in r["steps"]:
        mark = " ◀ first difference" if s["step"] == r["divergence"] else ""
        t.add_row(f"{s['step']}{mark}", _cell(s["ksanallm"]), _cell(s["vllm"]))
    console.print(t)
    summ = Table("", "KsanaLLM", "vLLM", title="summary", title_justify="left")
    for key in r["summary"]["ksanallm"]:
        summ.add_row(key.replace("_", " "), str(r["summary"]["ksanallm"][key]), str(r["summary"]["vllm"][key]))
    console.print(summ)


def _render_paging(r: dict[str, Any], console: Console) -> None:
    from codewalk.views.paging import _stats_table

    t = Table(title=f"block size {r['block_size']}, max_len {r['max_len']}", title_justify="left")
    for col in ("rid", "prompt", "output", "tokens", "paged blocks", "paged waste", "contiguous waste"):
        t.add_column(col, justify="right")
    for row in r["rows"]:
        t.add_row(*("-" if row[k] is None else str(row[k]) for k in ("rid", "prompt", "output", "tokens",
                                                                      "paged_blocks", "paged_waste", "contiguous_waste")))
    console.print(t)
    if r.get("peak"):
        console.print(_stats_table("at each request's final length", r["peak"], lifetime=False))
    if r.get("budget_slots"):
        console.print(f"budget {r['budget_slots']} token slots")


def print_non_interactive(questions: list[Question], lang: str, links: list[Any], console: Console) -> None:
    """Each question with its answer; `links[i]` is question i's (symbols, notes)."""
    for i, q in enumerate(questions, start=1):
        render_question(q, lang, console, i)
        render_verdict(q, lang, console, None, links[i - 1])
        console.print()


def ask_until_readable(q: Question, lang: str, console: Console, ask: Callable[[str], str]) -> str | None:
    """The first typed answer that reads as one of the question's form; an unreadable one is
    explained and asked again. None when the user stops (empty line, `q`, end of input)."""
    lab = LABELS[lang]
    while True:
        try:
            typed = ask(f"> {lab['quit']} ")
        except EOFError:
            return None
        if typed.strip().lower() in ("", "q", "quit"):
            return None
        if parse(q.form, typed, len(q.choices)) is not None:
            return typed
        console.print(f"[yellow]{lab['unreadable']}[/]: {escape(repr(typed))} — {escape(HINTS[q.form].get(lang))}")


def print_json(docs: list[dict[str, Any]], lang: str, header: dict[str, Any]) -> None:
    """The `--json` document: the header and the questions' documents (`codewalk.drill.doc.question_doc`)."""
    print(json.dumps({"drill": header, "lang": lang, "questions": docs}, ensure_ascii=False, default=str))


def render_stats(stats: dict[str, Any], lang: str, console: Console, path: str) -> None:
    cols = (("topic", "asked", "right", "streak", "best streak", "last seen") if lang == "en"
            else ("主题", "已答", "答对", "连对", "最长连对", "最近一次"))
    t = Table(*cols, title=path, title_justify="left")
    for topic, s in sorted(stats["topics"].items()):
        t.add_row(topic, str(s.get("asked", 0)), str(s.get("right", 0)), str(s.get("streak", 0)),
                  str(s.get("best_streak", 0)), str(s.get("last_seen", "")))
    console.print(t)
