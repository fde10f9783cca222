"""Named sources: the registry, `codewalk source add|list|remove|update`, and --source everywhere.

Nothing here reaches the network: bare git repositories made by the tests stand in for remotes
(file:// URLs), wheels and sdists are built by the tests, and the built-in defaults for ksanallm
and vllm are checked by intercepting the download.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from codewalk.sources import fetch, registry
from codewalk.cli import main

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": "/nonexistent"}

V1 = "def admit(queue):\n    return queue[:1]\n\n\ndef schedule(queue):\n    return admit(queue)\n"
V2 = V1 + "\n\ndef preempt(running):\n    return running[-1:]\n"
V3 = V2.replace("queue[:1]", "queue[:2]")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=ENV).stdout.strip()


@pytest.fixture(autouse=True)
def _no_source_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CODEWALK_SOURCE", "CODEWALK_REPO", "CODEWALK_TOY", "CODEWALK_KSANALLM", "CODEWALK_VLLM"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def remote(tmp_path: Path) -> tuple[str, list[str]]:
    """A bare repository with three commits (tag v2 on the second): (file:// URL, shas oldest first)."""
    work = tmp_path / "upstream"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    shas = []
    for i, text in enumerate((V1, V2, V3), 1):
        (work / "engine").mkdir(exist_ok=True)
        (work / "engine" / "__init__.py").write_text("")
        (work / "engine" / "sched.py").write_text(text)
        git(work, "add", ".")
        git(work, "commit", "-qm", f"commit {i}")
        shas.append(git(work, "rev-parse", "HEAD"))
    git(work, "tag", "v2", shas[1])
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, env=ENV)
    return bare.as_uri(), shas


