"""Getting a source's code: `source add` / `update` / `remove` behind the CLI.

- a local folder is registered where it is and never modified or deleted;
- `--git URL` is fetched with GitPython into `$CODEWALK_HOME/sources/NAME` (one commit deep unless
  `history`), REV checked out detached;
- `--pip SPEC` is `pip download --no-deps`-ed (or taken as is when SPEC is a wheel/sdist file)
  and only its `*.py` files are unpacked, keeping the package layout.

Every download goes into a `.partial-*` folder that is renamed into place when complete, and the
registry entry is written last, so a failure or Ctrl-C leaves neither a registered source nor a
stray folder. Failures are `SourceError`s whose message names the next step.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from codewalk.sources import registry
from codewalk.sources.registry import Entry
from codewalk.sources.registry import SourceError

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}
_NETWORK = re.compile(r"could not resolve|failed to connect|couldn't connect|network is unreachable|"
                      r"connection (refused|timed out|reset)|timed out|name resolution|unable to access|"
                      r"NewConnectionError|Max retries exceeded|"
                      r"No route to host", re.I)
_UNKNOWN_REV = re.compile(r"couldn't find remote ref|not our ref|did not match any|unknown revision|"
                          r"invalid reference|needed a single revision|bad revision|not a valid object",
                          re.I)
_NO_REPO = re.compile(r"does not appear to be a git repository|repository .*not found|not found|"
                      r"does not exist", re.I)
_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# ------------------------------------------------------------------------------------------ add


def defaults(name: str) -> tuple[str, str, str]:
    """(kind, upstream, revision) that annotations/sources.yaml gives a source; SourceError if none."""
    from codewalk.notes.schema import annotations_dir, load

    known = load(annotations_dir()).sources.get(name)
    if known is None or known.kind not in ("git", "pip") or not known.upstream:
        with_defaults = _names_with_defaults()
        raise SourceError(
            f"no location given for '{name}': pass a folder (`codewalk source add {name} PATH`), "
            f"`--git URL [--rev REV]` or `--pip SPEC`"
            + (f" (only {', '.join(with_defaults)} have built-in defaults)" if with_defaults else ""))
    return known.kind, known.upstream, known.revision


def _names_with_defaults() -> list[str]:
    from codewalk.notes.schema import annotations_dir, load

    return sorted(n for n, s in load(annotations_dir()).sources.items() if s.kind in ("git", "pip") and s.upstream)


def add(name: str, path: str | None = None, git_url: str | None = None, rev: str | None = None,
        history: bool = False, pip_spec: str | None = None, progress: bool = False,
        say: Say = _quiet) -> Entry:
    """Register a source (downloading it first for --git / --pip); returns the new entry."""
    registry.validate_name(name)
    if sum(x is not None for x in (path, git_url, pip_spec)) > 1:
        raise SourceError("give one location: a folder, --git URL or --pip SPEC")
    _check_free(name)
    registry.sweep()
    if path is None and git_url is None and pip_spec is None:
        kind, upstream, pinned = defaults(name)
        if kind == "git":
            git_url, rev = upstream, rev or pinned
        else:
            pip_spec = _with_version(upstream, rev) if rev else upstream
        say(f"{name}: {upstream}" + (f" at {rev or pinned}" if (rev or pinned) else "") + " (from annotations/sources.yaml)")
    elif rev and pip_spec is not None:
        pip_spec = _with_version(pip_spec, rev)
    if path is not None:
        if rev or history:
            raise SourceError("--rev and --history apply to --git only; a folder is registered as it is")
        entry = _local(name, path)
    elif git_url is not None:
        entry = _download(name, lambda dest: _git_clone(git_url, dest, rev, history, progress, say))
    else:
        if history:
            raise SourceError("--history applies to --git only")
        entry = _download(name, lambda dest: _pip_get(pip_spec, dest, progress, say))
    with registry.locked() as entries:
        if name in entries:  # someone else added it meanwhile: keep theirs, drop ours
            if entry.owned:
                registry.remove_tree(entry.path)
            raise _taken(entries[name])
        entries[name] = entry
    return entry


def _check_free(name: str) -> None:
    taken = registry.load().get(name)
    if taken is not None:
        raise _taken(taken)


def _taken(entry: Entry) -> SourceError:
    return SourceError(f"a source named '{entry.name}' already exists ({entry.kind}, {entry.location}): "
                       f"`codewalk source update {entry.name} [--rev REV]` changes its revision, "
                       f"`codewalk source remove {entry.name}` forgets it, or pick another name")


def _local(name: str, path: str) -> Entry:
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"{p} does not exist: pass the top folder of a checkout")
    if not p.is_dir():
        hint = (f"; for a wheel or sdist use `codewalk source add {name} --pip {path}`"
                if p.name.endswith((".whl", ".tar.gz", ".zip", ".tgz")) else "")
        raise SourceError(f"{p} is not a folder: pass the top folder of a checkout{hint}")
    p = p.resolve()
    return Entry(name=name, kind="path", location=str(p), origin=str(p), revision=_git_head(p),
                 owned=False, added=registry.now())


def _git_head(root: Path) -> str:
    """HEAD of the git work tree at root ('' if it is not one)."""
    if not (root / ".git").exists():
        return ""
    try:
        import git

        with git.Repo(root) as repo:
            return repo.head.commit.hexsha
    except Exception:  # noqa: BLE001 - no commits, broken repo, git missing: just unknown
        return ""


@contextlib.contextmanager
def _sigint_wins():
    """Ctrl-C also kills git/pip (same process group), whose failure may surface first as an
    ordinary error: report it as the interrupt it was (exit status 130, nothing registered)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):  # noqa: ANN001
        seen.append(signum)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    except SourceError:
        if seen:
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, previous)


