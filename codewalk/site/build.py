"""`codewalk site`: build the whole static site into one folder.

Order: collect each source from its index (calls resolved once, in forked workers), render the
code pages whose inputs changed (forked workers again; each page is skipped when the manifest
says its inputs are the same, and written only when its bytes differ), then the index, the
file lists, the guides, the search index (always rewritten) and the players.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from codewalk.site import data
from codewalk.site.assets import CSS, JS
from codewalk.site.code_page import CodePage
from codewalk.site.collect import collect
from codewalk.site.manifest import CODE_VERSION as VERSION, Manifest, digest
from codewalk.site.model import SourceData, Sym
from codewalk.site.pages import SEARCH_INDEX, guide_page, index_page, search_index, source_page


@dataclass
class SiteStats:
    """What a build did, for `--json` and the bench."""

    out: str
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
    guides: int = 0
    pages: int = 0
    written: int = 0
    rendered: int = 0
    removed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    players: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase, for the bench
    written_pages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.pop("written_pages")
        return d


_STATE: dict[str, Any] = {}


def build_site(out: Path, targets: dict[str, data.Target], lang: str = "en", trace: list[dict] | None = None,
               jobs: int = 0, progress: bool | None = None, history: bool = False) -> SiteStats:
    """Write the site for `targets` (site folder name -> checkout) into `out`; incremental."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    stats = SiteStats(str(out))
    settings = f"{VERSION};lang={lang}"
    manifest = Manifest.load(out, settings)
    notes = data.load_notes(data.annotations_dir())
    show = sys.stderr.isatty() if progress is None else progress
    with _progress(show) as bar:
        sources = []
        for name, target in targets.items():
            calls = bar(f"resolving {name}", None)
            sources.append(collect(name, target, notes, jobs, tick=calls, history=history))
            stats.phases[f"collect {name}"] = _lap(start, stats)
        xref = _xref(sources)
        _code_pages(sources, xref, lang, manifest, jobs, bar("pages", sum(len(s.files) for s in sources)), stats)
        stats.phases["code pages"] = _lap(start, stats)
    for src in sources:
        stats.sources[src.name] = {"files": len(src.files), "symbols": len(src.syms),
                                   "notes": sum(len(s.notes) for s in src.syms)}
        manifest.write(f"{src.name}/index.html", source_page(src, lang))
    manifest.write("assets/site.css", CSS + _pygments_css())
    manifest.write("assets/site.js", JS)
    manifest.write(SEARCH_INDEX, search_index(sources), always=True)
    guides = _guides(sources, notes, lang, manifest, stats)
    stats.phases["guides, index, search"] = _lap(start, stats)
    stats.players = [str(p) for p in _players(out, trace, sources)]
    for p in stats.players:
        manifest.seen.add(os.path.relpath(p, out))  # the players' files are theirs, never swept
    manifest.write("index.html", index_page(sources, guides, lang, players=bool(stats.players)))
    manifest.finish(settings)
    stats.pages = len(manifest.pages)
    stats.written = len(manifest.written)
    stats.written_pages = sorted(manifest.written)
    stats.removed = len(manifest.removed)
    stats.bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    stats.seconds = round(time.perf_counter() - start, 2)
    return stats


def _lap(start: float, stats: SiteStats) -> float:
    """Seconds since the previous phase ended."""
    return round(time.perf_counter() - start - sum(stats.phases.values()), 2)


@contextmanager
def _progress(show: bool) -> Iterator[Callable[[str, int | None], Callable[[int], None] | None]]:
    """A factory of rich progress tasks (tick functions); nothing at all when not on a terminal."""
    if not show:
        yield lambda label, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        def task(label: str, total: int | None) -> Callable[[int], None]:
            tid = progress.add_task(label, total=total)
            return lambda n: progress.advance(tid, n)
        yield task


def _xref(sources: list[SourceData]) -> dict[tuple[str, str], str]:
    """(notes source, qname) -> URL from DIR, for every counterpart some note points to."""
    wanted = {(c["source"], c["symbol"]) for s in sources for sym in s.syms for c in sym.counterparts}
    out: dict[tuple[str, str], str] = {}
    for src in sources:
        for sym in src.syms:
            key = (src.notes_source, sym.qname)
            if key in wanted and key not in out:
                from urllib.parse import quote
                out[key] = quote(src.href(sym), safe="/#")
    return out


def _summary(s: Sym) -> str:
    return f"{s.qname}|{s.kind}|{s.path}|{s.line}|{s.signature}|{s.anchor}|" + json.dumps(
        [[n["id"], n["title"], n["title_zh"], n.get("status", ""), n.get("detail", "")] for n in s.notes],
        ensure_ascii=False)


def page_key(src: SourceData, path: str, xref: dict[tuple[str, str], str], lang: str) -> str:
    """Hash of everything the code page of path is made from (its text by the index's digest)."""
    f = src.files[path]
    syms = src.syms
    parts = [VERSION, lang, src.name, path, f.digest]
    for link in f.links:
        parts.append(f"{link.line}:{link.name}>{_summary(syms[link.target])}"
                     + "".join(_summary(syms[o]) for o in link.overrides))
    for i in f.defined:
        s = syms[i]
        parts.append("D" + _summary(s) + json.dumps(
            [s.defs, s.decls, s.base_names, s.history, s.counterparts,
             [n["text"] + n["text_zh"] for n in s.notes],
             [xref.get((c["source"], c["symbol"]), "") for c in s.counterparts]], ensure_ascii=False))
        for refs in (s.callers, s.callees):
            parts.extend(f"{r.path}:{r.line}:{r.via}>{_summary(syms[r.sym])}" for r in refs)
        parts.extend("B" + _summary(syms[b]) for b in s.bases + s.derived)
    return digest("\n".join(parts))