def make_wheel(folder: Path, files: dict[str, str], name: str = "toypkg", version: str = "1.2.0") -> Path:
    """A wheel is a zip with a .dist-info folder."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, text in files.items():
            zf.writestr(rel, text)
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info}/RECORD", "")
    return path


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, dict]:
    code, out, err = run(capsys, *argv, "--json")
    assert out, err
    return code, json.loads(out)


def listing(capsys: pytest.CaptureFixture) -> dict[str, dict]:
    code, doc = run_json(capsys, "source", "list")
    assert code == 0
    return {r["name"]: r for r in doc["sources"]}


def leftovers() -> list[str]:
    """Anything under $CODEWALK_HOME/sources/ (partial downloads included)."""
    base = registry.sources_dir()
    return sorted(p.name for p in base.iterdir()) if base.is_dir() else []


# ------------------------------------------------------------------------------------ local folders


def test_add_folder_list_show_remove_keeps_it(repo: Path, capsys) -> None:
    code, out, _ = run(capsys, "source", "add", "toy", str(repo / "cpp"))
    assert code == 0 and "added toy" in out and "--source toy" in out
    row = listing(capsys)["toy"]
    assert (row["kind"], row["location"], row["indexed"], row["owned"]) == ("path", str(repo / "cpp"), True, False)
    code, doc = run_json(capsys, "show", "ProcessWaitingQueue", "--source", "toy")
    assert code == 0 and doc["matches"][0]["definition"]["path"] == "engine/scheduler.cpp"
    # the registry file is whole JSON, written without leaving temp files behind
    assert json.loads(registry.registry_path().read_text())["sources"]["toy"]["kind"] == "path"
    assert [p.name for p in registry.home().glob(".sources-*")] == []

    code, out, _ = run(capsys, "source", "remove", "toy")
    assert code == 0 and "untouched" in out
    assert (repo / "cpp" / "engine" / "scheduler.cpp").is_file()
    assert "toy" not in listing(capsys)
    code, _, err = run(capsys, "show", "ProcessWaitingQueue", "--source", "toy")
    assert code == 2 and "codewalk source add toy PATH" in err


def test_folder_errors_register_nothing(repo: Path, tmp_path: Path, capsys) -> None:
    f = tmp_path / "file.txt"
    f.write_text("x")
    code, _, err = run(capsys, "source", "add", "toy", str(f))
    assert code == 1 and "is not a folder" in err
    code, _, err = run(capsys, "source", "add", "toy", str(tmp_path / "nowhere"))
    assert code == 1 and "does not exist" in err
    code, _, err = run(capsys, "source", "add", "core", str(repo))
    assert code == 1 and "built-in corpus" in err
    code, _, err = run(capsys, "source", "add", "../x", str(repo))
    assert code == 1 and "invalid source name" in err
    code, _, err = run(capsys, "source", "add", "nodefaults")
    assert code == 1 and "no location given" in err and "--git URL" in err
    assert registry.load() == {}


def test_name_taken(repo: Path, capsys) -> None:
    assert run(capsys, "source", "add", "toy", str(repo / "cpp"), "--no-index")[0] == 0
    code, _, err = run(capsys, "source", "add", "toy", str(repo / "python"))
    assert code == 1 and "already exists" in err and "codewalk source remove toy" in err
    assert registry.get("toy").location == str(repo / "cpp")


# ------------------------------------------------------------------------------------------- git


def test_git_shallow_by_default_rev_and_tag(remote, capsys) -> None:
    url, shas = remote
    code, doc = run_json(capsys, "source", "add", "head", "--git", url)
    assert code == 0 and doc["source"]["revision"] == shas[2]
    head = registry.get("head").path
    assert head == registry.sources_dir() / "head" and head.is_dir()
    assert git(head, "rev-parse", "--is-shallow-repository") == "true"
    assert git(head, "rev-list", "--count", "HEAD") == "1"

    assert run_json(capsys, "source", "add", "old", "--git", url, "--rev", shas[0])[1]["source"]["revision"] == shas[0]
    assert "preempt" not in (registry.get("old").path / "engine" / "sched.py").read_text()
    assert run_json(capsys, "source", "add", "tagged", "--git", url, "--rev", "v2")[1]["source"]["revision"] == shas[1]
    # an abbreviated sha cannot be fetched by name: codewalk falls back to fetching everything
    assert run_json(capsys, "source", "add", "short", "--git", url, "--rev", shas[0][:8])[1]["source"]["revision"] == shas[0]
    assert leftovers() == ["head", "old", "short", "tagged"]


def test_git_history_and_history_command(remote, capsys) -> None:
    url, shas = remote
    code, doc = run_json(capsys, "source", "add", "full", "--git", url, "--history")
    assert code == 0 and doc["source"]["history"] is True
    assert git(registry.get("full").path, "rev-list", "--count", "HEAD") == "3"
    code, doc = run_json(capsys, "history", "admit", "--source", "full")
    assert code == 0 and [c["subject"] for c in doc["commits"]] == ["commit 3", "commit 1"]


def test_git_unknown_revision_and_no_network(remote, capsys) -> None:
    url, _ = remote
    code, _, err = run(capsys, "source", "add", "x", "--git", url, "--rev", "no-such-branch")
    assert code == 1 and "unknown revision 'no-such-branch'" in err and "git ls-remote" in err
    code, _, err = run(capsys, "source", "add", "x", "--git", url, "--rev", "deadbeef")
    assert code == 1 and "unknown revision 'deadbeef'" in err
    # a refused connection on the loopback interface stands in for "no network"
    code, _, err = run(capsys, "source", "add", "x", "--git", "http://127.0.0.1:1/engine.git")
    assert code == 1 and "no network?" in err and "codewalk source add NAME PATH" in err
    code, _, err = run(capsys, "source", "add", "x", "--git", url + "-missing")
    assert code == 1 and "not a git repository" in err
    assert registry.load() == {} and leftovers() == []


def test_ctrl_c_mid_clone_leaves_nothing(remote, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = remote

    def interrupted(repo, *args, **kwargs):
        assert Path(repo.working_tree_dir, ".git").is_dir()  # the clone had started
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch, "_fetch_rev", interrupted)
    code, _, err = run(capsys, "source", "add", "x", "--git", url)
    assert code == 130 and "interrupted" in err
    assert registry.load() == {} and leftovers() == []


def test_stale_partial_of_a_dead_process_is_swept(remote, capsys) -> None:
    url, _ = remote
    stale = registry.sources_dir() / f"{registry.PARTIAL}x-999999999-abc"
    (stale / "half").mkdir(parents=True)
    assert run(capsys, "source", "add", "x", "--git", url, "--no-index")[0] == 0
    assert leftovers() == ["x"]


def test_update_git_rev_reindexes_and_remove_deletes_owned(remote, capsys) -> None:
    url, shas = remote
    assert run(capsys, "source", "add", "eng", "--git", url, "--rev", shas[0])[0] == 0
    assert run_json(capsys, "show", "preempt", "--source", "eng")[0] == 1
    code, doc = run_json(capsys, "source", "update", "eng", "--rev", shas[2])
    assert code == 0 and doc["source"]["revision"] == shas[2] and doc["index"]["parsed"] == 1
    assert run_json(capsys, "show", "preempt", "--source", "eng")[0] == 0
    code, _, err = run(capsys, "source", "update", "eng", "--rev", "nope")
    assert code == 1 and "unknown revision" in err
    assert registry.get("eng").revision == shas[2]

    code, out, _ = run(capsys, "source", "remove", "eng")
    assert code == 0 and "deleted" in out
    assert leftovers() == [] and registry.load() == {}
    assert run(capsys, "source", "remove", "eng")[0] == 1


def test_update_refuses_to_move_a_users_folder(repo: Path, capsys) -> None:
    assert run(capsys, "source", "add", "toy", str(repo), "--no-index")[0] == 0
    code, _, err = run(capsys, "source", "update", "toy", "--rev", "v1")
    assert code == 1 and "does not change it" in err
    assert run(capsys, "source", "update", "toy")[0] == 0


# ------------------------------------------------------------------------------------------- pip


def test_pip_wheel_keeps_only_python_sources(tmp_path: Path, capsys) -> None:
    wheel = make_wheel(tmp_path, {"toypkg/__init__.py": "", "toypkg/core/__init__.py": "", "toypkg/core/sched.py": V2,
                                  "toypkg/_C.so": "\0binary", "toypkg/py.typed": "",
                                  "toypkg-1.2.0.data/purelib/toyextra.py": "def extra():\n    pass\n"})
    code, doc = run_json(capsys, "source", "add", "toy", "--pip", str(wheel))
    assert code == 0 and doc["source"]["kind"] == "pip" and doc["source"]["revision"] == "1.2.0"
    root = registry.get("toy").path
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["toyextra.py", "toypkg/__init__.py", "toypkg/core/__init__.py", "toypkg/core/sched.py"]
    code, doc = run_json(capsys, "show", "schedule", "--source", "toy")
    assert code == 0 and doc["matches"][0]["qualified_name"] == "toypkg.core.sched.schedule"
    assert listing(capsys)["toy"]["revision"] == "1.2.0"
    assert run(capsys, "source", "remove", "toy")[0] == 0 and leftovers() == []
    assert wheel.is_file()  # the user's wheel is left alone


def test_pip_download_command_accepts_a_local_wheel(tmp_path: Path) -> None:
    """The real `pip download --no-deps` command line, offline: pip takes a wheel path as SPEC."""
    if not fetch.has_pip():
        pytest.skip("no pip in this interpreter")
    wheel = make_wheel(tmp_path, {"toypkg/__init__.py": V1})
    out = tmp_path / "dl"
    out.mkdir()
    got = fetch._pip_download(str(wheel), out, progress=False, say=lambda _m: None)
    assert got.name == wheel.name and got.parent == out


def test_pip_sdist_and_update(tmp_path: Path, capsys) -> None:
    sdist = tmp_path / "toypkg-0.9.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for rel, text in {"toypkg-0.9/toypkg/sched.py": V1, "toypkg-0.9/setup.cfg": "[x]\n",
                          "toypkg-0.9/PKG-INFO": "Name: toypkg\n"}.items():
            data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    assert run(capsys, "source", "add", "toy", "--pip", str(sdist))[0] == 0
    root = registry.get("toy").path
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == ["toypkg/sched.py"]
    (tmp_path / "toypkg-0.9.tar.gz").unlink()
    wheel = make_wheel(tmp_path, {"toypkg/sched.py": V2}, version="0.9")
    registry.put(registry.Entry(**{**registry.get("toy").to_dict(), "origin": str(wheel)}))
    code, doc = run_json(capsys, "source", "update", "toy")
    assert code == 0 and "preempt" in (root / "toypkg" / "sched.py").read_text()
    assert leftovers() == ["toy"]


def test_pip_errors(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = make_wheel(tmp_path, {"toypkg/_C.so": "\0", "toypkg/__init__.pyi": ""})
    code, _, err = run(capsys, "source", "add", "toy", "--pip", str(binary))
    assert code == 1 and "contains no Python source files" in err
    notwheel = tmp_path / "x-1.0-py3-none-any.whl"
    with zipfile.ZipFile(notwheel, "w") as zf:
        zf.writestr("x.py", "")
    code, _, err = run(capsys, "source", "add", "toy", "--pip", str(notwheel))
    assert code == 1 and "not a wheel" in err
    code, _, err = run(capsys, "source", "add", "toy", "--pip", str(tmp_path / "gone.whl"))
    assert code == 1 and "does not exist" in err
    monkeypatch.setattr(fetch, "has_pip", lambda: False)
    code, _, err = run(capsys, "source", "add", "toy", "--pip", "toypkg==1.0")
    assert code == 1 and "pip is not available" in err and "--pip PATH/TO/FILE.whl" in err
    assert registry.load() == {} and leftovers() == []


def test_defaults_come_from_sources_yaml(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_clone(url, dest, rev, history, progress, say):
        seen["git"] = (url, rev, history)
        raise fetch.SourceError("stop here")

    def fake_pip(spec, folder, progress, say):
        seen["pip"] = spec
        raise fetch.SourceError("stop here")

    monkeypatch.setattr(fetch, "_git_clone", fake_clone)
    monkeypatch.setattr(fetch, "_pip_download", fake_pip)
    assert run(capsys, "source", "add", "ksanallm")[0] == 1
    assert run(capsys, "source", "add", "vllm")[0] == 1
    assert seen == {"git": ("https://github.com/Tencent/KsanaLLM.git", "c451219c0c447b2672faee44c9182c607dc2d964", False),
                    "pip": "vllm==0.33.0"}
    assert run(capsys, "source", "add", "vllm", "--rev", "0.34.0")[0] == 1 and seen["pip"] == "vllm==0.34.0"
    assert registry.load() == {} and leftovers() == []


# ------------------------------------------------------------------------------- --source everywhere


def test_every_reading_command_takes_source(remote, repo: Path, capsys) -> None:
    url, _ = remote
    assert run(capsys, "source", "add", "eng", "--git", url, "--history", "--no-index")[0] == 0
    for argv in (["show", "admit"], ["callers", "admit"], ["callees", "schedule"], ["search", "sched"],
                 ["graph", "schedule"], ["history", "admit"]):
        code, doc = run_json(capsys, *argv, "--source", "eng")
        assert code == 0, argv
        assert "engine.sched" in json.dumps(doc), argv
    code, out, _ = run(capsys, "annotate", "engine.sched.admit", "--source", "eng")
    assert code == 0 and "source: eng" in out
    # check: a registered NAME, NAME=PATH, and an unknown NAME
    assert main(["check", "--source", "eng", "--json"]) in (0, 1)
    capsys.readouterr()
    assert main(["check", "--source", f"eng={repo}", "--json"]) in (0, 1)
    capsys.readouterr()
    code, _, err = run(capsys, "check", "--source", "nosuch")
    assert code == 2 and "not a registered source" in err
    for argv in (["show", "admit"], ["history", "admit"], ["annotate", "admit"]):
        code, _, err = run(capsys, *argv, "--source", "nosuch")
        assert code == 2 and "codewalk source add nosuch" in err, argv


def test_precedence(repo: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(capsys, "source", "add", "toy", str(repo / "cpp"), "--no-index")[0] == 0
    monkeypatch.setenv("CODEWALK_TOY", str(repo / "python"))  # the registry wins over the env var
    assert run_json(capsys, "show", "ProcessWaitingQueue", "--source", "toy")[0] == 0
    monkeypatch.setenv("CODEWALK_SOURCE", "toy")  # $CODEWALK_SOURCE when no flag
    assert run_json(capsys, "show", "ProcessWaitingQueue")[0] == 0
    # --repo beats --source; --source beats $CODEWALK_REPO
    assert run_json(capsys, "show", "ProcessWaitingQueue", "--source", "toy", "--repo", str(repo / "python"))[0] == 1
    monkeypatch.setenv("CODEWALK_REPO", str(repo / "python"))
    assert run_json(capsys, "show", "ProcessWaitingQueue", "--source", "toy")[0] == 0
    assert run_json(capsys, "show", "ProcessWaitingQueue")[0] == 1
    assert run_json(capsys, "show", "ProcessWaitingQueue", "--source", "core")[0] == 0


def test_gone_folder_is_a_clear_error(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mine"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x.py").write_text("def f():\n    pass\n")
    assert run(capsys, "source", "add", "mine", str(folder), "--no-index")[0] == 0
    (folder / "a" / "x.py").unlink()
    (folder / "a").rmdir()
    folder.rmdir()
    code, _, err = run(capsys, "show", "f", "--source", "mine")
    assert code == 2 and "folder is gone" in err and "codewalk source remove mine" in err
    assert listing(capsys)["mine"]["exists"] is False


def test_show_all_sources(repo: Path, tmp_path: Path, capsys) -> None:
    wheel = make_wheel(tmp_path, {"toypkg/__init__.py": "", "toypkg/sched.py": "class ProcessWaitingQueue:\n    pass\n"})
    assert run(capsys, "source", "add", "cpp", str(repo / "cpp"), "--no-index")[0] == 0
    assert run(capsys, "source", "add", "py", "--pip", str(wheel), "--no-index")[0] == 0
    code, doc = run_json(capsys, "show", "ProcessWaitingQueue", "--all-sources")
    assert code == 0 and doc["query"] == "ProcessWaitingQueue"
    assert set(doc["sources"]) == {"cpp", "py", "core"}
    assert doc["sources"]["cpp"]["matches"][0]["qualified_name"] == "toy::BatchStrategy::ProcessWaitingQueue"
    assert doc["sources"]["py"]["matches"][0]["qualified_name"] == "toypkg.sched.ProcessWaitingQueue"
    core = doc["sources"]["core"]["matches"][0]
    assert core["qualified_name"] == "ksana_llm::ContinuousBatchingStrategy::ProcessWaitingQueue"
    assert any(c["source"] == "ksanallm" for c in core["counterparts"])
    code, out, _ = run(capsys, "show", "ProcessWaitingQueue", "--all-sources", "--no-source")
    assert code == 0 and out.index("cpp") < out.index("toypkg.sched") and "counterpart" in out
    code, out, err = run(capsys, "show", "NoSuchThingAnywhere", "--all-sources")
    assert code == 1 and "in any source" in err
    with pytest.raises(SystemExit):
        main(["show", "x", "--all-sources", "--bogus"])
    assert main(["show", "x", "--all-sources", "--source", "cpp"]) == 2


def test_source_archive_of_the_package_folder_keeps_it(tmp_path: Path, capsys) -> None:
    """vLLM's source tarball starts at `vllm/` (a package): that folder is not stripped."""
    archive = tmp_path / "toypkg-0.3-src.tar.xz"
    with tarfile.open(archive, "w:xz") as tf:
        for rel, text in {"toypkg/__init__.py": "", "toypkg/sched.py": V1, "toypkg/kernel.cu": "x"}.items():
            data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    code, doc = run_json(capsys, "source", "add", "toy", "--pip", str(archive), "--no-index")
    assert code == 0 and doc["source"]["revision"] == "0.3"
    root = registry.get("toy").path
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == ["toypkg/__init__.py", "toypkg/sched.py"]
