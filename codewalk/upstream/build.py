"""Compile KsanaLLM's real PrefixCacheManager from the user's checkout into a Python module.

`build(repo)` compiles, unmodified, `src/ksana_llm/cache_manager/prefix_cache_manager.cpp` and
`src/ksana_llm/utils/status.cpp` with codewalk's stand-in headers (`standins/*.h`, laid out as
`ksana_llm/utils/*.h` in an include directory searched before the checkout's `src/`) and the
binding `binding.cpp` (with `binding_common.h`, shared with the scheduler's binding), into
`$CODEWALK_HOME/upstream/<commit>/`. Two structs the real code needs from headers we shadow
(`CacheManagerConfig`, `FlexibleCachedCopyTask`) are copied out of the checkout's own headers at
build time. A build is reused while its inputs are unchanged
(`build_key`: every file it reads or lays out, the binding, compiler and flags).
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
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from codewalk.upstream import api, sched_build
from codewalk.upstream.layout import (API_HEADER, BINDING_COMMON, CACHE_ONLY, PKG, STANDINS, BuildError,
                                      binding_common, extract_decl, extract_struct, package_file, standin_files)
from codewalk.upstream.scheduler import Scheduler as _Scheduler
from codewalk.upstream.scheduler import set_default_module

__all__ = ["API_HEADER", "BINDING_COMMON", "CACHE_ONLY", "PKG", "STANDINS", "BuildError", "Built", "binding_common",
           "build", "engine", "extract_decl", "extract_struct", "load_module", "scheduler_module", "standin_files"]

MODULE = "ksanallm_upstream"

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
CXXFLAGS = ("-std=c++17", "-O2", "-fPIC", "-fvisibility=hidden", "-pthread", "-w")


@dataclass(slots=True)
class Built:
    path: Path  # the extension module
    commit: str
    seconds: float  # 0.0 when an existing build was reused
    reused: bool
    scheduler: Path | None = None  # the ContinuousBatchingStrategy module (None when not built)
    sanitize: bool = False
    scheduler_error: str = ""  # why the scheduler was not built (one line), when it was asked for
    api: dict[str, str] | None = None  # feature -> the API variant found in the checkout's headers


# ----------------------------------------------------------------------------- where things are

def home() -> Path:
    from codewalk.sources.registry import home as cw_home

    return cw_home() / "upstream"


def resolve_repo(repo: str | Path | None = None, source: str | None = None) -> Path:
    """--repo PATH, else --source NAME (registry / its variable), else $CODEWALK_KSANALLM."""
    if repo:
        root = Path(repo).expanduser().resolve()
    else:
        name = source or "ksanallm"
        from codewalk.sources.checkouts import SourceError, target

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


def cache_inputs() -> tuple[str, ...]:
    """Every checkout file the cache manager build reads."""
    return (*SOURCES, *HEADERS, *(h for _, h, _ in EXTRACTED))


def check_layout(root: Path, files: tuple[str, ...] | None = None, engines: tuple[str, ...] = ("cache",),
                 commit: str = "") -> None:
    """Every file the build reads must be in the checkout; one line names the first one missing (and
    where its name now appears), how many others are, and the nearest commit that has them all."""
    if not (root / "src" / "ksana_llm").is_dir():
        raise BuildError(f"{root} does not look like a KsanaLLM checkout: src/ksana_llm/ is missing")
    files = cache_inputs() if files is None else files
    missing = [rel for rel in files if not (root / rel).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more files)" if len(missing) > 1 else ""
        err = api.Unsupported(api.FEATURES[0], f"{missing[0]} is missing{_moved(root, missing[0])}{more}")
        raise BuildError(api.unsupported_message(root, err, engines, commit or commit_of(root), files))


def detect_api(root: Path, engines: tuple[str, ...], commit: str) -> dict[str, api.Variant]:
    """The checkout's API variants for these engines; a one-line BuildError when one is unknown."""
    try:
        return api.detect(root, engines)
    except api.Unsupported as e:
        raise BuildError(api.unsupported_message(root, e, engines, commit)) from None


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


