"""`codewalk drill`: questions whose answers the bound C++ core computes on the spot.

Each topic module turns a seed into a scenario, runs it on `codewalk.core` and phrases the
question, the exact answer and the explanation in English and Chinese (`generate`); its
`recompute(kind, scenario, engine)` runs the same scenario on another engine (the tests pass
`codewalk.core.reference`). Factual questions come from the notes and the interview-facts guide
(`facts.py`), only for symbols that resolve in an available index.
"""

from __future__ import annotations

from typing import Any

from codewalk.drill.model import Question, is_right, parse, rng_for

TOPICS = ("prefix-cache", "scheduler", "vllm-vs-ksanallm", "paged-attention")

__all__ = ["TOPICS", "Question", "computed_kinds", "generate", "is_right", "module", "parse", "recompute"]


def module(topic: str) -> Any:
    """The generator module of a topic."""
    from codewalk.drill import paged_attention, prefix_cache, scheduler, vllm_vs_ksanallm

    return {"prefix-cache": prefix_cache, "scheduler": scheduler, "vllm-vs-ksanallm": vllm_vs_ksanallm,
            "paged-attention": paged_attention}[topic]


def computed_kinds(topic: str) -> tuple[str, ...]:
    return tuple(module(topic).KINDS)


def generate(topic: str, seed: int, facts: Any = None, kind: str | None = None) -> Question:
    """The question of (topic, seed): a computed kind, or — when `facts` (a `facts.FactBank`) has
    questions for this topic — sometimes a factual one. Same inputs, same question."""
    rng = rng_for(topic, seed)
    kinds = list(computed_kinds(topic))
    fact_kinds = facts.kinds(topic) if facts is not None else []
    if kind is None:  # about one question in four is factual, when the topic has any
        kind = rng.choice(fact_kinds if fact_kinds and rng.random() < 0.25 else kinds)
    if kind in fact_kinds:
        return facts.generate(topic, kind, rng, seed)
    return module(topic).generate(kind, rng, seed)


def recompute(q: Question, engine: Any) -> Any:
    """A computed question's answer on another engine (None for factual questions)."""
    if q.kind not in computed_kinds(q.topic):
        return None
    return module(q.topic).recompute(q.kind, q.scenario, engine)
