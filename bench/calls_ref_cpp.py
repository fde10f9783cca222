"""The KsanaLLM reference of bench/calls.py: clang's AST (libclang) of the translation units
that `codewalk upstream build` compiles, with the same stand-in include directories.

Translation units: the upstream build's sources that lie in the selected folders (by default),
or every non-test .cpp of the selected folders (`all_units=True`; units the stand-ins do not
cover parse with errors, and only the calls clang could still resolve are kept). Include
directories are the scheduler build's layers (`sched_build.layers`: its stand-ins, the files it
generates from the checkout, then the cache build's stand-ins), then the checkout's `src/`,
pybind11 and Python; clang's builtin headers come from `$CODEWALK_CLANG_RESOURCE`, else
`clang -print-resource-dir`, else gcc's (`gcc -print-file-name=include`).

Sites: every CALL_EXPR (libclang's cursor for calls, member calls and constructions) whose
callee name is written in a selected file — the callee's spelling location must hold the name,
which drops implicit calls (range-for `begin()`, conversions) and calls inside macro bodies;
calls written in macro arguments count at the line where they are written. Operator calls are
skipped (codewalk does not record them). A construction counts when it is written: `T(...)`,
`T{...}`, `new T(...)`, `T x(...)`/`T x{...}` and member/base initialisers with parentheses or
braces (a member initialiser is named by the member, as written: `step_batch_size(num)`), but not
copies or moves. `std::make_shared<T>`/`make_unique<T>` also give a site named T
with T's constructor as target (codewalk records them so).

Classification by the referenced declaration's file: inside the checkout's `src/` → project;
in a stand-in or generated include directory → project when its qualified name is in namespace
`ksana_llm` (it stands for a KsanaLLM declaration), else library (e.g. the `fmt` shim); anything
else (std, system, pybind11, third-party) → library. A call clang cannot resolve (dependent
names in templates, errors) is unknown and not scored.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from calls_cache import UnitCache, home, tree_key
from calls_score import RefSite

_SCOPE_KINDS = ("NAMESPACE", "CLASS_DECL", "STRUCT_DECL", "UNION_DECL", "CLASS_TEMPLATE",
                "CLASS_TEMPLATE_PARTIAL_SPECIALIZATION", "ENUM_DECL")
_FUNC_KINDS = ("FUNCTION_DECL", "CXX_METHOD", "CONSTRUCTOR", "DESTRUCTOR", "FUNCTION_TEMPLATE",
               "CONVERSION_FUNCTION")
_CALLEE_REFS = ("DECL_REF_EXPR", "MEMBER_REF_EXPR", "OVERLOADED_DECL_REF", "TEMPLATE_REF")
_MAKERS = ("make_shared", "make_unique")
RULES = "6"  # part of the cache key: bump when what counts as a site or its class changes


def is_test(rel: str) -> bool:
    """Test code by KsanaLLM's naming: `*_test.cpp`, `*_test_*.h`, `test_*`, `tests/`."""
    name = Path(rel).name
    return "_test" in name or name.startswith("test_") or "/test/" in rel or "/tests/" in rel