def cache_layers(extracted: dict[str, str], api_h: str) -> list[dict[str, str]]:
    """The cache build's include directories, in search order (one): its stand-ins, the structs
    copied out of the checkout, the API variants' macros (`api_h`) and the bindings' shared header."""
    return [{**standin_files(), **{f"codewalk_extracted/{name}": text for name, text in extracted.items()},
             API_HEADER: api_h, **binding_common()}]


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

def build(repo: str | Path | None = None, source: str | None = None, force: bool = False,
          progress: Any = None, sanitize: bool = False, scheduler: bool = True) -> Built:
    """Build (or reuse) the real engines for a checkout: the PrefixCacheManager module and, unless
    `scheduler=False`, the ContinuousBatchingStrategy module. `sanitize` builds both with
    AddressSanitizer into a separate `asan/` folder. `progress(message)` reports steps."""
    say = progress or (lambda _m: None)
    root = resolve_repo(repo, source)
    commit = commit_of(root)
    # Everything the checkout must offer is checked before anything is written.
    check_layout(root, commit=commit)
    cache_api = detect_api(root, ("cache",), commit)
    extracted = extracted_sources(root)
    compiler = find_compiler()
    includes = [pybind11_include(), python_include()]
    flags = list(CXXFLAGS) + (list(ASAN_FLAGS) if sanitize else [])
    out_dir = home() / commit / ("asan" if sanitize else "")
    total = 0.0
    say(f"KsanaLLM {commit[:8]}: " + "; ".join(f"{k}: {v.name}" for k, v in cache_api.items()))
    # --- the prefix cache manager
    cache_path, secs, reused = _build_target(
        "PrefixCacheManager", MODULE, root, commit, out_dir, compiler, flags, includes,
        cache_layers(extracted, api.api_header(cache_api)), [root / s for s in SOURCES], package_file("binding.cpp"),
        "binding.cpp", [root / r for r in (*HEADERS, *api.headers(("cache",)))], force, say, sanitize)
    total += secs
    found = {k: v.name for k, v in cache_api.items()}
    sched_path, sched_error = None, ""
    if scheduler:
        engines = ("cache", "scheduler")
        try:
            check_layout(root, sched_build.inputs(), ("scheduler",), commit)
            sched_api = detect_api(root, ("scheduler",), commit)
            generated = sched_build.generated(root)
        except BuildError as e:  # the cache manager is still usable: say why in one line
            sched_error = str(e)
            say(f"ContinuousBatchingStrategy not built: {sched_error}")
        else:
            found.update({k: v.name for k, v in sched_api.items()})
            sched_path, secs2, reused2 = _build_target(
                "ContinuousBatchingStrategy", sched_build.SCHED_MODULE, root, commit, out_dir, compiler, flags,
                includes, sched_build.layers({**generated, API_HEADER: api.api_header(sched_api)}),
                [root / s for s in sched_build.sources(root)], sched_build.binding_text(root), "sched_binding.cpp",
                [root / r for r in (*sched_build.inputs(), *api.headers(engines))], force, say, sanitize)
            total += secs2
            reused = reused and reused2
    return Built(cache_path, commit, total, reused, sched_path, sanitize, sched_error, found)


ASAN_FLAGS = ("-fsanitize=address", "-fno-omit-frame-pointer", "-g")


def build_key(root: Path, read: list[Path], sources: list[Path], layers: list[dict[str, str]], binding_text: str,
              compiler: str, flags: list[str]) -> str:
    """What a build is reused by: the checkout files it reads, every file of every include layer (in
    its layer), the binding, the compiler, the flags and the Python version."""
    h = hashlib.sha256()
    for path in sorted(set(read) | set(sources)):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    for i, files in enumerate(layers):
        for rel, text in sorted(files.items()):
            h.update(f"{i}:".encode() + rel.encode() + text.encode())
    h.update(binding_text.encode())
    h.update(compiler.encode() + " ".join(flags).encode() + sys.version.encode())
    return h.hexdigest()


