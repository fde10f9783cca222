"""A guide as a CodeTour `.tour` file (VS Code's CodeTour extension).

CodeTour opens a tour inside one workspace, so steps whose code lives in the guide's main source
point at `file` + `line`; every other step becomes a content-only step carrying its text.
"""

from __future__ import annotations

import json

from codewalk.guides.resolve import ResolvedGuide

SCHEMA = "https://aka.ms/codetour-schema"


def render(rg: ResolvedGuide, lang: str = "en", workspace_source: str | None = None) -> str:
    g = rg.guide
    main = workspace_source or g.source
    steps = []
    for rs in rg.steps:
        text = [rs.step.prose.get(lang)]
        if rs.note is not None:
            text.append(f"**{rs.note.heading(lang)}**\n\n{rs.note.text(lang)}")
        if rs.step.demo:
            text.append(f">> {rs.step.demo}")  # CodeTour runs `>>` lines as terminal commands
        step = {"title": rs.step.title.get(lang), "description": "\n\n".join(t for t in text if t)}
        loc = rs.located
        if loc is not None and loc.source == main and not loc.fallback:
            step.update(file=loc.path, line=loc.line)
        elif loc is not None:
            step["description"] += f"\n\n`{loc.qname}` ({loc.source}: {loc.path}:{loc.line})"
        steps.append(step)
    description = g.summary.get(lang)
    if g.requires:
        description += ("\n\n先读：" if lang == "zh" else "\n\nRead first: ") + ", ".join(g.requires)
    tour = {"$schema": SCHEMA, "title": g.title.get(lang), "description": description, "steps": steps}
    return json.dumps(tour, ensure_ascii=False, indent=2) + "\n"