def selected_files(root: Path, folders: tuple[str, ...]) -> list[str]:
    """Non-test C++ files under the folders, relative to root (sorted)."""
    out = []
    for folder in folders:
        for p in (root / folder).rglob("*"):
            rel = str(p.relative_to(root))
            if p.suffix in (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh") and not is_test(rel):
                out.append(rel)
    return sorted(out)


def resource_include() -> str | None:
    """clang's builtin headers (stddef.h, ...): the wheel's libclang ships none."""
    env = os.environ.get("CODEWALK_CLANG_RESOURCE")
    if env:
        return env
    for exe, args in (("clang", ["-print-resource-dir"]), ("gcc", ["-print-file-name=include"])):
        path = shutil.which(exe)
        if not path:
            continue
        try:
            out = subprocess.run([path, *args], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        inc = out if exe == "gcc" else os.path.join(out, "include")
        if os.path.isfile(os.path.join(inc, "stddef.h")):
            return inc
    return None


def layout(root: Path) -> tuple[list[Path], str]:
    """Write the scheduler build's include layers under the bench cache; (dirs, digest)."""
    from codewalk.upstream import sched_build
    layers = sched_build.layers(sched_build.generated(root))
    h = hashlib.sha1()
    for i, files in enumerate(layers):
        for rel, text in sorted(files.items()):
            h.update(f"{i}:{rel}\0{text}\0".encode())
    digest = h.hexdigest()[:16]
    base = home() / f"include-{digest}"
    dirs = [base / f"layer{i}" for i in range(len(layers))]
    for d, files in zip(dirs, layers):
        for rel, text in files.items():
            dst = d / rel
            if not dst.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(text, encoding="utf-8")
    return dirs, digest


def units(root: Path, folders: tuple[str, ...], all_units: bool) -> list[str]:
    """Translation units to parse (relative paths)."""
    from codewalk.upstream import build, sched_build
    upstream = sorted(set(build.SOURCES) | set(sched_build.SOURCES))
    inside = [u for u in upstream if u.startswith(tuple(f.rstrip("/") + "/" for f in folders))]
    if not all_units:
        return inside
    extra = [f for f in selected_files(root, folders) if f.endswith((".cpp", ".cc"))]
    return sorted(set(inside) | set(extra))


class _Spelling:
    """clang_getSpellingLocation through ctypes (cindex only exposes expansion locations)."""

    def __init__(self, ci) -> None:  # noqa: ANN001
        self.ci = ci
        lib = ctypes.CDLL(ci.conf.get_filename())
        self.fn = lib.clang_getSpellingLocation
        self.fn.argtypes = [ci.SourceLocation, ctypes.POINTER(ctypes.c_void_p),
                            ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                            ctypes.POINTER(ctypes.c_uint)]
        self.fn.restype = None
        self.name = lib.clang_getFileName
        self.name.argtypes = [ctypes.c_void_p]
        self.name.restype = ci._CXString
        self.names: dict[int, str] = {}

    def __call__(self, loc) -> tuple[str, int, int]:  # noqa: ANN001
        """(file name, line, byte offset) where the text of loc is written."""
        f, line, col, off = ctypes.c_void_p(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
        self.fn(loc, ctypes.byref(f), ctypes.byref(line), ctypes.byref(col), ctypes.byref(off))
        if not f.value:
            return "", 0, 0
        name = self.names.get(f.value)
        if name is None:
            name = self.names[f.value] = self.ci._CXString.from_result(self.name(f.value))
        return name, line.value, off.value


class CppReference:
    """libclang over one checkout; `unit_sites(rel)` gives the sites one TU sees."""

    def __init__(self, root: Path, folders: tuple[str, ...], include_dirs: list[Path]) -> None:
        import clang.cindex as ci
        self.ci = ci
        self.root = root.resolve()
        self.src = self.root / "src"
        self.layers = [d.resolve() for d in include_dirs]
        self.selected = set(selected_files(self.root, folders))
        self.index = ci.Index.create()
        self.spell = _Spelling(ci)
        self.args = ["-x", "c++", "-std=c++17", *(f"-I{d}" for d in self.layers), f"-I{self.src}"]
        try:
            import pybind11
            self.args.append(f"-I{pybind11.get_include()}")
        except ImportError:
            pass
        self.args.append(f"-I{sysconfig.get_paths()['include']}")
        res = resource_include()
        if res:
            self.args += ["-isystem", res]
        self.rel_cache: dict[str, str | None] = {}
        self.text_cache: dict[str, bytes] = {}

    def _rel(self, name: str) -> str | None:
        """Path relative to the checkout when it is a selected file, else None."""
        if name not in self.rel_cache:
            try:
                rel = str(Path(os.path.realpath(name)).relative_to(self.root))
            except ValueError:
                rel = None
            self.rel_cache[name] = rel if rel in self.selected else None
        return self.rel_cache[name]

    def _text(self, name: str) -> bytes:
        data = self.text_cache.get(name)
        if data is None:
            data = self.text_cache[name] = Path(name).read_bytes()
        return data

    def _written(self, name: str, off: int, word: str) -> bool:
        """Whether `word` (optionally `ns::`-qualified) is written at byte `off` of file name."""
        data = self._text(name)
        m = re.match(rb"(?:\w+\s*::\s*)*" + re.escape(word.encode()) + rb"\b", data[off:off + 400])
        return m is not None

    def unit_sites(self, rel: str) -> tuple[list[RefSite], dict]:
        """Sites in selected files seen by one translation unit, and its diagnostics count."""
        tu = self.index.parse(str(self.root / rel), args=self.args)
        self.spell.names.clear()  # CXFile handles are per unit: their addresses get reused
        errors = [d for d in tu.diagnostics if d.severity >= 3]
        out: list[RefSite] = []
        for top in tu.cursor.get_children():
            f = top.location.file
            if f is not None and self._rel(f.name) is not None:
                self._walk(top, None, out)
        meta = {"errors": len(errors), "first_errors": [str(d) for d in errors[:5]]}
        return out, meta

    def _walk(self, cursor, parent, out: list[RefSite]) -> None:  # noqa: ANN001
        """Every CALL_EXPR below cursor. `member` carries a member initialiser's name (the
        MEMBER_REF just before its expression in a constructor) down through implicit wrappers,
        so `step_batch_size(num)` is a site named as written."""
        kinds = self.ci.CursorKind
        stack = [(cursor, parent, "")]
        while stack:
            node, up, member = stack.pop()
            kind = node.kind
            if kind == kinds.CALL_EXPR:
                self._call(node, up, out, member)
            children = list(node.get_children())
            if kind == kinds.CONSTRUCTOR:
                names = [""] + [c.spelling if c.kind == kinds.MEMBER_REF else "" for c in children[:-1]]
            elif kind == kinds.UNEXPOSED_EXPR:
                names = [member] * len(children)
            else:
                names = [""] * len(children)
            # implicit wrappers (cleanups of temporaries, casts) are see-through: `T x(f("a"))`
            # keeps VAR_DECL as the construction's parent
            owner = up if kind == kinds.UNEXPOSED_EXPR and up is not None else node
            stack.extend((child, owner, m) for child, m in zip(children, names))

    # ------------------------------------------------------------------ one call expression
    def _call(self, c, parent, out: list[RefSite], member: str = "") -> None:  # noqa: ANN001
        ref = c.referenced
        name = c.spelling
        if not name and ref is None:
            self._dependent(c, out)
            return
        if not name or name.startswith(("operator", "~")):
            return
        ref_kind = ref.kind.name if ref is not None else ""
        if ref_kind == "CONSTRUCTOR":
            site = self._construction(c, parent, ref)
        else:
            site = self._plain(c, name)
        if site is None:
            return
        path, line, col = site
        if ref is None or ref_kind not in _FUNC_KINDS:
            note = f"indirect: {ref_kind.lower()}" if ref is not None else "clang found nothing"
            out.append(RefSite(path, line, col, name, "unknown", note=note))
            return
        construction = ref_kind == "CONSTRUCTOR"
        written = (member or ref.spelling) if construction else name
        site_ = RefSite(path, line, col, written, "unknown")
        out.append(self._classified(site_, ref, construction=construction))
        if name in _MAKERS and ref.get_num_template_arguments() > 0:
            made = ref.get_template_argument_type(0).get_declaration()
            if made is not None and made.kind.name in _SCOPE_KINDS and made.spelling:
                site_ = RefSite(path, line, col, made.spelling, "unknown")
                out.append(self._classified(site_, made, ctor=True, construction=True))

    def _dependent(self, c, out: list[RefSite]) -> None:  # noqa: ANN001
        """A call clang leaves unresolved inside a template (`member_.push(x)` on a dependent
        type): an unknown site named by the last identifier its callee expression spells."""
        callee = self._callee(c)
        start = self._start(c)
        if callee is None or start is None:
            return
        words = [t.spelling for t in callee.get_tokens() if t.kind.name == "IDENTIFIER"]
        if words and not words[-1].startswith("operator"):
            out.append(RefSite(*start, words[-1], "unknown", note="dependent call in a template"))

    def _plain(self, c, name: str) -> tuple[str, int, int] | None:  # noqa: ANN001
        """Where a call is written, if its callee name is written in a selected file."""
        callee = self._callee(c)
        if callee is None:
            return None
        fname, _line, off = self.spell(callee.location)
        if not fname or self._rel(fname) is None or not self._written(fname, off, name):
            return None
        return self._start(c)

    def _callee(self, c):  # noqa: ANN001, ANN202
        """The name reference inside a call's callee expression (through implicit casts)."""
        node = next(iter(c.get_children()), None)
        for _ in range(6):
            if node is None:
                return None
            if node.kind.name in _CALLEE_REFS:
                return node
            if node.kind.name != "UNEXPOSED_EXPR":
                return None
            node = next(iter(node.get_children()), None)
        return None

    def _start(self, c) -> tuple[str, int, int] | None:  # noqa: ANN001
        fname, line, off = self.spell(c.extent.start)
        rel = self._rel(fname) if fname else None
        return (rel, line, off) if rel else None

    def _construction(self, c, parent, ctor) -> tuple[str, int, int] | None:  # noqa: ANN001
        """Where an explicitly written construction is (see the module doc), else None."""
        if ctor.is_copy_constructor() or ctor.is_move_constructor():
            return None
        start = self._start(c)
        if start is None:
            return None
        fname, _l, off = self.spell(c.extent.start)
        cls = ctor.spelling
        if self._written(fname, off, cls):
            return start  # T(...), T{...}, new T(...)
        pkind = parent.kind.name if parent is not None else ""
        if pkind in ("VAR_DECL", "FIELD_DECL", "CONSTRUCTOR", "MEMBER_REF", "CXX_NEW_EXPR"):
            tokens = [t.spelling for t in c.get_tokens()]
            if tokens and tokens[-1] in (")", "}"):
                return start  # T x(...), member_(...), base initialisers
        return None

    # ------------------------------------------------------------------ classification
    def _classified(self, site: RefSite, decl, ctor: bool = False,  # noqa: ANN001
                    construction: bool = False) -> RefSite:
        """Fill kind/targets/where from the referenced declaration (see the module doc)."""
        qname = qualified(decl)
        if ctor:
            qname = f"{qname}::{decl.spelling}"
        loc = decl.location
        fname = os.path.realpath(loc.file.name) if loc.file is not None else ""
        site.targets = [qname]
        site.where = self._short(fname, loc.line)
        if fname.startswith(str(self.src) + os.sep):
            site.kind = "project"
        elif any(fname.startswith(str(d) + os.sep) for d in self.layers):
            ours = qname.startswith("ksana_llm::")
            site.kind = "project" if ours else "library"
            site.note = "stand-in" + ("" if ours else f" {qname}")
        else:
            site.kind, site.note = "library", qname
        if site.kind == "library":
            site.targets = []
        elif construction:
            site.note = "construction"
        return site

    def _short(self, fname: str, line: int) -> str:
        for base in (self.root, *self.layers):
            if fname.startswith(str(base) + os.sep):
                prefix = "" if base == self.root else "standin:"
                return f"{prefix}{os.path.relpath(fname, base)}:{line}"
        return f"{Path(fname).name}:{line}"


def qualified(decl) -> str:  # noqa: ANN001
    """`ns::Class::name` from the declaration's semantic parents (anonymous scopes dropped)."""
    parts = [decl.spelling]
    parent = decl.semantic_parent
    while parent is not None and parent.kind.name in _SCOPE_KINDS:
        if parent.spelling and not parent.spelling.startswith("(anonymous"):
            parts.append(parent.spelling)
        parent = parent.semantic_parent
    return "::".join(reversed(parts))


def reference(root: Path, folders: tuple[str, ...], all_units: bool = False,
              use_cache: bool = True, progress=None) -> tuple[list[RefSite], dict]:  # noqa: ANN001
    """Reference sites of the selected folders, cached per translation unit (calls_cache)."""
    import clang.cindex as ci
    dirs, digest = layout(root)
    version = f"rules={RULES};libclang={ci.conf.get_filename()};res={resource_include()};layers={digest}"
    key = tree_key(root, ("src",), version + f";py={sys.version_info[:2]}")
    cache = UnitCache("ksanallm", key, use_cache)
    ref: CppReference | None = None
    seen: dict[tuple[str, int, int, str], RefSite] = {}
    meta: dict = {"units": {}, "cache": str(cache.dir)}
    for rel in units(root, folders, all_units):
        hit = cache.get(rel)
        if hit is None:
            ref = ref or CppReference(root, folders, dirs)
            if progress:
                progress(f"clang: parsing {rel}")
            found, unit_meta = ref.unit_sites(rel)
            cache.put(rel, found, unit_meta)
        else:
            found, unit_meta = hit
        meta["units"][rel] = unit_meta.get("errors", 0)
        for s in found:  # a header's calls are seen by every unit that includes it
            key_ = (s.path, s.line, s.col, s.name)
            if key_ not in seen or seen[key_].kind == "unknown" != s.kind:
                seen[key_] = s  # a unit that resolves the call beats one that could not
    return list(seen.values()), meta
