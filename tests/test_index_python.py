"""Python extraction and resolution on tests/fixtures/python."""

from __future__ import annotations

import shutil
from pathlib import Path

from codewalk.index import store
from codewalk.index.build import index_repo
from codewalk.query.lookup import Index
from codewalk.query.resolve import Resolver


def _index(root: Path) -> Index:
    index_repo(root)
    return Index(store.connect(store.db_path(root), readonly=True), root)


def test_module_names_and_kinds(repo: Path) -> None:
    ix = _index(repo / "python")
    (e,) = ix.find("toyllm.core.scheduler.Scheduler.schedule")
    assert e.kind == "method" and e.definitions[0]["line"] == 19
    assert ix.find("Scheduler.schedule")[0].qname == e.qname
    assert ix.find("toyllm.core.kv_cache")[0].kind == "module"


def test_self_attribute_and_import_resolution(repo: Path) -> None:
    ix = _index(repo / "python")
    r = Resolver(ix)
    (e,) = ix.find("Scheduler.schedule")
    exact = {t["qname"] for c in r.callees(e) if not c.heuristic for t in c.targets}
    assert {"toyllm.core.kv_cache.KVCacheManager.get_computed_blocks",
            "toyllm.core.kv_cache.KVCacheManager.allocate_slots",
            "toyllm.core.scheduler.SchedulerBase.step",
            "toyllm.core.scheduler.helper",
            "toyllm.core.kv_cache.KVCacheManager.__init__"} <= exact


def test_callers_and_inheritance(repo: Path) -> None:
    ix = _index(repo / "python")
    r = Resolver(ix)
    (e,) = ix.find("KVCacheManager.get_computed_blocks")
    assert [c.caller["qname"] for c in r.callers(e)] == ["toyllm.core.scheduler.Scheduler.schedule"]
    assert r.chain("toyllm.core.scheduler.Scheduler")[1] == "toyllm.core.scheduler.SchedulerBase"
    (init,) = ix.find("KVCacheManager.__init__")
    assert {c.caller["qname"] for c in r.callers(init)} == {
        "toyllm.core.scheduler.Scheduler.__init__", "toyllm.core.scheduler.Scheduler.schedule"}


def _resolve_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "resolve"
    shutil.copytree(Path(__file__).parent / "fixtures" / "resolve" / "python", root)
    return root


def _exact_callees(ix: Index, name: str) -> dict[int, set[str]]:
    """line -> exact targets (heuristic edges left out)."""
    r = Resolver(ix)
    (e,) = ix.find(name)
    out: dict[int, set[str]] = {}
    for edge in r.callees(e):
        if not edge.heuristic:
            out.setdefault(edge.line, set()).update(t["qname"] for t in edge.targets)
    return out


def test_attribute_typed_by_annotated_parameter(tmp_path: Path) -> None:
    ix = _index(_resolve_fixture(tmp_path))
    got = _exact_callees(ix, "pool.manager.Manager.add")
    assert got == {
        20: {"pool.block_pool.BlockPool.touch"},  # self.block_pool = block_pool: BlockPool
        21: {"pool.block_pool.EventPool.drain"},  # Optional[EventPool] parameter
        22: {"pool.block_pool.BlockPool.free"},  # ... through EventPool's base
        23: {"pool.block_pool.Other.touch"},  # "Other | None" parameter
        24: {"pool.block_pool.EventPool.drain"},  # self.later: EventPool | None = None
        25: {"pool.block_pool.EventPool.drain"},  # class-level `events: "EventPool"`
    }
    (touch,) = ix.find("BlockPool.touch")
    assert [(c.caller["qname"], c.heuristic) for c in Resolver(ix).callers(touch)] == [
        ("pool.manager.Manager.add", False), ("pool.manager.Switching.use", True)]


def test_conflicting_assignments_leave_attribute_untyped(tmp_path: Path) -> None:
    ix = _index(_resolve_fixture(tmp_path))
    # BlockPool() in one branch, Other() in the other: no exact guess at either
    assert _exact_callees(ix, "pool.manager.Switching.use") == {}
    # an untyped re-assignment (`make()`) does not hide the base class's annotation
    assert _exact_callees(ix, "pool.manager.Derived.use") == {
        48: {"pool.block_pool.BlockPool.free"}}


def _pyresolve(tmp_path: Path) -> Index:
    root = tmp_path / "pyresolve"
    shutil.copytree(Path(__file__).parent / "fixtures" / "pyresolve", root)
    return _index(root)