def _download(name: str, get: Callable[[Path], Entry]) -> Entry:
    """Run get(partial folder) and rename its result to $CODEWALK_HOME/sources/NAME."""
    final = registry.owned_location(name)
    partial = registry.partial_dir(name)
    try:
        with _sigint_wins():
            entry = get(partial)
        if final.exists() or final.is_symlink():  # an unregistered leftover of ours
            registry.remove_tree(final)
        os.rename(partial, final)
        _loosen(final)
    except BaseException:
        with contextlib.suppress(OSError, RuntimeError):
            registry.remove_tree(partial)
        raise
    entry.name, entry.location, entry.owned, entry.added = name, str(final.resolve()), True, registry.now()
    return entry


# ------------------------------------------------------------------------------------------ git


def _git() -> Any:
    try:
        import git
    except ImportError as exc:  # GitPython present but no git executable
        raise SourceError(f"git is not available ({exc}): install git, or clone the code yourself "
                          f"and run `codewalk source add NAME PATH`") from exc
    logging.getLogger("git.remote").setLevel(logging.ERROR)  # "Git informed while fetching: ..."
    return git


class _Progress:
    """A GitPython RemoteProgress adapter drawing one rich progress bar per git stage."""

    def __init__(self, label: str) -> None:
        git = _git()
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        outer = self

        class Adapter(git.RemoteProgress):
            def update(self, op_code, cur_count, max_count=None, message=""):  # noqa: ANN001
                outer.update(op_code, cur_count, max_count, message)

        self.adapter = Adapter()
        self.stages = {git.RemoteProgress.COUNTING: "counting", git.RemoteProgress.COMPRESSING: "compressing",
                       git.RemoteProgress.RECEIVING: "receiving", git.RemoteProgress.RESOLVING: "resolving",
                       git.RemoteProgress.CHECKING_OUT: "checking out",
                       git.RemoteProgress.FINDING_SOURCES: "finding sources"}
        self.mask = git.RemoteProgress.OP_MASK
        self.label = label
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f}"),
                            TextColumn("{task.fields[message]}"), TimeElapsedColumn(), transient=True,
                            console=__import__("rich.console").console.Console(stderr=True))
        self.tasks: dict[int, Any] = {}

    def update(self, op_code: int, cur: Any, total: Any, message: str) -> None:
        stage = op_code & self.mask
        if stage not in self.tasks:
            desc = f"{self.label} {self.stages.get(stage, 'working')}"
            self.tasks[stage] = self.bar.add_task(desc, total=float(total or 0) or None, message="")
        self.bar.update(self.tasks[stage], completed=float(cur or 0),
                        total=float(total) if total else None, message=(message or "").strip()[:40])

    def __enter__(self) -> "_Progress":
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


@contextlib.contextmanager
def _progress(enabled: bool, label: str):
    if not enabled:
        yield None
        return
    with _Progress(label) as p:
        yield p.adapter


