"""`codewalk site`: pages, links, notes, escaping and incremental rebuilds (no browser here)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from codewalk.cli import main
from codewalk.site import data
from codewalk.site.assets import script_json
from codewalk.site.build import build_site, link_for_factory
from codewalk.site.collect import collect

SCHED_H = """\
#pragma once
namespace eng {
class Base {
 public:
  virtual void Step();
};
class Derived : public Base {
 public:
  void Step() override;
};
int Helper(int x);
void Run(Base* b);
}  // namespace eng
"""

SCHED_CPP = """\
#include "sched.h"
// shown as text: <script>alert("src")</script>
namespace eng {
int Helper(int x) { return x + 1; }
void Base::Step() {}
void Derived::Step() { Helper(2); }
void Run(Base* b) {
  b->Step();
  Helper(1);
}
}  // namespace eng
"""

NOTES = """\
notes:
  - id: fixture.run
    source: fixture
    symbol: "eng::Run"
    fingerprint: "0000000000000000"
    title: "Run steps <script>alert('title')</script>"
    title_zh: "运行一步"
    en: |
      The loop. </script><script>alert('note')</script>
    zh: |
      循环。
"""


class Page(HTMLParser):
    """Elements by id, every <a> (href, text, class) and the inline scripts' text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[dict] = []
        self.scripts: list[str] = []
        self._a: dict | None = None
        self._script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a":
            self._a = {**a, "text": ""}
            self.links.append(self._a)
        self._script = tag == "script"

    def handle_endtag(self, tag):
        if tag == "a":
            self._a = None
        self._script = False

    def handle_data(self, d):
        if self._a is not None:
            self._a["text"] += d
        if self._script:
            self.scripts.append(d)