def _edges(ix: Index, name: str) -> dict[tuple[int, str], tuple[str, str, set[str]]]:
    """(line, callee name) -> (resolution, kind or external library, target qnames)."""
    r = Resolver(ix)
    (e,) = ix.find(name)
    return {(edge.line, edge.name): (edge.resolution, edge.external or edge.kind,
                                     {t["qname"] for t in edge.targets})
            for edge in r.callees(e)}


M = "shop.models."


def test_types_through_expressions(tmp_path: Path) -> None:
    got = _edges(_pyresolve(tmp_path), "shop.use.Runner.run")
    exact = {k: v[2] for k, v in got.items() if v[0] == "exact"}
    assert exact[(30, "price")] == {M + "Item.price"}  # x = mk(); mk() -> Item
    assert exact[(31, "clone")] == {M + "Item.clone"}  # mk().clone()
    assert exact[(31, "price")] == {M + "Item.price"}  # ... .clone() -> "Item"
    assert exact[(32, "price")] == {M + "Item.price"}  # self.made = mk() in __init__
    assert exact[(34, "price")] == {M + "Item.price"}  # for it in box.items: list[Item]
    assert exact[(36, "clone")] == {M + "Item.clone"}  # for i, it2 in enumerate(...)
    assert exact[(37, "price")] == {M + "Item.price"}  # maybe: Item | None
    assert exact[(39, "Item")] == {M + "Item"}  # shop.Item: re-exported by shop/__init__
    assert exact[(39, "price")] == {M + "Item.price"}
    assert exact[(47, "price")] == {M + "Special.price"}  # y: Special = ...
    assert exact[(48, "price")] == {M + "Item.price"}  # comprehension over deque[Item]
    assert exact[(50, "clone")] == {M + "Item.clone"}  # with Lease() as lease: __enter__
    assert exact[(54, "price")] == {M + "Item.price"}  # dict[str, Item].get(...)
    assert exact[(56, "clone")] == {M + "Item.clone"}  # for item in self.box: __iter__
    assert exact[(57, "price")] == {M + "Item.price"}  # attribute from Optional parameter
    assert exact[(60, "clone")] == {M + "Item.clone"}  # z = Special(): inherited method
    assert exact[(62, "price")] == {M + "Item.price"}  # self.running: list[Item] = []
    assert exact[(64, "price")] == {M + "Item.price"}  # sorted(list[Item])[0]


def test_annotated_module_variable(tmp_path: Path) -> None:
    got = _edges(_pyresolve(tmp_path), "shop.use.from_module_variable")
    assert got[(74, "pick")] == ("exact", "project", {M + "Box.pick"})


def test_overload_stubs_give_the_implementation(tmp_path: Path) -> None:
    ix = _pyresolve(tmp_path)
    resolution, _, targets = _edges(ix, "shop.use.Runner.run")[(38, "pick")]
    assert resolution == "exact" and targets == {M + "Box.pick"}
    (edge,) = [e for e in Resolver(ix).callees(ix.find("shop.use.Runner.run")[0])
               if e.name == "pick"]
    assert [t["line"] for t in edge.targets] == [43]  # the implementation, not the stubs (38, 41)


def test_plain_call_never_reaches_a_method(tmp_path: Path) -> None:
    # Runner has a method get_model; a plain get_model() is the module function
    got = _edges(_pyresolve(tmp_path), "shop.use.Runner.run")
    assert got[(40, "get_model")] == ("exact", "project", {"shop.use.get_model"})


def test_library_boundary(tmp_path: Path) -> None:
    got = _edges(_pyresolve(tmp_path), "shop.use.Runner.run")
    assert got[(41, "len")] == ("unresolved", "builtins.len", set())
    assert got[(63, "any")] == ("exact", "project", {"shop.use.any"})  # shadowed builtin
    assert got[(63, "price")] == ("exact", "project", {M + "Item.price"})
    assert got[(42, "append")] == ("unresolved", "list.append", set())  # list[Item] receiver
    assert got[(43, "zeros")] == ("unresolved", "torch.zeros", set())  # third-party module
    assert got[(43, "sum")][:2] == ("unresolved", "torch.zeros().sum")  # ... and its values
    assert got[(44, "deque")] == ("unresolved", "collections.deque", set())
    assert got[(45, "append")] == ("unresolved", "deque.append", set())
    assert got[(53, "info")] == ("unresolved", "logging.getLogger().info", set())  # logger
    # unknown receiver: no guess for a name builtin containers have, a guess otherwise
    assert got[(51, "append")] == ("unresolved", "project", set())
    assert got[(52, "price")] == ("heuristic", "project", {M + "Item.price", M + "Special.price"})
    # known project type without the member: no guess that would contradict it
    assert got[(58, "missing")] == ("unresolved", "project", set())


