"""Incremental re-index, interrupted writes, robustness, corpus and annotations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codewalk.index import store
from codewalk.notes.schema import load, notes_for_symbol
from codewalk.sources.corpus import CORPUS_SUBTREES, choose, corpus_root
from codewalk.index import build
from codewalk.index.build import index_repo
from codewalk.query.session import ensure_index


def _paths(root: Path) -> list[str]:
    conn = store.connect(store.db_path(root), readonly=True)
    return sorted(r[0] for r in conn.execute("SELECT path FROM files"))


def test_incremental_reparses_only_changed_and_drops_deleted(repo: Path) -> None:
    first = index_repo(repo)
    assert first.parsed == first.files == 7
    again = index_repo(repo)
    assert again.parsed == 0 and again.symbols == first.symbols
    src = repo / "cpp/engine/scheduler.cpp"
    src.write_text(src.read_text() + "\nnamespace toy { void Extra() {} }\n")
    (repo / "python/toyllm/core/kv_cache.py").unlink()
    third = index_repo(repo)
    assert (third.parsed, third.removed) == (1, 1)
    assert "python/toyllm/core/kv_cache.py" not in _paths(repo)
    os.utime(repo / "cpp/engine/cache.h")  # touched, same content: no parse
    assert index_repo(repo).parsed == 0


def test_freshness_check_sees_new_files(repo: Path) -> None:
    from codewalk.sources.corpus import Target
    target = Target(repo)
    db = ensure_index(target)
    conn = store.connect(db, readonly=True)
    assert store.is_fresh(conn, repo)
    (repo / "cpp/engine/new.cc").write_text("void NewThing() {}\n")
    assert not store.is_fresh(conn, repo)


def test_interrupted_index_keeps_previous(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = index_repo(repo)
    for p in repo.rglob("*.py"):
        p.write_text(p.read_text() + "\n# edit\n")
    real = build.write_result
    calls = {"n": 0}

    def failing(conn, res, next_id):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C mid-write
        real(conn, res, next_id)

    monkeypatch.setattr(build, "write_result", failing)
    with pytest.raises(KeyboardInterrupt):
        index_repo(repo)
    monkeypatch.setattr(build, "write_result", real)
    conn = store.connect(store.db_path(repo), readonly=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM symbols").fetchone()[0] == before.symbols
    assert index_repo(repo).parsed == 4  # the edits are still pending, nothing half-applied


def test_robust_files(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = repo / "odd"
    odd.mkdir()
    (odd / "latin1.cpp").write_bytes(b"// caf\xe9\nint Latin() { return 1; }\n")
    (odd / "blob.h").write_bytes(b"\x00\x01binary")
    (odd / "huge.cpp").write_bytes(b"int x;\n" * 2000)
    (odd / "broken.cpp").write_text("void Ok() {}\nclass { void }}} (\n")
    (odd / "a.h").symlink_to(odd / "b.h")
    (odd / "b.h").symlink_to(odd / "a.h")
    (odd / "loop").symlink_to(odd)
    (odd / ".gitignore").write_text("ignored_*.cpp\n")
    (odd / "ignored_x.cpp").write_text("void Ignored() {}\n")
    monkeypatch.setenv("CODEWALK_MAX_FILE_BYTES", "10000")
    stats = index_repo(repo)
    assert stats.skipped.get("binary", 0) == 1
    assert stats.skipped.get("larger than 10000 bytes", 0) == 1
    assert stats.skipped.get("unreadable", 0) == 2
    assert stats.skipped.get("symlinked directory (not followed)", 0) == 1
    assert stats.parse_errors >= 1
    paths = _paths(repo)
    assert "odd/ignored_x.cpp" not in paths and "odd/latin1.cpp" in paths
    conn = store.connect(store.db_path(repo), readonly=True)
    names = {r[0] for r in conn.execute("SELECT name FROM symbols")}
    assert {"Latin", "Ok"} <= names


def test_empty_repo(tmp_path: Path) -> None:
    stats = index_repo(tmp_path)
    assert (stats.files, stats.symbols) == (0, 0)


def test_parallel_matches_serial(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = index_repo(repo, jobs=1)
    store.db_path(repo).unlink()
    monkeypatch.setattr(build, "PARALLEL_THRESHOLD", 1)
    parallel = index_repo(repo, jobs=2)
    assert (parallel.symbols, parallel.edges) == (serial.symbols, serial.edges)


def test_corpus_root_prefers_installed_copy(tmp_path: Path) -> None:
    pkg = tmp_path / "site" / "codewalk"
    (pkg / "_corpus" / "bindings").mkdir(parents=True)
    assert corpus_root(pkg) == pkg / "_corpus"
    checkout = tmp_path / "checkout"
    (checkout / "codewalk" / "core").mkdir(parents=True)
    assert corpus_root(checkout / "codewalk") == checkout
    assert corpus_root(tmp_path / "nothing" / "codewalk") is None


def test_corpus_indexes_only_its_subtrees(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    (root / "bindings").mkdir(parents=True)
    (root / "bindings" / "x.cpp").write_text("namespace ksana_llm { void F() {} }\n")
    (root / "codewalk" / "core").mkdir(parents=True)
    (root / "codewalk" / "__init__.py").write_text("")
    (root / "codewalk" / "core" / "__init__.py").write_text("")
    (root / "codewalk" / "core" / "m.py").write_text("def g():\n    pass\n")
    (root / "other.py").write_text("def nope():\n    pass\n")
    stats = index_repo(root, include=CORPUS_SUBTREES)
    conn = store.connect(store.db_path(root, CORPUS_SUBTREES), readonly=True)
    paths = sorted(r[0] for r in conn.execute("SELECT path FROM files"))
    assert paths == ["bindings/x.cpp", "codewalk/core/__init__.py", "codewalk/core/m.py"]
    assert conn.execute("SELECT 1 FROM symbols WHERE qname='codewalk.core.m.g'").fetchone()
    assert stats.files == 3
    assert choose(None).builtin


def test_annotations_loader(tmp_path: Path) -> None:
    d = tmp_path / "annotations" / "ksana"
    d.mkdir(parents=True)
    (d / "a.yaml").write_text("notes:\n  - id: n1\n    symbol: toy::BatchStrategy::ProcessWaitingQueue\n"
                              "    title: Admission\n    source: ksanallm\n    fingerprint: 0123456789abcdef\n"
                              "    en: FCFS.\n    zh: 先来先服务。\n")
    (d / "bad.yaml").write_text("id: [unclosed\n")
    notes = load(tmp_path / "annotations")
    assert [n.id for n in notes_for_symbol("toy::BatchStrategy::ProcessWaitingQueue", notes)] == ["n1"]
    assert len(notes.errors) == 1 and "bad.yaml" in notes.errors[0]
    assert load(tmp_path / "missing").notes == []


def _dump(root: Path) -> list[tuple]:
    """Every stored fact with ids replaced by what they point at (ids differ between paths)."""
    conn = store.connect(store.db_path(root), readonly=True)
    paths = dict(conn.execute("SELECT id, path FROM files"))
    syms = {r[0]: (paths[r[1]], *r[2:]) for r in conn.execute("SELECT * FROM symbols")}
    facts = [("S", *s) for s in syms.values()]
    facts += [("C", paths[r[0]], syms.get(r[1]), *r[2:]) for r in conn.execute("SELECT * FROM calls")]
    facts += [("I", paths[r[0]], *r[1:]) for r in conn.execute("SELECT * FROM imports")]
    facts += [("F", *r[1:]) for r in conn.execute("SELECT * FROM files")]
    return sorted(facts, key=repr)


def test_parallel_path_stores_the_same_facts(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = index_repo(repo, jobs=1)
    expected = _dump(repo)
    store.db_path(repo).unlink()
    monkeypatch.setattr(build, "PARALLEL_THRESHOLD", 1)
    parallel = index_repo(repo, jobs=2)  # two worker processes, staging files, merge
    assert (parallel.parsed, parallel.symbols, parallel.edges) == (serial.parsed, serial.symbols,
                                                                    serial.edges)
    assert _dump(repo) == expected
    # incremental through the parallel path: changed files replace their rows, ids stay unique
    for p in repo.rglob("*.py"):
        p.write_text(p.read_text() + "\n# edit\n")
    assert index_repo(repo, jobs=2).parsed == 4
    conn = store.connect(store.db_path(repo), readonly=True)
    assert conn.execute("SELECT COUNT(*) FROM symbols").fetchone()[0] == serial.symbols
    assert not list(conn.execute("SELECT name FROM pragma_database_list WHERE name LIKE 'stage%'"))


def test_interrupted_parallel_merge_keeps_previous(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = index_repo(repo)
    for p in repo.rglob("*.py"):
        p.write_text(p.read_text() + "\n# edit\n")
    monkeypatch.setattr(build, "PARALLEL_THRESHOLD", 1)
    real = build._merge
    calls = {"n": 0}

    def failing(conn, db, n):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C after one staging file was merged
        real(conn, db, n)

    monkeypatch.setattr(build, "_merge", failing)
    with pytest.raises(KeyboardInterrupt):
        index_repo(repo, jobs=2)
    assert not build._staging_dirs  # staging files removed
    monkeypatch.setattr(build, "_merge", real)
    conn = store.connect(store.db_path(repo), readonly=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM symbols").fetchone()[0] == before.symbols
    assert index_repo(repo).parsed == 4  # the edits are still pending, nothing half-applied
