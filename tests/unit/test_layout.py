"""The package's layout: tier folders whose imports point only downwards, no cycle, and the README's tree.

The tiers, from the ground up: ``errors`` and ``files``; ``data`` (real text and facts); ``core`` (config, world,
model, training, metrics); ``store`` (the run store, grids, sweeps); ``pretrained`` (real models); ``claims``
(rules and verdicts: tables in, verdicts out); ``analysis`` (what the chapters compute); ``render`` (the book);
``cli``. A module may import its own tier and those below it, never one above: so ``claims`` imports no
analysis, and nothing but the command line imports the command line. Every import counts, those inside
functions too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "crosslingual"
TIERS = ("errors", "files", "data", "core", "store", "pretrained", "claims", "analysis", "render", "cli")
RANK = {"errors": 0, "files": 0, **{tier: i for i, tier in enumerate(TIERS[2:], start=1)}}
MAX_LEVELS = 10  # of the tier graph; the module graph's depth is printed by ``python tests/unit/test_layout.py``


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name (without ``crosslingual.``) -> file; a package is its ``__init__``."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (at any depth of its code; ``from x import y`` counts ``x.y``
    when ``y`` is a module, else ``x``)."""
    known = modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        deps = set()
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1] if node.level > 1 else base
                    module = "crosslingual." + ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                rel = module.removeprefix("crosslingual").lstrip(".")
                targets = [f"{module}.{a.name}" if f"{rel}.{a.name}".lstrip(".") in known else module
                           for a in node.names]
            else:
                continue
            for target in targets:
                if target == "crosslingual" or target.startswith("crosslingual."):
                    dep = _resolve(target.removeprefix("crosslingual").lstrip("."), known)
                    if dep is not None and dep != name:
                        deps.add(dep)
        graph[name] = deps
    return graph


def tier(module: str) -> str:
    return module.split(".")[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
            visit(v)
    return found


def levels(graph: dict[str, set[str]]) -> dict[str, int]:
    """Level 1 imports nothing of the package; every other node stands one above the highest it imports."""
    out: dict[str, int] = {}

    def level(v: str) -> int:
        if v not in out:
            out[v] = 0  # a cycle would recurse forever; cycles() is checked first
            out[v] = 1 + max((level(w) for w in graph[v]), default=0)
        return out[v]

    for v in graph:
        level(v)
    return out


def tier_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for v, deps in graph.items():
        if v:  # the package's face (crosslingual/__init__.py) re-exports; it is no tier
            out.setdefault(tier(v), set()).update(tier(w) for w in deps if tier(w) != tier(v))
    return out


def test_every_module_is_in_a_tier():
    strays = [m for m in modules() if m and tier(m) not in RANK]
    assert not strays, f"modules outside the tier folders: {strays}"


def test_imports_point_only_downwards():
    upward = sorted(f"{v} -> {w}" for v, deps in imports().items() if v
                    for w in deps if RANK[tier(w)] > RANK[tier(v)])
    assert not upward, "imports of a higher tier:\n" + "\n".join(upward)


def test_no_module_imports_itself_round_a_circle():
    assert cycles(imports()) == []


def test_the_tier_graph_has_at_most_ten_levels():
    assert max(levels(tier_graph(imports())).values()) <= MAX_LEVELS


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path):
    """The checks above can fail: a two-module circle and a claims module importing an analysis one."""
    package = tmp_path / "crosslingual"
    for folder in ("claims", "analysis"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "claims" / "a.py").write_text("from crosslingual.analysis import b\n")
    (package / "analysis" / "b.py").write_text("def f():\n    from crosslingual.claims.a import x\n")
    graph = imports(package)
    assert graph["claims.a"] == {"analysis.b"} and graph["analysis.b"] == {"claims.a"}
    assert cycles(graph) == [["analysis.b", "claims.a"]]
    assert RANK[tier("analysis.b")] > RANK[tier("claims.a")]


def _readme_tree() -> list[str]:
    """The folders the README's layout tree names under ``src/crosslingual/``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("src/crosslingual/\n"):]
    block = block[: block.index("```")]
    return re.findall(r"^  ([a-z_]+)/", block, flags=re.M)


def test_the_readme_tree_is_the_layout_on_disk():
    named = set(_readme_tree())
    on_disk = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert named == on_disk


@pytest.mark.parametrize("module", ["claims.rosetta", "claims.hyperpolyglot", "claims.linguistic_regions"])
def test_claims_take_tables_and_import_no_analysis(module):
    assert not {w for w in imports()[module] if tier(w) == "analysis"}


if __name__ == "__main__":  # the figures the layout's issue asks for: levels, imports, largest module
    graph = imports()
    module_levels = levels(graph)
    largest = max(modules().items(), key=lambda kv: len(kv[1].read_text().splitlines()))
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, cycles: {len(cycles(graph))}, "
          f"module levels: {max(module_levels.values())}, tier levels: {max(levels(tier_graph(graph)).values())}, "
          f"largest module: {largest[0]} ({len(largest[1].read_text().splitlines())} lines)")
    for v in sorted(module_levels, key=lambda v: (-module_levels[v], v)):
        print(f"  {module_levels[v]:2d}  {v or 'crosslingual'}")