def _build_target(what: str, module: str, root: Path, commit: str, out_dir: Path, compiler: str, flags: list[str],
                  includes: list[str], layers: list[dict[str, str]], sources: list[Path], binding_text: str,
                  binding_name: str, read: list[Path], force: bool, say: Any,
                  sanitize: bool) -> tuple[Path, float, bool]:
    """Compile `sources` + the binding with `layers` (relative path -> text) laid out as include
    dirs searched in that order, before the checkout's `src/`."""
    target_path = out_dir / (module + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    key = build_key(root, read, sources, layers, binding_text, compiler, flags)
    stamp = out_dir / f"{module}.build.json"
    if not stamp.is_file() and module == MODULE and (out_dir / "build.json").is_file():
        stamp = out_dir / "build.json"  # a build made before the scheduler was added
    if not force and target_path.is_file() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                say(f"up to date: {target_path}")
                return target_path, 0.0, True
        except (OSError, ValueError):
            pass
    stamp = out_dir / f"{module}.build.json"
    start = time.monotonic()
    work = out_dir / f"build-{module}"
    if work.exists():
        shutil.rmtree(work)
    incs = [work / ("include" if i == 0 else f"include{i}") for i in range(len(layers))]
    for inc, files in zip(incs, layers):
        for rel, text in files.items():
            dst = inc / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
    binding = work / binding_name
    binding.write_text(binding_text, encoding="utf-8")
    common = [compiler, *flags, *(f"-I{inc}" for inc in incs), f"-I{root / 'src'}", *(f"-I{i}" for i in includes),
              f"-DCODEWALK_MODULE_NAME={module}", f'-DCODEWALK_KSANALLM_COMMIT="{commit}"']
    units = [(src, work / f"{i:02d}_{src.stem}.o") for i, src in enumerate([*sources, binding])]

    def compile_one(unit: tuple[Path, Path]) -> tuple[Path, subprocess.CompletedProcess]:
        src, obj = unit
        return src, subprocess.run([*common, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)

    say(f"{what}: compiling {len(units)} files with {Path(compiler).name} (KsanaLLM {commit[:8]}"
        f"{', AddressSanitizer' if sanitize else ''})")
    tmp = target_path.with_suffix(".tmp")
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(len(units), os.cpu_count() or 1))) as pool:
            for src, res in pool.map(compile_one, units):
                if res.returncode != 0:
                    raise BuildError(f"compiling {src} failed:\n{_tail(res.stderr)}")
                say(f"compiled {src.name}")
        link = [compiler, "-shared", "-pthread", *(["-fsanitize=address"] if sanitize else []),
                *(str(o) for _, o in units), "-o", str(tmp)]
        if sys.platform == "darwin":
            link[2:2] = ["-undefined", "dynamic_lookup"]
        res = subprocess.run(link, capture_output=True, text=True)
        if res.returncode != 0:
            raise BuildError(f"linking {what} failed:\n{_tail(res.stderr)}")
        os.replace(tmp, target_path)
    except BaseException:  # a failed or interrupted build leaves nothing half-built behind
        discard_failed(work, tmp, target_path, stamp)
        raise
    seconds = time.monotonic() - start
    stamp.write_text(json.dumps({"key": key, "commit": commit, "repo": str(root), "seconds": round(seconds, 2),
                                 "module": target_path.name, "sanitize": sanitize}, indent=1))
    say(f"linked {target_path} ({seconds:.1f}s)")
    return target_path, seconds, False


def discard_failed(work: Path, tmp: Path, target: Path, stamp: Path) -> None:
    """Remove a failed build's objects, partial module and stale stamp; then its folders if empty."""
    shutil.rmtree(work, ignore_errors=True)
    for path in (tmp, target, stamp):
        path.unlink(missing_ok=True)
    for folder in (work.parent, work.parent.parent):
        if folder.parent == home() or folder.parent.parent == home():
            try:
                folder.rmdir()  # only when empty: another engine's build stays
            except OSError:
                pass


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ----------------------------------------------------------------------------- load

_LOADED: dict[Path, ModuleType] = {}
_SCHEDULER_PATH: list[Path] = []  # the scheduler module engine() loaded last


