"""The shape of qa/: what the index store may import, and no import cycle among the modules.

The imports are read from the source with `ast` (nothing is imported), so a lazy import inside a
function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

QA = Path(__file__).resolve().parent.parent / "qa"

# What the store (qa/store/) stands on: the settings, the errors, the records it stores, file
# hashes and the words BM25 indexes. Nothing that reads files, embeds, retrieves or answers.
STORE_FLOOR = {"qa", "qa.config", "qa.errors", "qa.documents", "qa.checksums", "qa.terms"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(QA.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(QA.rglob("*.py"))}


def _target(name: str, imported: str | None = None) -> str | None:
    """The qa module that `from name import imported` (or `import name`) loads, if any."""
    if name != "qa" and not name.startswith("qa."):
        return None
    if imported and f"{name}.{imported}" in MODULES:
        return f"{name}.{imported}"
    return name


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name | ast.Attribute) and ast.unparse(node.test).endswith("TYPE_CHECKING")


def _imports(node: ast.AST) -> set[str]:
    """The qa modules one import statement loads."""
    if isinstance(node, ast.Import):
        return {t for alias in node.names if (t := _target(alias.name))}
    if isinstance(node, ast.ImportFrom):
        assert node.level == 0, "qa uses absolute imports"
        return {t for alias in node.names if (t := _target(node.module or "", alias.name))}
    return set()


def all_imports(module: str, type_checking: bool = True) -> set[str]:
    """Every qa module `module` imports anywhere: at the top or inside a function, and with
    `type_checking` also under `if TYPE_CHECKING:` (imports that never run)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    never_run = set() if type_checking else {
        id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node) for n in ast.walk(node)
    }
    return {t for node in ast.walk(tree) if id(node) not in never_run for t in _imports(node)} - {module}


def test_the_store_imports_only_its_floor_and_itself():
    """qa/store/ reads and writes the index: it may not reach up into ingest, embedding,
    retrieval or answering (qa.ingest.chunk, qa.model.embed, qa.ingest.read, qa.stories ...), not even lazily."""
    store = [m for m in MODULES if m.startswith("qa.store")]
    assert "qa.store.writer" in store and "qa.store.update" in store
    upward = {m: sorted(t for t in all_imports(m) if t not in STORE_FLOOR and not t.startswith("qa.store"))
              for m in store}
    assert {m: t for m, t in upward.items() if t} == {}


def test_the_store_floor_stands_on_nothing_above_it():
    """The modules the store may import import only each other, so the rule holds all the way down."""
    above = {m: sorted(all_imports(m) - STORE_FLOOR) for m in STORE_FLOOR}
    assert {m: t for m, t in above.items() if t} == {}


def test_dates_is_pure():
    """qa/dates.py (parsing dates, date ranges, "latest" questions) knows nothing of the index,
    retrieval or stories: the reader, the sources and the CLI use it without loading them."""
    assert all_imports("qa.dates") <= STORE_FLOOR


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_qa_modules():
    """No qa module needs, at import or when a function of it runs, a module that (indirectly)
    needs it back (imports under TYPE_CHECKING never run and do not count)."""
    graph = {m: all_imports(m, type_checking=False) - {"qa"} for m in MODULES}
    assert graph["qa.news_retrieval"] >= {"qa.dates", "qa.stories", "qa.store.index"}  # the reader sees imports
    assert _cycles(graph) == []
