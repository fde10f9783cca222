"""Guides: schema errors, resolution against a checkout, and the three exports (md, html, tour)."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import textwrap
import zlib
from pathlib import Path

import pytest

from codewalk.notes.schema import annotations_dir, load
from codewalk.cli import main
from codewalk.guides.export import codetour, html, markdown
from codewalk.guides.schema import guides_dir, load_guides
from codewalk.guides.resolve import resolve_guide

CPP = """\
namespace demo {
// A comment that tries <script>alert('src')</script>
int Admit(int n) { return n > 0 ? Launch(n) : 0; }
int Launch(int n) { return n; }
}  // namespace demo
"""

NOTES = """\
notes:
  - id: demo.admit
    source: demo
    symbol: "demo::Admit"
    fingerprint: 0123456789abcdef
    title: Admission <b>first</b>
    title_zh: 准入
    en: Admits when `n` is positive. <script>alert('note')</script>
    zh: 正数才接纳。
"""

GUIDE = """\
id: demo-tour
title: {en: A tour, zh: 导览}
summary: {en: Two stops., zh: 两站。}
source: demo
steps:
  - note: demo.admit
    prose: {en: Start at admission., zh: 从准入开始。}
    diagram: callgraph
  - symbol: "demo::Launch"
    prose: {en: Then what it launches., zh: 然后看它发射了什么。}
    demo: codewalk demo schedule
  - title: {en: Wrap-up, zh: 小结}
    prose: {en: "Queues, as the core runs them.", zh: 核心里的队列。}
    diagram: queues
"""


@pytest.fixture
def tour(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "demo.cpp").write_text(CPP)
    notes_dir = tmp_path / "annotations"
    (notes_dir / "guides").mkdir(parents=True)
    (notes_dir / "sources.yaml").write_text("sources:\n  demo: {language: cpp, kind: git, env: CODEWALK_DEMO_X}\n")
    (notes_dir / "demo.yaml").write_text(NOTES)
    (notes_dir / "guides" / "demo-tour.yaml").write_text(GUIDE)
    notes = load(notes_dir)
    guides = load_guides(notes_dir / "guides", notes)
    assert notes.errors == [] and guides.errors == []
    return resolve_guide(guides.get("demo-tour"), notes, {"demo": repo})


def test_resolution_in_order_with_code_and_callees(tour) -> None:
    assert [s.step.title.en for s in tour.steps] == ["Admission <b>first</b>", "demo::Launch", "Wrap-up"]
    first = tour.steps[0].located
    assert (first.path, first.line, first.callees) == ("demo.cpp", 3, ["demo::Launch"])
    assert tour.steps[2].located is None and tour.steps[2].missing == ""


def test_markdown_export(tour) -> None:
    md = markdown.render(tour)
    assert md.index("## 1. Admission") < md.index("## 2. demo::Launch") < md.index("## 3. Wrap-up")
    assert "1. [Admission <b>first</b>](#step-1)" in md and '<a id="step-3"></a>' in md
    assert "```cpp\nint Admit(int n)" in md and "`demo::Admit` — `demo.cpp:3`" in md
    assert "```mermaid\nflowchart LR" in md and 'n1["demo::Launch"]' in md
    assert "codewalk demo schedule" in md
    assert "## 1. 准入" in markdown.render(tour, "zh")


def test_html_export_is_self_contained_and_escaped(tour) -> None:
    page = html.render(tour)
    assert "<script" not in page.lower()  # from the note and from the source file, both escaped
    assert "&lt;script&gt;alert(&#x27;note&#x27;)&lt;/script&gt;" in page
    assert "Admission &lt;b&gt;first&lt;/b&gt;" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing fetched when opened
    assert page.count('<section id="step-') == 3 and 'href="#step-2"' in page
    assert page.count("<svg") == 2  # call graph + queue flow, drawn inline
    assert 'class="hl"' in page and "<code>n</code>" in page


def test_codetour_export(tour) -> None:
    data = json.loads(codetour.render(tour))
    assert data["$schema"] == "https://aka.ms/codetour-schema" and data["title"] == "A tour"
    steps = data["steps"]
    assert [s["title"] for s in steps] == ["Admission <b>first</b>", "demo::Launch", "Wrap-up"]
    assert (steps[0]["file"], steps[0]["line"]) == ("demo.cpp", 3)
    assert ">> codewalk demo schedule" in steps[1]["description"]
    assert "file" not in steps[2] and all(set(s) <= {"title", "description", "file", "line"} for s in steps)


def test_guide_schema_errors(tmp_path: Path) -> None:
    d = tmp_path / "a"
    (d / "guides").mkdir(parents=True)
    (d / "demo.yaml").write_text(NOTES)
    bad = d / "guides" / "other-name.yaml"
    bad.write_text(textwrap.dedent("""\
        id: bad-guide
        title: t
        summary: s
        colour: red
        steps:
          - note: nowhere
          - symbol: x
            diagram: pie
          - demo: rm -rf /
            prose: p
        """))
    errors = load_guides(d / "guides", load(d)).errors
    assert errors == [
        f"{bad}:4: unknown key 'colour'",
        f"{bad}:1: guide id must be lowercase-hyphen and match the file name",
        f"{bad}:6: step names unknown note 'nowhere'",
        f"{bad}:8: diagram must be one of callgraph, paging, queues, tree",
        f"{bad}:9: demo must be a `codewalk demo …` command",
    ]


def test_shipped_guides_load_and_resolve_on_builtin_corpus(capsys, tmp_path: Path) -> None:
    notes = load(annotations_dir())
    guides = load_guides(guides_dir(annotations_dir()), notes)
    assert guides.errors == [] and guides.guides
    for g in guides.guides:
        assert all(s.note or s.symbol or s.prose.en for s in g.steps)
        assert all(s.prose.en and s.prose.zh for s in g.steps), g.id
    assert main(["guide", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["guides"]
    assert {x["id"] for x in listed} == {g.id for g in guides.guides}


def _png_is_blank(png: bytes) -> bool:
    """True when every decoded scanline byte is the same (a blank screenshot)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return len(set(raw[1:4000])) <= 2


