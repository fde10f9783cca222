"""What the two upstream builds share: stand-in and package files, and copying declarations out of
a checkout's headers.

`build.py` (the cache manager, and the driver of both builds) and `sched_build.py` (the
scheduler) both import this module; it imports neither, so the package has no import cycle.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

PKG = "codewalk.upstream"
# The API variants' macros, generated into each build's include directory (api.api_header).
API_HEADER = "codewalk_generated/api.h"

# Stand-ins shipped as package data: file -> the header it shadows (under the include dir).
# The scheduler build layers its own stand-ins over these (sched_build.layers).
STANDINS = {**{name: f"ksana_llm/utils/{name}" for name in
               ("logger.h", "device_types.h", "device_utils.h", "context.h", "environment.h", "request.h")},
            "logger_base.h": "codewalk_standin/logger_base.h"}
# Stand-ins of the cache build only: the scheduler build compiles the real utils/request.cpp.
CACHE_ONLY = ("request.h",)
# The helpers both bindings include, as `codewalk/binding_common.h`.
BINDING_COMMON = ("binding_common.h", "codewalk/binding_common.h")


class BuildError(RuntimeError):
    """Why the real engine cannot be built; the message says what to do."""


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def extract_decl(text: str, kind: str, name: str) -> str | None:
    """`struct NAME {...};` or `enum [class] NAME {...};` (comments removed), by brace matching."""
    clean = _strip_comments(text)
    extra = r"(?:\s+class)?" if kind == "enum" else ""
    m = re.search(rf"\b{kind}{extra}\s+{re.escape(name)}\s*(?::[^{{;]*)?\{{", clean)
    if not m:
        return None
    depth, i = 0, m.end() - 1
    while i < len(clean):
        depth += (clean[i] == "{") - (clean[i] == "}")
        if depth == 0:
            end = clean.find(";", i)
            return clean[m.start():end + 1] if end != -1 else None
        i += 1
    return None


def extract_struct(text: str, name: str) -> str | None:
    """The text of `struct NAME { ... };` (comments removed), by brace matching."""
    return extract_decl(text, "struct", name)


def package_file(name: str) -> str:
    """The text of a file shipped in this package (a binding, binding_common.h)."""
    return resources.files(PKG).joinpath(name).read_text(encoding="utf-8")


def _standin(name: str) -> str:
    return resources.files(PKG).joinpath("standins", name).read_text(encoding="utf-8")


def standin_files(names: Any = None) -> dict[str, str]:
    """Include-dir relative path -> text of the cache build's stand-ins (all, or those in `names`)."""
    return {rel: _standin(name) for name, rel in STANDINS.items() if names is None or name in names}


def binding_common() -> dict[str, str]:
    """`codewalk/binding_common.h` (include-dir relative) -> its text."""
    name, rel = BINDING_COMMON
    return {rel: package_file(name)}
