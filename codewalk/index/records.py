"""Plain records passed from parser workers to the store (picklable, no tree-sitter objects)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Kinds a call can target; everything else (classes, fields, namespaces) is a container or data.
CALLABLE_KINDS = ("function", "method", "constructor", "destructor", "operator", "macro")


@dataclass(slots=True)
class Symbol:
    """One declaration or definition site of a named entity."""

    name: str
    qname: str
    kind: str
    line: int
    end_line: int
    is_def: bool
    scope: str = ""
    signature: str = ""
    params_key: str = ""
    comment: str = ""
    start_byte: int = 0
    end_byte: int = 0
    bases: tuple[str, ...] = ()
    type_text: str = ""


@dataclass(slots=True)
class Call:
    """A call site inside the symbol at index `caller` of the same file's symbol list.

    `kind` says how the callee was named. C++: 'plain' f(), 'this' this->f(), 'qualified' A::f()
    (`qualifier` = A; std:: calls included), 'member' x.f()/x->f() with `receiver` = the object
    expression as tab-separated tokens ending in the call's own `->`/`.` (see index/cpp._expr)
    and, when its root is a local or parameter, that local's type info in `qualifier` (a type as
    written, `expr:`/`each:`/`elem:`/`iter:`/`of:`/`iterof:` forms, or '?'), 'new' `new X(...)` /
    `make_shared<X>` / `X x(a)` (name X, qualifier X as written), 'init' a constructor
    initialiser `: Base(a), m_(b)` (name as written). Python: 'plain', 'self' self.f(),
    'self_attr' self.a.f() with receiver a, 'super' super().f(), 'attr' mod.f() with receiver
    mod, 'member' anything else with the receiver text; `qualifier` holds the callee rendered
    as a type expression over locals when it is written in terms of them (see
    index/python_locals.py), else ''.
    """

    caller: int
    name: str
    kind: str
    line: int
    receiver: str = ""
    qualifier: str = ""
    nargs: int = 0


@dataclass(slots=True)
class Import:
    """`#include` (target = path as written) or Python import (target = dotted name)."""

    target: str
    line: int
    alias: str = ""


@dataclass(slots=True)
class FileResult:
    """Everything extracted from one file."""

    path: str
    language: str
    size: int
    mtime_ns: int
    digest: str
    symbols: list[Symbol] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    parse_errors: int = 0
    warning: str = ""