def load_module(path: Path, name: str = MODULE) -> ModuleType:
    path = Path(path)
    if path in _LOADED:
        return _LOADED[path]
    if name == MODULE and path.name.startswith("ksanallm_scheduler"):
        name = "ksanallm_scheduler"
    # CPython hands back the first extension module of a name for any later path: another build
    # of the same commit is that module; another commit's build would silently be the first one.
    other = next((p for p, m in _LOADED.items() if m.__name__ == name), None)
    if other is not None:
        if _build_id(other) == _build_id(path):
            _LOADED[path] = _LOADED[other]
            return _LOADED[other]
        raise BuildError(f"cannot load {path}: this process already loaded {other} under the same module name; "
                         f"use one KsanaLLM build per process")
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    if spec is None:
        raise BuildError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    try:
        loader.exec_module(mod)
    except ImportError as e:
        hint = (" (an AddressSanitizer build: run Python with LD_PRELOAD=$(c++ -print-file-name=libasan.so) "
                "ASAN_OPTIONS=detect_leaks=0)") if "asan" in str(e).lower() or path.parent.name == "asan" else ""
        raise BuildError(f"cannot load {path}: {e}{hint}") from None
    _LOADED[path] = mod
    return mod


def _build_id(path: Path) -> tuple[str, bool]:
    """(commit, sanitized) of a module laid out as <home>/<commit>/[asan/]<module>."""
    asan = path.parent.name == "asan"
    return (path.parent.parent.name if asan else path.parent.name), asan


def scheduler_module(repo: str | Path | None = None, source: str | None = None) -> ModuleType:
    """The real scheduler module: the one engine() loaded, else the built one for the checkout."""
    if _SCHEDULER_PATH:
        return load_module(_SCHEDULER_PATH[-1], "ksanallm_scheduler")
    return engine(repo, source).module_scheduler


def engine(repo: str | Path | None = None, source: str | None = None, build_if_missing: bool = True,
           progress: Any = None, sanitize: bool = False, scheduler: bool = True) -> SimpleNamespace:
    """The real engine as an `engine` namespace like `codewalk.core`: CacheConfig, PrefixCacheManager,
    SchedulerConfig, Scheduler, StepResult, fake_token, CoreError; plus root, commit and
    scheduler_error (why `Scheduler` is unavailable: outside its supported range, or not asked for)."""
    from codewalk.core.config import CacheConfig, SchedulerConfig, StepResult
    from codewalk.core.errors import CoreError
    root = resolve_repo(repo, source)
    sched_error = ""
    if build_if_missing:
        built = build(root, progress=progress, sanitize=sanitize, scheduler=scheduler)
        path, commit, sched_path, sched_error = built.path, built.commit, built.scheduler, built.scheduler_error
        if not scheduler:
            sched_error = "not built (the cache manager alone was asked for)"
    else:
        commit = commit_of(root)
        out_dir = home() / commit / ("asan" if sanitize else "")
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        path = out_dir / (MODULE + suffix)
        sched_path = out_dir / (sched_build.SCHED_MODULE + suffix)
        if not path.is_file() or (scheduler and not sched_path.is_file()):
            raise BuildError(f"the real engine for {root} is not built: run `codewalk upstream build`")
        if not scheduler:
            sched_path, sched_error = None, "not built (the cache manager alone was asked for)"
    mod = load_module(path)
    smod = None
    if sched_path is not None:
        smod = load_module(sched_path, sched_build.SCHED_MODULE)
        _SCHEDULER_PATH.append(sched_path)

    class Scheduler(_Scheduler):
        __doc__ = _Scheduler.__doc__

        def __init__(self, config: Any) -> None:
            if smod is None:
                raise BuildError(f"the real scheduler is not built for KsanaLLM {commit[:8]}: {sched_error}")
            super().__init__(config, smod)

    return SimpleNamespace(CacheConfig=CacheConfig, PrefixCacheManager=mod.PrefixCacheManager, CoreError=CoreError,
                           SchedulerConfig=SchedulerConfig, Scheduler=Scheduler, StepResult=StepResult,
                           fake_token=smod.fake_token if smod else None, commit=commit, module=mod,
                           module_scheduler=smod, name="real", root=root, scheduler_error=sched_error)


# Scheduler(config) without a module uses the one engine() loaded, else builds it for the checkout.
set_default_module(scheduler_module)
