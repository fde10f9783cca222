"""`codewalk drill`: questions whose answers the bound core computes from a seeded scenario.

Type an answer and codewalk says right or wrong, replays the steps that prove it and links the
source symbols and notes that explain it. `--non-interactive` prints questions with their
answers, `--json` one document; results are kept per user under `$CODEWALK_HOME/drill/`
(`--stats` summarises them).
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any, Callable


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `drill` subcommand."""
    from codewalk.drill import TOPICS

    p = sub.add_parser("drill", help="questions answered by the core: prefix cache, scheduler, vLLM vs KsanaLLM, paging",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--topic", choices=TOPICS, default=None, help="one topic (default: all, in turn)")
    p.add_argument("--count", type=_count, default=5, help="questions (5)")
    p.add_argument("--seed", type=int, default=None, help="seed of the first question (default: random); "
                                                          "question i uses seed + i")
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="language (default: locale)")
    p.add_argument("--json", action="store_true", help="one JSON document: questions, answers, explanations")
    p.add_argument("--non-interactive", action="store_true", help="print each question with its answer")
    p.add_argument("--no-replay", action="store_true", help="interactive: do not print the step-by-step replay")
    p.add_argument("--stats", action="store_true", help="per topic: asked, right, streak, last seen")
    p.add_argument("--source", action="append", default=[], metavar="NAME=PATH",
                   help="a checkout for factual questions about that source's notes (repeatable)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from codewalk.drill import stats as st
    from codewalk.notes.bilingual import default_lang

    lang = args.lang or default_lang()
    path = st.stats_path()
    if args.stats:
        return _stats(path, lang, args.json)
    from codewalk.sources.checkouts import SourceError, parse_pairs

    try:
        overrides = parse_pairs(args.source)
    except SourceError as exc:
        print(f"codewalk drill: {exc}", file=sys.stderr)
        return 2
    from codewalk.drill import TOPICS, generate
    from codewalk.drill.doc import links, question_doc
    from codewalk.drill.facts import load_bank
    from codewalk.views import drill as view

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    topics = [args.topic] if args.topic else list(TOPICS)
    bank = load_bank(overrides)
    questions = [generate(topics[i % len(topics)], seed + i, bank) for i in range(args.count)]
    if args.json:
        view.print_json([question_doc(q, lang, bank) for q in questions], lang,
                        {"seed": seed, "count": args.count, "topics": topics})
        return 0
    from codewalk.views.term import console as _term_console  # pipe-safe; one helper for every view

    console = _term_console()
    if args.non_interactive:
        view.print_non_interactive(questions, lang, [links(q, bank) for q in questions], console)
        return 0
    return _interactive(questions, lang, bank, console, path, not args.no_replay)


def _interactive(questions, lang, bank, console, path, replay: bool) -> int:
    from codewalk.drill import stats as st
    from codewalk.views import drill as view

    results, message = st.load(path, repair=True)
    if message:
        print(f"codewalk drill: warning: {message}", file=sys.stderr)

    def on_answer(q, right: bool) -> None:
        st.record(results, q.topic, right)
        st.save(path, results)

    run_interactive(questions, lang, bank, console, ask=input, on_answer=on_answer, replay=replay)
    return 0


def run_interactive(questions: list, lang: str, bank: Any, console: Any, ask: Callable[[str], str] = input,
                    on_answer: Callable[[Any, bool], None] | None = None, replay: bool = True) -> tuple[int, int]:
    """Ask each question, judge the typed answer, show the proof; returns (asked, right).
    An empty line, `q` or end of input stops early."""
    from codewalk.drill.doc import links
    from codewalk.views import drill as view

    lab = view.LABELS[lang]
    asked = right = 0
    for i, q in enumerate(questions, start=1):
        view.render_question(q, lang, console, i)
        typed = view.ask_until_readable(q, lang, console, ask)
        if typed is None:
            break
        ok = bool(view.render_verdict(q, lang, console, typed, links(q, bank)))
        if replay and q.replay:
            console.rule(lab["replay"])
            view.render_replay(q, console)
        asked, right = asked + 1, right + ok
        if on_answer is not None:
            on_answer(q, ok)
    console.print(lab["score"].format(right=right, asked=asked))
    return asked, right


def _stats(path, lang: str, as_json: bool) -> int:
    import json

    from codewalk.drill import stats as st
    from codewalk.views.drill import render_stats

    try:
        results, _ = st.load(path)
    except (st.StatsError, OSError) as exc:
        print(f"codewalk drill: {exc}\n(the file is left as it is; the next drill session moves it to a "
              f"backup and starts afresh)", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps({"path": str(path), **results}, ensure_ascii=False))
    else:
        from codewalk.views.term import console as _term_console

        render_stats(results, lang, _term_console(), str(path))
    return 0