def test_callee_rendered_with_locals(tmp_path: Path) -> None:
    """The extractor's qualifier: locals replaced by what they hold (python_locals)."""
    ix = _pyresolve(tmp_path)
    rows = ix.conn.execute("SELECT c.line, c.name, c.qualifier FROM calls c JOIN files f "
                           "ON f.id = c.file_id WHERE f.path = 'shop/use.py'").fetchall()
    got = {(line, name): q for line, name, q in rows}
    assert got[(30, "price")] == "mk().price"
    assert got[(36, "clone")] == "_elem_(enumerate(_ann_(Box).items))[1].clone"
    assert got[(48, "price")] == "_elem_(_ann_(Box).queue).price"
    assert got[(50, "clone")] == "_enter_(Lease()).clone"
    assert got[(52, "price")] == "_unk_().price"  # unannotated parameter
    assert got[(32, "price")] == ""  # self.made.price: nothing local, rebuilt from kind


def test_cycles_and_odd_shapes_resolve_without_error(tmp_path: Path) -> None:
    ix = _pyresolve(tmp_path)
    r = Resolver(ix)
    edges = [edge for name in ("Loop.again", "Node.__init__", "Node.follow", "hostile.chain")
             for edge in r.callees(ix.find(name)[0])]
    assert len(edges) == 12
    got = {(e.line, e.name): (e.resolution, {t["qname"] for t in e.targets}) for e in edges}
    assert got[(6, "again")] == ("exact", {"shop.hostile.Loop.again"})
    # self.next is assigned from itself: its type is unknown, so only a guess remains
    assert got[(11, "follow")] == ("heuristic", {"shop.hostile.Node.follow"})
    assert got[(24, "pop")] == ("unresolved", set())  # starred target, a builtin name


def test_super_follows_the_mro(tmp_path: Path) -> None:
    ix = _pyresolve(tmp_path)
    # D(B, C), B(A), C(X): MRO D, B, A, C, X; breadth-first order would give C.hello
    assert _edges(ix, "shop.mro.D.hello")[(25, "hello")] == ("exact", "project",
                                                          {"shop.mro.A.hello"})
    assert _edges(ix, "shop.mro.D.greet")[(28, "hello")][2] == {"shop.mro.D.hello"}


def test_annotations_evaluate() -> None:
    """Annotation forms, evaluated without an index (library names only)."""
    from codewalk.query.resolve.python_types import Evaluator, Val, parse

    class Rules:  # the lookups Evaluator needs, for a project with no Python symbols
        s = None

        def global_name(self, ident: str, file_id: int, scope: str) -> str | None:
            return {"Optional": "typing.Optional", "Union": "typing.Union",
                    "Tensor": "torch.Tensor", "deque": "collections.deque"}.get(ident)

        def kinds(self, qname: str) -> frozenset[str]:
            return frozenset()

        def reexport(self, module: str, name: str) -> None:
            return None

        def in_project(self, qname: str) -> bool:
            return False

    ev = Evaluator(Rules())
    tensor = Val("ext", "torch.Tensor")

    def ann(text: str) -> Val | None:
        return ev.annotation(parse(text), (0, "", ""))

    assert ann("Tensor") == ann("Optional[Tensor]") == ann("Tensor | None") == tensor
    assert ann("'Tensor'") == ann("Union[None, Tensor]") == ann('"Tensor | None"') == tensor
    assert ann("list[Tensor]") == Val("seq", "list", (tensor,))
    assert ann("deque[Tensor]") == Val("seq", "deque", (tensor,))
    assert ann("dict[str, Tensor]") == Val("map", "dict", (Val("ext", "builtins.str"), tensor))
    assert ann("tuple[Tensor, int]").args[0] == tensor
    assert ann("Tensor | int") == Val("union", "", (Val("ext", "builtins.int"), tensor))
    assert ann("Tensor | list[int]") is None  # a class or a container: nothing to say
    assert ann("Optional[Tensor]]") is None  # not an expression