@pytest.fixture()
def fixture_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A two-file C++ tree and an annotations folder whose one note has `<script>` in it."""
    root = tmp_path / "fx"
    (root / "engine").mkdir(parents=True)
    (root / "engine" / "sched.h").write_text(SCHED_H)
    (root / "engine" / "sched.cpp").write_text(SCHED_CPP)
    notes = tmp_path / "annotations"
    (notes / "fixture").mkdir(parents=True)
    (notes / "sources.yaml").write_text("sources:\n  fixture:\n    title: A fixture\n    language: cpp\n"
                                        "    kind: git\n    upstream: none\n    revision: abc\n")
    (notes / "fixture" / "run.yaml").write_text(NOTES)
    monkeypatch.setattr(data, "annotations_dir", lambda root=None: notes)
    return root


def _line_of(html: str, n: int) -> str:
    m = re.search(rf'<div id="L{n}">(.*?)</div>(?=<div id="L|</div>)', html, re.S)
    assert m, f"no line {n}"
    return m.group(1)


def _text(fragment: str) -> str:
    import html as h
    return h.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_fixture_links_notes_and_escaping(fixture_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    stats = build_site(out, {"fixture": data.Target(fixture_repo)}, "en", jobs=1)
    assert stats.sources["fixture"]["files"] == 2 and not stats.problems
    html = (out / "fixture/engine/sched.cpp.html").read_text()
    page = Page(html)
    lines = html.count('<div id="L')
    assert lines == len(SCHED_CPP.splitlines()) and {f"L{i}" for i in range(1, lines + 1)} <= page.ids
    # `b->Step()` (line 8) links to Base::Step's definition line; dispatch offers Derived::Step.
    step = next(a for a in page.links if a["text"] == "Step" and a.get("class") == "x")
    assert step["href"] == "sched.cpp.html#L5"
    table = json.loads(page.scripts[0].split("=", 1)[1].rstrip(";"))
    tip = table[int(step["data-t"])]
    assert tip[1] == "eng::Base::Step" and "virtual void Step()" in tip[2]
    assert [o[0] for o in tip[4]] == ["eng::Derived::Step"] and tip[4][0][1] == "sched.cpp.html#L6" and tip[5] is True
    helper = [a for a in page.links if a["text"] == "Helper" and a.get("class") == "x"]
    assert helper and all(a["href"] == "sched.cpp.html#L4" for a in helper)
    assert any(a.get("class") == "i" and a["href"] == "sched.h.html" for a in page.links)  # #include
    # A declaration in the header links to the definition in the .cpp.
    header = Page((out / "fixture/engine/sched.h.html").read_text())
    assert any(a["text"] == "Run" and a["href"] == "sched.cpp.html#L7" for a in header.links)
    # The note sits on Run's definition line, title shown, text in <details>, with drift status.
    run_line = _line_of(html, 7)
    assert 'class="note"' in run_line and "<details>" in run_line and "drift-drifted" in run_line
    assert "Run steps &lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in run_line
    assert "&lt;/script&gt;&lt;script&gt;alert(&#x27;note&#x27;)" in run_line
    assert "运行一步" in run_line  # the other language, expandable
    # <script> in source is text; the only <script> elements are the site's own.
    assert "&lt;script&gt;alert(&quot;src&quot;)&lt;/script&gt;" in html or \
        "&lt;script&gt;alert(\"src\")&lt;/script&gt;" in html
    assert html.count("<script") == 2 and "alert" not in "".join(page.scripts)
    # The panel: what show gives, plus a call graph.
    panel = html[html.index('id="S7"'):]
    panel = panel[:panel.index("</section>")]
    assert "callees" in panel and "eng::Base::Step" in panel and "eng::Derived::Step" in panel
    assert "via eng::Base::Step" in panel and "<svg" in panel
    base_panel = html[html.index('id="S5"'):]
    assert "derived" in header_panel(out) and "callers (1)" in base_panel[:base_panel.index("</section>")]


def header_panel(out: Path) -> str:
    html = (out / "fixture/engine/sched.h.html").read_text()
    start = html.index('id="S3"')
    return html[start:html.index("</section>", start)]


def test_script_json_cannot_close_the_script() -> None:
    text = script_json({"a": "</script><script>alert(1)</script>", "b": "<!-- \u2028"})
    assert "</script" not in text and "<!--" not in text and "\u2028" not in text
    assert json.loads(text)["a"] == "</script><script>alert(1)</script>"


def test_incremental_rebuild_rewrites_only_what_changed(fixture_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = build_site(out, {"fixture": data.Target(fixture_repo)}, "en", jobs=1)
    assert "fixture/engine/sched.cpp.html" in first.written_pages
    again = build_site(out, {"fixture": data.Target(fixture_repo)}, "en", jobs=1)
    assert again.written_pages == ["assets/search-index.js"] and again.rendered == 0
    cpp = fixture_repo / "engine" / "sched.cpp"
    cpp.write_text(cpp.read_text().replace("return x + 1;", "return x + 2;"))
    third = build_site(out, {"fixture": data.Target(fixture_repo)}, "en", jobs=1)
    assert third.written_pages == ["assets/search-index.js", "fixture/engine/sched.cpp.html"]
    assert "x + 2" in _text((out / "fixture/engine/sched.cpp.html").read_text())
    (fixture_repo / "engine" / "sched.h").unlink()  # a file gone: its page goes too
    fourth = build_site(out, {"fixture": data.Target(fixture_repo)}, "en", jobs=1)
    assert fourth.removed == 1 and not (out / "fixture/engine/sched.h.html").exists()


def test_core_site_index_guides_and_search(core_site: Path) -> None:
    index = (core_site / "index.html").read_text()
    page = Page(index)
    assert '<input type="search"' in index and "assets/search-index.js" in index
    assert any(a["href"] == "play/schedule.html" for a in page.links)
    guides = [a["href"] for a in page.links if a["href"].startswith("guides/")]
    assert len(guides) >= 5 and all((core_site / g).is_file() for g in guides)
    assert any(a["href"] == "core/index.html" for a in page.links)
    search = (core_site / "assets/search-index.js").read_text()
    doc = json.loads(search.removeprefix("window.CW_SEARCH=").rstrip(";\n"))
    hits = sorted((it for it in doc["items"] if it[0] == "ProcessWaitingQueue"), key=lambda it: it[5])
    assert hits[0][1] == "ksana_llm::ContinuousBatchingStrategy::ProcessWaitingQueue"
    assert hits[0][4].startswith("core/bindings/continuous_batching.cpp.html#L")
    # Guide excerpts link into the code pages.
    guide = (core_site / "guides/ksanallm-scheduler.html").read_text()
    assert re.search(r'<p class="where"><a href="\.\./core/bindings/[^"]+\.html#L\d+">', guide)


def test_core_call_links_land_on_definitions(core_site: Path) -> None:
    html = (core_site / "core/bindings/continuous_batching.cpp.html").read_text()
    page = Page(html)
    call = next(a for a in page.links if a["text"] == "ProcessWaitingQueue" and a.get("class") == "x")
    assert call["href"].startswith("continuous_batching.cpp.html#L")
    line = int(call["href"].split("#L")[1])
    assert "void ContinuousBatchingStrategy::ProcessWaitingQueue(" in _text(_line_of(html, line))
    assert 'class="note"' in _line_of(html, line)  # annotated: its note is on that line
    cross = [a for a in page.links if a.get("class") == "x" and ".h.html#L" in a["href"]]
    assert cross, "no link into a header"
    target = core_site / "core/bindings" / cross[0]["href"].split("#")[0]
    n = int(cross[0]["href"].split("#L")[1])
    assert cross[0]["text"] in _text(_line_of(target.read_text(), n))


def test_python_imports_link_to_their_definition(core_site: Path) -> None:
    page = Page((core_site / "core/codewalk/core/ref_scheduler.py.html").read_text())
    assert any(a["text"] == "PrefixCacheManager" and a["href"].startswith("ref_prefix_cache.py.html#L")
               for a in page.links)


def test_link_for_maps_demo_function_names(core_site: Path) -> None:
    targets = {"core": data.builtin()}
    notes = data.load_notes(data.annotations_dir())
    src = collect("core", targets["core"], notes, jobs=1)
    link_for = link_for_factory([src])
    url = link_for("PrefixCacheManager::AllocateRequestBlocks")
    assert url and url.startswith("core/bindings/prefix_cache_manager.cpp.html#L")
    assert link_for("ProcessWaitingQueue").startswith("core/bindings/continuous_batching.cpp.html#L")
    assert link_for("NoSuchFunctionAnywhere") is None


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["site", "--source", "nosuch", "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("codewalk site: ") and "nosuch" in err and "\n" not in err
    (tmp_path / "file").write_text("x")
    assert main(["site", "--source", "core", "-o", str(tmp_path / "file")]) == 2
    assert main(["site", "--source", "core", "--trace", str(tmp_path / "file"), "-o", str(tmp_path / "s")]) == 2
    assert "not JSON" in capsys.readouterr().err


def test_forked_workers_build_the_same_site(tmp_path: Path) -> None:
    """Enough files to take the forked paths (resolution and pages): byte-identical to serial."""
    root = tmp_path / "many"
    (root / "src").mkdir(parents=True)
    (root / "src" / "base.h").write_text("#pragma once\nint Base(int x);\n")
    (root / "src" / "base.cpp").write_text('#include "base.h"\nint Base(int x) { return x; }\n')
    for i in range(45):
        (root / "src" / f"f{i}.cpp").write_text(
            f'#include "base.h"\nint F{i}(int x) {{\n  return Base(x) + {i};\n}}\n')
    serial, forked = tmp_path / "serial", tmp_path / "forked"
    a = build_site(serial, {"many": data.Target(root)}, "en", jobs=1)
    b = build_site(forked, {"many": data.Target(root)}, "en", jobs=2)
    assert a.pages == b.pages and not a.problems and not b.problems
    for page in sorted((serial / "many").rglob("*.html")):
        assert page.read_bytes() == (forked / page.relative_to(serial)).read_bytes(), page
    assert 'href="base.cpp.html#L2"' in (forked / "many/src/f7.cpp.html").read_text()


def test_history_of_annotated_symbols_when_git(fixture_repo: Path, tmp_path: Path) -> None:
    import git

    repo = git.Repo.init(fixture_repo)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "t").set_value("user", "email", "t@example.com")
    repo.index.add(["engine/sched.h", "engine/sched.cpp"])
    repo.index.commit("first <b>commit</b>")
    cpp = fixture_repo / "engine" / "sched.cpp"
    cpp.write_text(cpp.read_text().replace("  Helper(1);", "  Helper(3);"))
    repo.index.add(["engine/sched.cpp"])
    repo.index.commit("change Run")
    out = tmp_path / "site"
    build_site(out, {"fixture": data.Target(fixture_repo)}, "en", jobs=1, history=True)
    html = (out / "fixture/engine/sched.cpp.html").read_text()
    panel = html[html.index('id="S7"'):]
    panel = panel[:panel.index("</section>")]
    assert "history" in panel and "change Run" in panel and "first &lt;b&gt;commit&lt;/b&gt;" in panel


@pytest.mark.real
def test_real_ksanallm_site(tmp_path: Path) -> None:
    """Opt-in (CODEWALK_KSANALLM): the issue's example page, a call landing on its definition line
    with its note, and a page per indexed file."""
    import os

    root = os.environ.get("CODEWALK_KSANALLM")
    if not root:
        pytest.skip("set CODEWALK_KSANALLM to a KsanaLLM checkout")
    out = tmp_path / "site"
    stats = build_site(out, {"ksanallm": data.Target(Path(root).resolve())}, "en")
    files = stats.sources["ksanallm"]["files"]
    assert files > 1000 and len(list((out / "ksanallm").rglob("*.html"))) == files + 1  # + its file list
    html = (out / "ksanallm/src/ksana_llm/batch_scheduler/strategy/continuous_batching.cpp.html").read_text()
    page = Page(html)
    call = next(a for a in page.links if a["text"] == "ProcessWaitingQueue" and a.get("class") == "x")
    line = int(call["href"].split("#L")[1])
    assert "ContinuousBatchingStrategy::ProcessWaitingQueue(" in _text(_line_of(html, line))
    assert 'class="note"' in _line_of(html, line)
