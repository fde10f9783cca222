"""Compile KsanaLLM's real PrefixCacheManager from the user's checkout into a Python module.

`build(repo)` compiles, unmodified, `src/ksana_llm/cache_manager/prefix_cache_manager.cpp` and
`src/ksana_llm/utils/status.cpp` with codewalk's stand-in headers (`standins/*.h`, laid out as
`ksana_llm/utils/*.h` in an include directory searched before the checkout's `src/`) and the
binding `binding.cpp`, into `$CODEWALK_HOME/upstream/<commit>/`. Two structs the real code needs
from headers we shadow (`CacheManagerConfig`, `FlexibleCachedCopyTask`) are copied out of the
checkout's own headers at build time. A build is reused while its inputs are unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

MODULE = "ksanallm_upstream"
PKG = "codewalk.upstream"

# The checkout's files the build reads, relative to its root. Compiled: the first two.
SOURCES = ("src/ksana_llm/cache_manager/prefix_cache_manager.cpp", "src/ksana_llm/utils/status.cpp")
HEADERS = (
    "src/ksana_llm/cache_manager/prefix_cache_manager.h",
    "src/ksana_llm/cache_manager/base_cache_manager.h",
    "src/ksana_llm/cache_manager/cache_manager_interface.h",
    "src/ksana_llm/cache_manager/prefix_cache_manager_test_helper.h",
    "src/ksana_llm/cache_manager/block_allocator/block_allocator_interface.h",
    "src/ksana_llm/cache_manager/block_allocator/block_allocator_manager.h",
    "src/ksana_llm/runtime/threadpool.h",
    "src/ksana_llm/runtime/request_state.h",
    "src/ksana_llm/utils/status.h",
    "src/ksana_llm/utils/ret_code.h",
    "src/ksana_llm/utils/string_utils.h",
    "src/ksana_llm/utils/memory_utils.h",
    "src/ksana_llm/utils/calc_intvec_hash.h",
    "src/ksana_llm/utils/memory_allocator_interface.h",
)
# Structs copied out of headers that are shadowed: (struct, header it is read from, generated file).
EXTRACTED = (
    ("CacheManagerConfig", "src/ksana_llm/utils/config/schedule_config_parser.h", "cache_manager_config.inc"),
    ("FlexibleCachedCopyTask", "src/ksana_llm/utils/request.h", "flexible_cached_copy_task.inc"),
)
# Stand-ins shipped as package data: file -> the header it shadows (under the include dir).
STANDINS = {name: f"ksana_llm/utils/{name}" for name in
            ("logger.h", "device_types.h", "device_utils.h", "context.h", "environment.h", "request.h")}
CXXFLAGS = ("-std=c++17", "-O2", "-fPIC", "-fvisibility=hidden", "-pthread", "-w")


class BuildError(RuntimeError):
    """Why the real engine cannot be built; the message says what to do."""


@dataclass(slots=True)
class Built:
    path: Path  # the extension module
    commit: str
    seconds: float  # 0.0 when an existing build was reused
    reused: bool


# ----------------------------------------------------------------------------- where things are

def home() -> Path:
    from codewalk.registry import home as cw_home

    return cw_home() / "upstream"


def resolve_repo(repo: str | Path | None = None, source: str | None = None) -> Path:
    """--repo PATH, else --source NAME (registry / its variable), else $CODEWALK_KSANALLM."""
    if repo:
        root = Path(repo).expanduser().resolve()
    else:
        name = source or "ksanallm"
        from codewalk.sources import SourceError, target

        try:
            t = target(name)
        except SourceError as e:
            raise BuildError(str(e)) from None
        if t is None and name == "ksanallm" and os.environ.get("CODEWALK_KSANALLM"):
            t = SimpleNamespace(root=Path(os.environ["CODEWALK_KSANALLM"]).expanduser().resolve())
        if t is None:
            raise BuildError(f"no KsanaLLM checkout: pass --repo PATH, set CODEWALK_KSANALLM, or "
                             f"`codewalk source add {name} PATH`")
        root = Path(t.root)
    if not root.is_dir():
        raise BuildError(f"{root} is not a directory")
    return root


def commit_of(root: Path) -> str:
    """The checkout's commit (40 hex), or 'nogit' for a plain folder."""
    git = shutil.which("git")
    if git:
        try:
            out = subprocess.run([git, "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                 timeout=20)
            if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", out.stdout.strip()):
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return "nogit"


def _moved(root: Path, rel: str) -> str:
    """Where a missing file's name now appears under src/ (for the error message)."""
    name = Path(rel).name
    base = root / "src"
    hits = sorted(str(p.relative_to(root)) for p in base.rglob(name)) if base.is_dir() else []
    return f" (moved? found {', '.join(hits[:3])})" if hits else ""


def check_layout(root: Path) -> None:
    """Every file the build reads must be where c451219c has it; name what is missing or moved."""
    if not (root / "src" / "ksana_llm").is_dir():
        raise BuildError(f"{root} does not look like a KsanaLLM checkout: src/ksana_llm/ is missing")
    missing = [rel + _moved(root, rel) for rel in (*SOURCES, *HEADERS, *(h for _, h, _ in EXTRACTED))
               if not (root / rel).is_file()]
    if missing:
        raise BuildError("the checkout's layout differs from what codewalk builds (KsanaLLM c451219c):\n  missing "
                         + "\n  missing ".join(missing))


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def extract_struct(text: str, name: str) -> str | None:
    """The text of `struct NAME { ... };` (comments removed), by brace matching."""
    clean = _strip_comments(text)
    m = re.search(rf"\bstruct\s+{re.escape(name)}\s*(?::[^{{;]*)?\{{", clean)
    if not m:
        return None
    depth, i = 0, m.end() - 1
    while i < len(clean):
        c = clean[i]
        depth += (c == "{") - (c == "}")
        if depth == 0:
            end = clean.find(";", i)
            return clean[m.start():end + 1] if end != -1 else None
        i += 1
    return None


def extracted_sources(root: Path) -> dict[str, str]:
    """Generated file name -> its text; a BuildError names the struct that moved."""
    out = {}
    for struct, rel, gen in EXTRACTED:
        body = extract_struct((root / rel).read_text(encoding="utf-8", errors="replace"), struct)
        if body is None:
            hits = [str(p.relative_to(root)) for p in (root / "src").rglob("*.h")
                    if re.search(rf"\bstruct\s+{struct}\b", p.read_text(encoding="utf-8", errors="replace"))]
            where = f"; it is now in {', '.join(hits[:3])}" if hits else ""
            raise BuildError(f"struct {struct} is no longer defined in {rel}{where}")
        out[gen] = f"// Copied by `codewalk upstream build` from {rel}: do not edit.\n{body}\n"
    return out


def _package_file(name: str) -> str:
    return resources.files(PKG).joinpath(name).read_text(encoding="utf-8")


def _standin(name: str) -> str:
    return resources.files(PKG).joinpath("standins", name).read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- toolchain

def find_compiler() -> str:
    wanted = os.environ.get("CXX")
    for cand in ([wanted] if wanted else []) + ["c++", "g++", "clang++"]:
        path = shutil.which(cand)
        if path:
            return path
    raise BuildError("no C++ compiler found (tried $CXX, c++, g++, clang++): install one, e.g. "
                     "`apt-get install g++` or Xcode's command line tools")


def pybind11_include() -> str:
    try:
        import pybind11
    except ImportError:
        raise BuildError("pybind11 is not installed: `pip install pybind11`") from None
    inc = pybind11.get_include()
    if not (Path(inc) / "pybind11" / "pybind11.h").is_file():
        raise BuildError(f"pybind11's headers are missing from {inc}: reinstall it (`pip install -U pybind11`)")
    return inc


def python_include() -> str:
    inc = sysconfig.get_paths()["include"]
    if not (Path(inc) / "Python.h").is_file():
        raise BuildError(f"Python.h not found in {inc}: install the Python development headers "
                         f"(e.g. `apt-get install python3-dev`)")
    return inc


def module_path(commit: str) -> Path:
    return home() / commit / (MODULE + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))


# ----------------------------------------------------------------------------- build

def _inputs_key(root: Path, extracted: dict[str, str], compiler: str, flags: list[str]) -> str:
    h = hashlib.sha256()
    for rel in (*SOURCES, *HEADERS):
        h.update(rel.encode())
        h.update((root / rel).read_bytes())
    for name, text in sorted(extracted.items()):
        h.update(name.encode() + text.encode())
    for name in sorted(STANDINS):
        h.update(name.encode() + _standin(name).encode())
    h.update(_package_file("binding.cpp").encode())
    h.update(compiler.encode() + " ".join(flags).encode() + sys.version.encode())
    return h.hexdigest()


def build(repo: str | Path | None = None, source: str | None = None, force: bool = False,
          progress: Any = None) -> Built:
    """Build (or reuse) the real engine for a checkout. `progress(message)` reports steps."""
    say = progress or (lambda _m: None)
    root = resolve_repo(repo, source)
    check_layout(root)
    extracted = extracted_sources(root)
    compiler = find_compiler()
    includes = [pybind11_include(), python_include()]
    commit = commit_of(root)
    out_dir = home() / commit
    target_path = module_path(commit)
    flags = list(CXXFLAGS)
    key = _inputs_key(root, extracted, compiler, flags)
    stamp = out_dir / "build.json"
    if not force and target_path.is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                say(f"up to date: {target_path}")
                return Built(target_path, commit, 0.0, True)
        except (OSError, ValueError):
            pass
    start = time.monotonic()
    work = out_dir / "build"
    if work.exists():
        shutil.rmtree(work)
    inc = work / "include"
    for name, rel in STANDINS.items():
        dst = inc / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(_standin(name), encoding="utf-8")
    (inc / "codewalk_extracted").mkdir(parents=True, exist_ok=True)
    for name, text in extracted.items():
        (inc / "codewalk_extracted" / name).write_text(text, encoding="utf-8")
    binding = work / "binding.cpp"
    binding.write_text(_package_file("binding.cpp"), encoding="utf-8")
    common = [compiler, *flags, f"-I{inc}", f"-I{root / 'src'}", *(f"-I{i}" for i in includes),
              f"-DCODEWALK_MODULE_NAME={MODULE}", f'-DCODEWALK_KSANALLM_COMMIT="{commit}"']
    units = [(root / SOURCES[0], work / "prefix_cache_manager.o"), (root / SOURCES[1], work / "status.o"),
             (binding, work / "binding.o")]

    def compile_one(unit: tuple[Path, Path]) -> tuple[Path, subprocess.CompletedProcess]:
        src, obj = unit
        return src, subprocess.run([*common, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)

    say(f"compiling {len(units)} files with {Path(compiler).name} (KsanaLLM {commit[:8]})")
    with ThreadPoolExecutor(max_workers=max(1, min(len(units), os.cpu_count() or 1))) as pool:
        for src, res in pool.map(compile_one, units):
            if res.returncode != 0:
                raise BuildError(f"compiling {src} failed:\n{_tail(res.stderr)}")
            say(f"compiled {src.name}")
    tmp = target_path.with_suffix(".tmp")
    link = [compiler, "-shared", "-pthread", *(str(o) for _, o in units), "-o", str(tmp)]
    if sys.platform == "darwin":
        link[2:2] = ["-undefined", "dynamic_lookup"]
    res = subprocess.run(link, capture_output=True, text=True)
    if res.returncode != 0:
        raise BuildError(f"linking failed:\n{_tail(res.stderr)}")
    os.replace(tmp, target_path)
    seconds = time.monotonic() - start
    stamp.write_text(json.dumps({"key": key, "commit": commit, "repo": str(root), "seconds": round(seconds, 2),
                                 "module": target_path.name}, indent=1))
    say(f"linked {target_path}")
    return Built(target_path, commit, seconds, False)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ----------------------------------------------------------------------------- load

_LOADED: dict[Path, ModuleType] = {}


def load_module(path: Path) -> ModuleType:
    path = Path(path)
    if path in _LOADED:
        return _LOADED[path]
    loader = importlib.machinery.ExtensionFileLoader(MODULE, str(path))
    spec = importlib.util.spec_from_file_location(MODULE, str(path), loader=loader)
    if spec is None:
        raise BuildError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    _LOADED[path] = mod
    return mod


def engine(repo: str | Path | None = None, source: str | None = None, build_if_missing: bool = True,
           progress: Any = None) -> SimpleNamespace:
    """The real engine as an `engine` namespace like `codewalk.core`: CacheConfig, PrefixCacheManager, CoreError."""
    from codewalk.core.config import CacheConfig
    from codewalk.core.errors import CoreError

    if build_if_missing:
        built = build(repo, source, progress=progress)
        path, commit = built.path, built.commit
    else:
        root = resolve_repo(repo, source)
        commit = commit_of(root)
        path = module_path(commit)
        if not path.is_file():
            raise BuildError(f"the real engine for {root} is not built: run `codewalk upstream build`")
    mod = load_module(path)
    return SimpleNamespace(CacheConfig=CacheConfig, PrefixCacheManager=mod.PrefixCacheManager, CoreError=CoreError,
                           commit=commit, module=mod, name="real")