@pytest.mark.parametrize("gid", ["ksanallm-prefix-cache", "ksanallm-split-fuse", "long-cot-memory",
                                 "tensor-pipeline-parallel", "speculative-decoding"])
def test_html_renders_in_headless_chromium(gid: str, tmp_path: Path, capsys) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    out = tmp_path / "guide.html"
    assert main(["guide", gid, "--format", "html", "-o", str(out)]) == 0
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1200,1600",
         f"--screenshot={shot}", out.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    assert not _png_is_blank(shot.read_bytes())
    console_errors = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]
    assert console_errors == []


# ---------------------------------------------------------------------- reading order


NEW_GUIDES = ["ksanallm-split-fuse", "long-cot-memory", "tensor-pipeline-parallel", "speculative-decoding"]


def _guide_file(d: Path, gid: str, extra: str = "") -> None:
    (d / "guides" / f"{gid}.yaml").write_text(
        f"id: {gid}\ntitle: {gid}\nsummary: s\n{extra}steps:\n  - note: demo.admit\n")


def test_reading_order_follows_requires_then_order(tmp_path: Path) -> None:
    d = tmp_path / "a"
    (d / "guides").mkdir(parents=True)
    (d / "demo.yaml").write_text(NOTES)
    _guide_file(d, "zeta-basics", "order: 1\n")
    _guide_file(d, "alpha-advanced", "requires: [zeta-basics, mid]\n")
    _guide_file(d, "mid", "requires: zeta-basics\norder: 90\n")
    _guide_file(d, "beta-side")
    guides = load_guides(d / "guides", load(d))
    assert guides.errors == []
    # zeta-basics first (order 1); beta-side (50) before mid (90); alpha-advanced only after mid
    assert [g.id for g in guides.ordered()] == ["zeta-basics", "beta-side", "mid", "alpha-advanced"]
    assert guides.get("mid").requires == ["zeta-basics"]


def test_requires_errors_name_the_file(tmp_path: Path) -> None:
    d = tmp_path / "a"
    (d / "guides").mkdir(parents=True)
    (d / "demo.yaml").write_text(NOTES)
    _guide_file(d, "one", "requires: [two]\n")
    _guide_file(d, "two", "requires: [one]\n")
    _guide_file(d, "three", "requires: [nowhere]\norder: soon\n")
    _guide_file(d, "four", "requires: {a: b}\n")
    guides = load_guides(d / "guides", load(d))
    g = d / "guides"
    assert f"{g / 'three.yaml'}:1: guide 'three' requires unknown guide 'nowhere'" in guides.errors
    assert f"{g / 'three.yaml'}:5: order must be an integer" in guides.errors
    assert f"{g / 'four.yaml'}:4: requires must be a guide id or a list of guide ids" in guides.errors
    assert any("require each other in a cycle" in e and "one" in e and "two" in e for e in guides.errors)
    assert {x.id for x in guides.ordered()} == {"one", "two", "three", "four"}  # a cycle never loses guides