def _git_error(exc: Exception, url: str, rev: str | None) -> SourceError:
    text = f"{getattr(exc, 'stderr', '') or ''} {exc}"
    detail = next((ln.strip(" '\"") for ln in reversed(text.replace("\\n", "\n").splitlines())
                   if "fatal:" in ln or "error:" in ln), text.strip().splitlines()[-1] if text.strip() else "")
    detail = detail.replace("stderr: ", "").strip(" '\"")
    if rev and _UNKNOWN_REV.search(text):
        return SourceError(f"unknown revision '{rev}' in {url}: pass a branch, a tag or a full commit "
                           f"sha that exists there (`git ls-remote {url}` lists branches and tags)")
    if _NO_REPO.search(text):
        return SourceError(f"{url} is not a git repository codewalk can read ({detail}): check the URL")
    if _NETWORK.search(text):
        return SourceError(f"cannot reach {url} (no network?): {detail}. Check the connection and retry, "
                           f"or clone it yourself and run `codewalk source add NAME PATH`")
    return SourceError(f"git failed for {url}: {detail}")


def _fetch_rev(repo: Any, url: str, rev: str | None, shallow: bool, adapter: Any) -> str:
    """Fetch rev (default: the remote's HEAD), check it out detached; returns the commit sha."""
    git = _git()
    origin = repo.remote("origin")
    spec = rev or "HEAD"
    with repo.git.custom_environment(**GIT_ENV):
        try:
            origin.fetch(spec, progress=adapter, **({"depth": 1} if shallow else {}))
            sha = repo.git.rev_parse("FETCH_HEAD^{commit}")
        except git.GitCommandError as exc:
            if not (rev and _HEX.match(rev) and _UNKNOWN_REV.search(f"{exc.stderr} {exc}")):
                raise _git_error(exc, url, rev) from exc
            # An abbreviated sha cannot be fetched by name: fetch everything and look it up.
            try:
                extra = ["--unshallow"] if repo.git.rev_parse("--is-shallow-repository") == "true" else []
                repo.git.fetch("origin", "--tags", *extra, "+refs/heads/*:refs/remotes/origin/*")
                sha = repo.git.rev_parse("--verify", f"{rev}^{{commit}}")
            except git.GitCommandError as exc2:
                raise _git_error(exc2, url, rev) from exc2
        try:
            repo.git.checkout("--force", "--detach", sha)
        except git.GitCommandError as exc:
            raise _git_error(exc, url, rev) from exc
    return sha


def _git_clone(url: str, dest: Path, rev: str | None, history: bool, progress: bool, say: Say) -> Entry:
    git = _git()
    say(f"fetching {url}" + (f" at {rev}" if rev else "") + (" with history" if history else " (one commit deep)"))
    repo = git.Repo.init(dest)
    try:
        repo.create_remote("origin", url)
        with _progress(progress, "git") as adapter:
            if history:
                with repo.git.custom_environment(**GIT_ENV):
                    try:
                        repo.remote("origin").fetch(["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"],
                                                    progress=adapter)
                    except git.GitCommandError as exc:
                        raise _git_error(exc, url, rev) from exc
            sha = _fetch_rev(repo, url, rev, not history, adapter)
    finally:
        repo.close()
    return Entry(name="", kind="git", location="", origin=url, rev=rev or "", revision=sha, history=history)


# ------------------------------------------------------------------------------------------ pip


def _with_version(spec: str, version: str) -> str:
    """`vllm==0.33.0` + 0.34.0 -> `vllm==0.34.0` (SPEC may carry extras or a version already)."""
    project = re.split(r"[=<>!~;\[ @]", spec.strip(), maxsplit=1)[0]
    if not project or Path(spec).expanduser().exists():
        raise SourceError(f"--rev needs a package spec like NAME==VERSION, not {spec!r}")
    return f"{project}=={version}"


def has_pip() -> bool:
    """True when `python -m pip` works for this interpreter."""
    return importlib.util.find_spec("pip") is not None


def _looks_like_file(spec: str) -> bool:
    return spec.endswith((".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")) or os.sep in spec or spec.startswith(".")


def _pip_get(spec: str, dest: Path, progress: bool, say: Say) -> Entry:
    local = Path(spec).expanduser()
    if local.is_file():
        archive = local.resolve()
        say(f"unpacking {archive.name}")
        count, version = unpack_python(archive, dest)
        origin = str(archive)
    elif _looks_like_file(spec):
        raise SourceError(f"{spec} does not exist: pass a wheel or sdist file, or a package spec like vllm==0.33.0")
    else:
        download = registry.partial_dir("pip-download")
        try:
            archive = _pip_download(spec, download, progress, say)
            say(f"unpacking the Python sources of {archive.name}")
            count, version = unpack_python(archive, dest)
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                registry.remove_tree(download)
        origin = spec
    say(f"{count} Python file(s)")
    project = re.split(r"[=<>!~;\[ @]", spec.strip(), maxsplit=1)[0] if origin == spec else _project_of(archive.name)
    return Entry(name="", kind="pip", location="", origin=origin, rev=version, revision=version,
                 extra={"project": project, "files": count, "archive": archive.name})


