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

    `kind` says how the callee was named: 'plain' f(), 'this' this->f(), 'member' x.f()/x->f()
    with `receiver` = x, 'qualified' A::f() with `qualifier` = A, 'self' self.f(),
    'self_attr' self.a.f() with receiver a, 'super' super().f(), 'attr' mod.f() with receiver mod,
    'new' `new X(...)` / `std::make_shared<X>(...)` / `std::make_unique<X>(...)` with name X and
    qualifier X as written. A C++ 'member' call on a local or parameter carries the local's
    type info as qualifier: its type as written, `elem:a.b` (element of the container reached
    through member fields a.b) or '?' (a local of unknown type: never a same-named field).
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