def test_shipped_guides_in_reading_order(capsys) -> None:
    notes = load(annotations_dir())
    guides = load_guides(guides_dir(annotations_dir()), notes)
    order = [g.id for g in guides.ordered()]
    assert len(order) >= 9 and set(NEW_GUIDES) <= set(order)
    assert order[0] == "paged-attention" and order[-1] == "interview-facts"
    for g in guides.guides:  # every prerequisite comes earlier
        assert all(order.index(r) < order.index(g.id) for r in g.requires), g.id
    assert main(["guide", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["guides"]
    assert [x["id"] for x in listed] == order and [x["position"] for x in listed] == list(range(1, len(order) + 1))
    assert listed[order.index("ksanallm-vs-vllm")]["requires"] == ["paged-attention", "ksanallm-scheduler"]
    assert main(["guide", "--lang", "en"]) == 0
    table = capsys.readouterr().out
    assert "reading order" in table and "assumes" in table
    assert table.index("paged-attention") < table.index("ksanallm-split-fuse") < table.index("interview-facts")


def test_every_bug_and_behaviour_note_is_cited_by_a_guide_step() -> None:
    notes = load(annotations_dir())
    guides = load_guides(guides_dir(annotations_dir()), notes)
    cited = {s.note for g in guides.guides for s in g.steps}
    dynamics = {n.id for n in notes.notes if n.id.startswith(("ksanallm.bug.", "ksanallm.behaviour."))}
    assert len(dynamics) >= 15 and dynamics <= cited, sorted(dynamics - cited)


@pytest.mark.parametrize("gid", NEW_GUIDES)
def test_new_guides_export_in_three_formats(gid: str, tmp_path: Path, capsys) -> None:
    for fmt in ("md", "html", "tour"):
        out = tmp_path / f"{gid}.{fmt}"
        assert main(["guide", gid, "--format", fmt, "-o", str(out)]) == 0
        text = out.read_text(encoding="utf-8")
        assert "Read first: " in text or "Read first: " in json.dumps(text)
    md = (tmp_path / f"{gid}.md").read_text(encoding="utf-8")
    guide = load_guides(guides_dir(annotations_dir()), load(annotations_dir())).get(gid)
    assert md.count("\n## ") == len(guide.steps) >= 9
    page = (tmp_path / f"{gid}.html").read_text(encoding="utf-8")
    assert page.count('<section id="step-') == len(guide.steps) and "<script" not in page.lower()
    tour = json.loads((tmp_path / f"{gid}.tour").read_text(encoding="utf-8"))
    assert len(tour["steps"]) == len(guide.steps) and all(s["description"] for s in tour["steps"])
    assert main(["guide", gid, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requires"] == guide.requires
    assert main(["guide", gid, "--all", "--lang", "en"]) == 0
    assert "Read first: " + ", ".join(guide.requires) in capsys.readouterr().out.replace("\n│ ", " ")
    zh = markdown.render(resolve_guide(guide, load(annotations_dir())), "zh")
    assert "先读：" in zh and re.search(r"[\u4e00-\u9fff]", zh)


# ---------------------------------------------------------------------- check --strict: both languages


def test_strict_check_fails_on_a_note_that_defers_to_the_other_language(tmp_path: Path, capsys) -> None:
    from codewalk.notes.bilingual import gaps

    d = tmp_path / "a"
    d.mkdir()
    (d / "sources.yaml").write_text("sources:\n  demo: {language: cpp, kind: git, env: CODEWALK_DEMO_X}\n")
    (d / "demo.yaml").write_text(NOTES + textwrap.indent(textwrap.dedent("""\
          - id: demo.lazy
            source: demo
            symbol: "demo::Launch"
            fingerprint: 0123456789abcdef
            title: Launch
            en: Launches n.
            zh: 复现见英文部分。
          - id: demo.untranslated
            source: demo
            symbol: "demo::Launch"
            fingerprint: 0123456789abcdef
            title: Launch again
            en: Launches n.
            zh: Launches n.
        """), "  "))
    notes = load(d)
    assert notes.errors == []
    found = gaps(notes)
    assert [g.split(": note ")[1] for g in found] == [
        "'demo.lazy': zh refers the reader to the English text instead of giving it",
        "'demo.untranslated': zh contains no Chinese text"]
    assert found[0].startswith(f"{d / 'demo.yaml'}:")
    assert main(["check", "--annotations", str(d)]) == 0  # the schema alone accepts them
    assert main(["check", "--annotations", str(d), "--strict", "--json"]) == 1
    assert len(json.loads(capsys.readouterr().out.splitlines()[-1])["errors"]) == 2


def test_shipped_notes_are_complete_in_both_languages() -> None:
    from codewalk.notes.bilingual import gaps

    assert gaps(load(annotations_dir())) == []