def _pip_download(spec: str, folder: Path, progress: bool, say: Say) -> Path:
    if not has_pip():
        raise SourceError(f"pip is not available for {sys.executable}: install it (`{sys.executable} -m "
                          f"ensurepip`), or download the wheel yourself and run "
                          f"`codewalk source add NAME --pip PATH/TO/FILE.whl`")
    say(f"pip download {spec}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":none:",
           "--disable-pip-version-check", "--retries", "2", "-d", str(folder), spec]
    proc = subprocess.run(cmd, stdout=None if progress else subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        err = proc.stderr.strip()
        last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "pip failed")
        if _NETWORK.search(err):
            raise SourceError(f"cannot download {spec} (no network?): {last.strip()}. Check the connection, "
                              f"or download the wheel elsewhere and pass its path to --pip")
        if re.search(r"No matching distribution|Could not find a version", err, re.I):
            raise SourceError(f"no release matches {spec} on the package index: check the name and version "
                              f"(`{sys.executable} -m pip index versions NAME` lists them)")
        raise SourceError(f"pip download {spec} failed: {last.strip()}")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not files:
        raise SourceError(f"pip download {spec} produced no file")
    return files[0]


def _project_of(filename: str) -> str:
    return re.split(r"-\d", filename, maxsplit=1)[0].replace("_", "-")


def _version_of(filename: str) -> str:
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return parts[1] if len(parts) >= 2 else ""
    stem = re.sub(r"\.(tar\.gz|tgz|tar\.bz2|tar\.xz|tar|zip)$", "", filename)
    stem = re.sub(r"-src$", "", stem)
    return stem.rsplit("-", 1)[1] if "-" in stem else ""


def _safe(rel: str) -> PurePosixPath | None:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        return None
    return p


def _wheel_path(name: str) -> PurePosixPath | None:
    """Where a wheel member goes: package files as they are, `.data/purelib|platlib/` unwrapped."""
    parts = PurePosixPath(name).parts
    if not parts or parts[0].endswith(".dist-info"):
        return None
    if parts[0].endswith(".data"):
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return None
        parts = parts[2:]
    return _safe("/".join(parts))


