"""A guide as Markdown: prose, notes, code excerpts (fenced) and Mermaid diagrams."""

from __future__ import annotations

from codewalk.guides import diagrams
from codewalk.guides.resolve import ResolvedGuide, ResolvedStep


def render(rg: ResolvedGuide, lang: str = "en") -> str:
    g = rg.guide
    out = [f"# {g.title.get(lang)}", "", g.summary.get(lang), ""]
    if g.requires:
        out += [("先读：" if lang == "zh" else "Read first: ") + ", ".join(f"`{r}`" for r in g.requires), ""]
    out += [f"{i}. [{s.step.title.get(lang)}](#step-{i})" for i, s in enumerate(rg.steps, 1)]
    for i, rs in enumerate(rg.steps, 1):
        out += ["", f'<a id="step-{i}"></a>', f"## {i}. {rs.step.title.get(lang)}", ""]
        out += _step(rs, lang)
    return "\n".join(out).rstrip() + "\n"


def _step(rs: ResolvedStep, lang: str) -> list[str]:
    out = []
    if rs.step.prose.get(lang):
        out += [rs.step.prose.get(lang), ""]
    if rs.note is not None:
        out += [f"> **{rs.note.heading(lang)}** (`{rs.note.id}`)", ">"]
        out += [f"> {line}" if line else ">" for line in rs.note.text(lang).splitlines()]
        out.append("")
    loc = rs.located
    if loc is not None:
        where = f"`{loc.qname}` — `{loc.path}:{loc.line}`"
        if loc.fallback:
            where += " (codewalk core's counterpart; no KsanaLLM checkout)"
        fence = "```" + ("python" if loc.language == "python" else "cpp")
        out += [where, "", fence, loc.code, "```", ""]
    elif rs.missing:
        out += [f"*{rs.step.symbol}: {rs.missing}*", ""]
    diagram = diagrams.for_step(rs.step.diagram, loc) if rs.step.diagram else None
    if diagram is not None:
        out += [f"*{diagram.title}*", "", "```mermaid", diagrams.mermaid(diagram), "```", ""]
    if rs.step.demo:
        out += ["Run it:", "", "```sh", rs.step.demo, "```", ""]
    return out