def _code_pages(sources: list[SourceData], xref: dict, lang: str, manifest: Manifest, jobs: int,
                tick: Callable[[int], None] | None, stats: SiteStats) -> None:
    """Render (in forked workers) the code pages whose inputs changed; record them all."""
    tasks = []
    for si, src in enumerate(sources):
        for path in src.files:
            rel = f"{src.name}/{path}.html"
            key = page_key(src, path, xref, lang)
            if manifest.fresh(rel, key):
                if tick:
                    tick(1)
                continue
            tasks.append((si, path, rel, key, manifest.pages.get(rel, {}).get("hash", "")))
    _STATE.update(sources=sources, xref=xref, lang=lang, out=manifest.out)
    jobs = jobs or min(2, os.cpu_count() or 1)
    if jobs > 1 and len(tasks) > 20 and "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            results = list(_ticking(pool.imap_unordered(_render_task, tasks, chunksize=4), tick))
    else:
        results = list(_ticking(map(_render_task, tasks), tick))
    for rel, key, h, written, problem in results:
        manifest.seen.add(rel)
        if problem:
            stats.problems.append(problem)
            continue
        manifest.pages[rel] = {"key": key, "hash": h}
        if written:
            manifest.written.append(rel)
    stats.rendered = len(tasks)


def _ticking(results: Any, tick: Callable[[int], None] | None) -> Iterator[Any]:
    for r in results:
        if tick:
            tick(1)
        yield r


def _render_task(task: tuple[int, str, str, str, str]) -> tuple[str, str, str, bool, str]:
    """(rel, key, content hash, written?, problem) for one code page."""
    si, path, rel, key, old = task
    src: SourceData = _STATE["sources"][si]
    try:
        text = (Path(src.root) / path).read_bytes().decode("utf-8", "replace")
    except OSError as exc:
        return rel, key, "", False, f"{src.name}/{path}: {exc.strerror or exc}"
    html = CodePage(src, src.files[path], _STATE["lang"], _STATE["xref"]).render(text).encode("utf-8")
    h = digest(html)
    target = Path(_STATE["out"]) / rel
    if h == old and target.is_file():
        return rel, key, h, False, ""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.write_bytes(html)
    os.replace(tmp, target)
    return rel, key, h, True, ""


def _pygments_css() -> str:
    from pygments.formatters import HtmlFormatter

    from codewalk.site.highlight import STYLE

    return HtmlFormatter(style=STYLE).get_style_defs(".code")


def _guides(sources: list[SourceData], notes: data.Notes, lang: str, manifest: Manifest,
            stats: SiteStats) -> list[tuple[str, str, str]]:
    """Every guide as today's HTML export, excerpts linked; (id, title, summary) in reading order."""
    overrides = {s.notes_source: Path(s.root) for s in sources if not s.builtin}
    built = {s.name: s for s in sources}
    out = []
    for guide in data.load_guides(notes):
        html, resolved = data.render_guide(guide, notes, overrides, lang)
        manifest.write(f"guides/{guide.id}.html", guide_page(html, resolved, built))
        out.append((guide.id, guide.title.get(lang), guide.summary.get(lang)))
    stats.guides = len(out)
    return out


def link_for_factory(sources: list[SourceData]) -> Callable[[str], str | None]:
    """`link_for(name)`: a function name as the core's demo frames print it (`ProcessWaitingQueue`,
    `PrefixCacheManager::AllocateRequestBlocks`) -> its code page line relative to DIR, or None.
    The core is searched first (the demos run it), then the other sources; best `show` rank wins."""
    from urllib.parse import quote

    order = sorted(sources, key=lambda s: s.notes_source != "core")
    cache: dict[str, str | None] = {}

    def link_for(name: str) -> str | None:
        if name in cache:
            return cache[name]
        name_ = name.strip().removesuffix("()")
        short = name_.replace(".", "::").split("::")[-1]
        found = None
        for src in order:
            hits = [s for s in src.syms if s.name == short and s.path in src.files
                    and (s.qname == name_ or s.qname.endswith(("::" + name_.replace(".", "::"), "." + name_))
                         or name_ == short)]
            if hits:
                best = min(hits, key=lambda s: (s.kind in ("field", "alias"), s.rank))
                found = quote(src.href(best), safe="/#")
                break
        cache[name] = found
        return found
    return link_for


def _players(out: Path, trace: list[dict] | None, sources: list[SourceData]) -> list[Path]:
    """The scheduler and prefix-cache players (`play/`), their functions linked into the code pages.

    KsanaLLM's real scheduler is shown beside the core's when a KsanaLLM source is in the site
    and its engine is already built (a site build never compiles)."""
    from codewalk.site.player import write_players

    real = any(s.notes_source == "ksanallm" for s in sources)
    return write_players(out, trace=trace, real=real, link_for=link_for_factory(sources))