def unpack_python(archive: Path, dest: Path) -> tuple[int, str]:
    """Extract only the `*.py` files of a wheel or sdist into dest (package layout kept).

    Returns (file count, version). An archive with no Python file is a SourceError.
    """
    name = archive.name
    count = 0
    try:
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                wheel = name.endswith(".whl")
                if wheel and not any(PurePosixPath(n).parts[0].endswith(".dist-info") for n in zf.namelist() if n):
                    raise SourceError(f"{name} is not a wheel (no .dist-info folder inside)")
                strip = _top_to_strip(zf.namelist())
                for info in zf.infolist():
                    if info.is_dir() or not info.filename.endswith(".py"):
                        continue
                    rel = _wheel_path(info.filename) if wheel else _relative(info.filename, strip)
                    if rel is None:
                        continue
                    _write(dest / rel, zf.read(info))
                    count += 1
        elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                strip = _top_to_strip([m.name for m in members])
                for member in members:
                    if not member.isfile() or not member.name.endswith(".py"):
                        continue
                    rel = _relative(member.name, strip)
                    handle = tf.extractfile(member) if rel is not None else None
                    if handle is None:
                        continue
                    _write(dest / rel, handle.read())
                    count += 1
        else:
            raise SourceError(f"{name}: not a wheel (.whl) or a source archive (.tar.gz, .tar.xz, .zip)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise SourceError(f"{name} is not a readable archive ({exc}): download it again") from exc
    if count == 0:
        raise SourceError(f"{name} contains no Python source files (*.py), so there is nothing to read: "
                          f"it is binary-only or a stub package; pass a wheel or sdist that ships the .py "
                          f"files (for vLLM: --pip vllm==0.33.0)")
    return count, _version_of(name)


def _top_to_strip(names: list[str]) -> bool:
    """True when every member sits in one top folder that is not itself a package: an sdist's
    `name-version/`. A source archive of the package folder itself (`vllm/...`) keeps it."""
    tops = {PurePosixPath(n).parts[0] for n in names if n and PurePosixPath(n).parts}
    if len(tops) != 1:
        return False
    top = tops.pop()
    return f"{top}/__init__.py" not in {n.lstrip("./") for n in names} and any("/" in n.strip("/") for n in names)


def _relative(member: str, strip: bool) -> PurePosixPath | None:
    parts = PurePosixPath(member).parts
    if strip:
        parts = parts[1:]
    return _safe("/".join(parts)) if parts else None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ------------------------------------------------------------------------------------ update / remove


def update(name: str, rev: str | None = None, progress: bool = False, say: Say = _quiet) -> Entry:
    """Bring a source to rev (default: the revision it was added at, fetched again)."""
    entry = registry.get(name)
    if entry is None:
        raise SourceError(f"no source named '{name}': `codewalk source list` shows them, "
                          f"`codewalk source add {name} ...` adds it")
    registry.sweep()
    if entry.kind == "path":
        if rev:
            raise SourceError(f"'{name}' is your own folder {entry.location}; codewalk does not change it: "
                              f"run `git -C {entry.location} checkout {rev}` yourself, then "
                              f"`codewalk source update {name}` to re-index")
        if not entry.path.is_dir():
            raise SourceError(f"{entry.location} is gone: `codewalk source remove {name}` and add it again")
        entry.revision = _git_head(entry.path)
    elif entry.kind == "git":
        git = _git()
        if not entry.path.is_dir():
            raise SourceError(f"{entry.location} is gone: `codewalk source remove {name}` and add it again")
        want = rev or entry.rev or None
        say(f"fetching {entry.origin}" + (f" at {want}" if want else ""))
        with _sigint_wins(), git.Repo(entry.path) as repo, _progress(progress, "git") as adapter:
            entry.revision = _fetch_rev(repo, entry.origin, want, not entry.history, adapter)
        entry.rev = want or ""
    elif entry.kind == "pip":
        spec = entry.origin
        if rev:
            spec = _with_version(entry.extra.get("project") or _project_of(Path(spec).name), rev)
        with _sigint_wins():
            fresh = _download_to_partial(name, lambda dest: _pip_get(spec, dest, progress, say))
        _swap(fresh[1], entry.path)
        entry.origin, entry.rev, entry.revision, entry.extra = fresh[0].origin, fresh[0].rev, fresh[0].revision, fresh[0].extra
    else:
        raise SourceError(f"'{name}' has an unknown kind {entry.kind!r}: remove it and add it again")
    entry.updated = registry.now()
    with registry.locked() as entries:
        entries[name] = entry
    return entry


def _loosen(folder: Path) -> None:
    """mkdtemp makes 0700 folders; give the renamed one the usual umask-based mode."""
    umask = os.umask(0)
    os.umask(umask)
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o777 & ~umask)


def _download_to_partial(name: str, get: Callable[[Path], Entry]) -> tuple[Entry, Path]:
    partial = registry.partial_dir(name)
    try:
        return get(partial), partial
    except BaseException:
        with contextlib.suppress(OSError, RuntimeError):
            registry.remove_tree(partial)
        raise


def _swap(new: Path, final: Path) -> None:
    """Replace final by new with two renames; the old tree is deleted afterwards."""
    old = registry.partial_dir(final.name + "-old")
    os.rmdir(old)
    try:
        if final.exists():
            os.rename(final, old)
        os.rename(new, final)
        _loosen(final)
    except BaseException:
        if old.exists() and not final.exists():
            os.rename(old, final)
        with contextlib.suppress(OSError, RuntimeError):
            registry.remove_tree(new)
        raise
    with contextlib.suppress(OSError, RuntimeError):
        registry.remove_tree(old)


def remove(name: str) -> tuple[Entry, bool]:
    """Forget a source; delete its folder only if codewalk downloaded it. (entry, deleted?)"""
    if name in registry.RESERVED:
        raise SourceError(f"'{name}' is the built-in corpus: it comes with codewalk and cannot be removed")
    entry = registry.delete(name)
    if entry is None:
        raise SourceError(f"no source named '{name}': `codewalk source list` shows them")
    deleted = False
    if entry.owned and registry.is_inside_sources(entry.path):
        _drop_indexes(entry)
        registry.remove_tree(entry.path)
        deleted = True
    return entry, deleted


def _drop_indexes(entry: Entry) -> None:
    from codewalk.sources import checkouts as sources
    from codewalk.index import store

    include = sources.subtrees_of(entry.name)
    for inc in {include, ()}:
        db = store.db_path(entry.path, inc)
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                Path(str(db) + suffix).unlink()


def reindex(entry: Entry, progress: bool = False) -> Any:
    """Bring the index of a source up to date (incremental); returns the index stats."""
    from codewalk.sources import checkouts as sources
    from codewalk.index.build import index_repo

    return index_repo(entry.path, sources.subtrees_of(entry.name), progress=progress)
