"""Scoring for bench/calls.py: codewalk's call edges against an independent reference.

Pure data and arithmetic (no jedi, clang or codewalk imports), so the unit test runs it on a
tiny hand-made fixture. Both sides describe call sites by what codewalk stores per site —
(path, line, callee name) — and targets by qualified name.

Rules (also printed by `bench/calls.py --help`):
* A reference site is `project` (its target is declared inside the checkout), `library`
  (builtins, stdlib, std, third-party) or `unknown` (the reference found no declaration, or the
  callee is a variable holding a callable): unknown sites are counted but never scored.
* Sites are paired by (path, line, name); several same-named calls on one line are paired in
  column order on the reference side and in stored order on codewalk's (their targets are
  almost always the same). A reference site codewalk did not record is "not recorded".
* Targets compare by normalised qualified name: template arguments dropped, `::` read as `.`,
  anonymous namespaces dropped; a class and its constructor are the same target (`X(...)` in
  Python resolves to the class in jedi and to `X.__init__` in codewalk; a C++ class without a
  user-declared constructor is its own target in codewalk); declaration and definition share
  the qualified name, so either counts.
* Dispatch targets (codewalk's `overrides`) are not part of an exact edge and never count
  against precision.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

MISS_CLASSES = ("unresolved", "not recorded", "marked external", "heuristic", "wrong target")


@dataclass(slots=True)
class RefSite:
    """One call site as the reference (jedi / clang) sees it."""

    path: str
    line: int
    col: int
    name: str
    kind: str  # 'project' | 'library' | 'unknown'
    targets: list[str] = field(default_factory=list)  # qualified names as the reference spells them
    where: str = ""  # file:line of the first target (for --show-misses)
    note: str = ""  # why a library/unknown site was classified so


@dataclass(slots=True)
class CwSite:
    """One call site as codewalk resolves it."""

    path: str
    line: int
    name: str
    resolution: str  # 'exact' | 'heuristic' | 'unresolved'
    kind: str  # 'project' | 'external' | 'macro'
    targets: list[str] = field(default_factory=list)
    caller: str = ""
    external: str = ""
    overrides: int = 0
    form: str = ""  # how the call is written, codewalk's call kind: plain, member, self_attr, ...
    receiver: str = ""  # `x` of x.f(), `a.b` of a.b.f() when stored


@dataclass(slots=True)
class Example:
    """One scored site, kept for --show-misses."""

    path: str
    line: int
    name: str
    reference: list[str]
    codewalk: list[str]
    caller: str = ""
    detail: str = ""
    form: str = ""

    def render(self) -> str:
        ref = ", ".join(self.reference) or "-"
        cw = ", ".join(self.codewalk[:4]) + (" …" if len(self.codewalk) > 4 else "") or "-"
        extra = f" [{self.detail}]" if self.detail else ""
        form = f" ({self.form})" if self.form else ""
        return (f"{self.path}:{self.line} {self.name}(){form} in {self.caller or '?'}: ref {ref}; "
                f"codewalk {cw}{extra}")


@dataclass(slots=True)
class Score:
    """Figures for one engine; see the module docstring for the definitions."""

    engine: str
    files: int = 0
    ref_sites: int = 0
    project_sites: int = 0
    library_sites: int = 0
    unknown_sites: int = 0
    exact_hits: int = 0
    exact_edges: int = 0  # exact project edges at sites the reference classified
    exact_correct: int = 0
    heuristic_sites: int = 0  # project sites codewalk answers with a heuristic edge
    heuristic_right: int = 0  # ... of which one candidate is the reference target
    heuristic_edges: int = 0  # heuristic project edges at classified (project or library) sites
    heuristic_wrong: int = 0  # ... at a library call, or without the reference target among them
    false_library: int = 0  # library sites with an exact or heuristic project edge
    false_library_exact: int = 0
    codewalk_only: int = 0  # codewalk sites with no reference site (macros, invisible to the AST)
    codewalk_only_names: list[tuple[str, int]] = field(default_factory=list)
    # Edges nobody can check: codewalk's exact project edges where the reference has no verdict.
    unscored_exact: int = 0  # at unknown sites and at codewalk-only sites (not macros)
    unscored_examples: list[Example] = field(default_factory=list)
    construction_sites: int = 0  # project sites that construct an object (C++: `T(...)`, `new T`)
    construction_hits: int = 0
    misses: dict[str, list[Example]] = field(default_factory=lambda: defaultdict(list))
    false_library_examples: list[Example] = field(default_factory=list)
    wrong_exact_examples: list[Example] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.exact_hits / self.project_sites if self.project_sites else 0.0

    @property
    def precision(self) -> float:
        return self.exact_correct / self.exact_edges if self.exact_edges else 0.0

    @property
    def heuristic_share(self) -> float:
        return self.heuristic_sites / self.project_sites if self.project_sites else 0.0

    def miss_counts(self) -> dict[str, int]:
        return {c: len(self.misses.get(c, [])) for c in MISS_CLASSES}

    def to_json(self, examples: int = 0) -> dict:
        """Machine-readable figures (and up to `examples` examples per failure class)."""
        out = {k: getattr(self, k) for k in (
            "engine", "files", "ref_sites", "project_sites", "library_sites", "unknown_sites",
            "exact_hits", "exact_edges", "exact_correct", "heuristic_sites", "heuristic_right",
            "heuristic_edges", "heuristic_wrong",
            "false_library", "false_library_exact", "codewalk_only", "codewalk_only_names",
            "unscored_exact",
            "construction_sites", "construction_hits", "notes")}
        out.update(exact_recall=round(self.recall, 4), exact_precision=round(self.precision, 4),
                   heuristic_share=round(self.heuristic_share, 4), misses=self.miss_counts())
        if examples:
            out["examples"] = {
                **{c: [asdict(e) for e in self.misses.get(c, [])[:examples]] for c in MISS_CLASSES},
                "false library edges": [asdict(e) for e in self.false_library_examples[:examples]],
                "wrong exact edges": [asdict(e) for e in self.wrong_exact_examples[:examples]],
                "unscored exact edges": [asdict(e) for e in self.unscored_examples[:examples]],
            }
        return out


# ----------------------------------------------------------------------------- names

def normalise(qname: str) -> str:
    """`ns::Foo<Bar<int>>::f` -> `ns.Foo.f`; anonymous namespaces and leading separators dropped."""
    out, depth = [], 0
    for ch in qname:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    text = "".join(out).replace("::", ".").replace(" ", "")
    parts = [p for p in text.split(".") if p and not p.startswith("(anonymous")]
    return ".".join(parts)


def same_target(codewalk: str, reference: str) -> bool:
    """Whether a codewalk target and a reference target are the same callable (see module doc)."""
    cw, ref = normalise(codewalk), normalise(reference)
    if cw == ref:
        return True
    if cw.endswith(".__init__") and cw[: -len(".__init__")] == ref:
        return True  # Python: jedi names the class, codewalk its constructor
    if ref.endswith(".__init__") and ref[: -len(".__init__")] == cw:
        return True
    head, _, last = ref.rpartition(".")
    if head.rpartition(".")[2] == last and cw == head:
        return True  # C++: constructor X::X (clang) vs class X (codewalk, no user constructor)
    head, _, last = cw.rpartition(".")
    return head.rpartition(".")[2] == last and ref == head


def matches(cw_targets: list[str], ref_targets: list[str]) -> bool:
    """Every codewalk target is one of the reference targets (and there is at least one)."""
    return bool(cw_targets) and all(any(same_target(c, r) for r in ref_targets) for c in cw_targets)


def any_match(cw_targets: list[str], ref_targets: list[str]) -> bool:
    return any(same_target(c, r) for c in cw_targets for r in ref_targets)


# ----------------------------------------------------------------------------- pairing

def pair(ref: list[RefSite], cw: list[CwSite]) -> tuple[list[tuple[RefSite, CwSite | None]], list[CwSite]]:
    """Reference sites with their codewalk site (None when codewalk did not record one), and
    the codewalk sites left without a reference site (macros, code the compiler skips)."""
    by_key: dict[tuple[str, int, str], list[CwSite]] = defaultdict(list)
    for site in cw:
        by_key[(site.path, site.line, site.name)].append(site)
    refs: dict[tuple[str, int, str], list[RefSite]] = defaultdict(list)
    for site in ref:
        refs[(site.path, site.line, site.name)].append(site)
    pairs: list[tuple[RefSite, CwSite | None]] = []
    for key, sites in refs.items():
        theirs = by_key.get(key, [])
        for i, site in enumerate(sorted(sites, key=lambda s: s.col)):
            pairs.append((site, theirs[i] if i < len(theirs) else None))
    left = [c for key, sites in by_key.items() for c in sites[len(refs.get(key, ())):]]
    return pairs, left


# ----------------------------------------------------------------------------- scoring

def _example(r: RefSite, c: CwSite | None, detail: str = "") -> Example:
    ref = [f"{t} ({r.where})" if r.where and i == 0 else t for i, t in enumerate(r.targets)]
    if not ref and r.note:
        ref = [f"<{r.note}>"]
    form = ""
    if c is not None and c.form:
        form = c.form + (f" {' '.join(c.receiver.split())}." if c.receiver else "")
    return Example(r.path, r.line, r.name, ref, list(c.targets) if c else [],
                   c.caller if c else "", detail, form)


def score(engine: str, ref: list[RefSite], cw: list[CwSite]) -> Score:
    """Score codewalk's sites against the reference's (both restricted to the same files)."""
    s = Score(engine, files=len({r.path for r in ref}), ref_sites=len(ref))
    pairs, left = pair(ref, cw)
    s.codewalk_only = len(left)
    s.codewalk_only_names = Counter(c.name for c in left).most_common(10)
    for c in left:
        if c.kind == "project" and c.resolution == "exact" and c.targets:
            s.unscored_exact += 1
            s.unscored_examples.append(Example(c.path, c.line, c.name, ["<no reference site>"],
                                               list(c.targets), c.caller, "", c.form))
    for r, c in pairs:
        if r.kind == "unknown":
            s.unknown_sites += 1
            if c is not None and c.kind == "project" and c.resolution == "exact" and c.targets:
                s.unscored_exact += 1
                s.unscored_examples.append(_example(r, c, "reference: unknown"))
            continue
        project_edge = c is not None and c.kind == "project" and bool(c.targets)
        exact = project_edge and c.resolution == "exact"
        if exact:
            s.exact_edges += 1
        guessed = project_edge and c.resolution == "heuristic"
        if guessed:
            s.heuristic_edges += 1
            s.heuristic_wrong += r.kind == "library" or not any_match(c.targets, r.targets)
        if r.kind == "library":
            s.library_sites += 1
            if project_edge and c.resolution in ("exact", "heuristic"):
                s.false_library += 1
                s.false_library_exact += exact
                s.false_library_examples.append(_example(r, c, c.resolution))
            continue
        s.project_sites += 1
        construction = r.note == "construction"
        s.construction_sites += construction
        if exact and matches(c.targets, r.targets):
            s.exact_hits += 1
            s.exact_correct += 1
            s.construction_hits += construction
            continue
        if exact:
            s.misses["wrong target"].append(_example(r, c))
            s.wrong_exact_examples.append(_example(r, c))
        elif c is None:
            s.misses["not recorded"].append(_example(r, c))
        elif c.kind == "external":
            s.misses["marked external"].append(_example(r, c, c.external))
        elif c.resolution == "heuristic" and c.targets:
            s.heuristic_sites += 1
            s.heuristic_right += any_match(c.targets, r.targets)
            s.misses["heuristic"].append(_example(r, c, f"{len(c.targets)} candidates"))
        else:
            s.misses["unresolved"].append(_example(r, c, c.kind if c.kind != "project" else ""))
    return s


def top_names(examples: list[Example], n: int = 8) -> list[tuple[str, int]]:
    """Most frequent callee names in a failure class (what to fix first)."""
    return Counter(e.name for e in examples).most_common(n)


def top_forms(examples: list[Example]) -> list[tuple[str, int]]:
    """How the failing calls are written (codewalk's call kinds), most frequent first."""
    return Counter(e.form.split(" ")[0] or "?" for e in examples).most_common()
