"""Who may import whom. The harness is a stack of layers; a module imports its own package and the layers below
it, never a layer above and never a sibling in its own layer. `methods/` and `models/` use only the base layer of
`benchmark/` (`benchmark.core`), so a method can be read, tested and added without the sweep machinery. The graph
is read from the source (every import statement, lazy ones inside functions included), so a new import that
breaks the order fails here, naming the file and the line.

`python tests/test_layers.py [--root DIR]` prints the structure: modules per package, imports between packages,
import circles and the layer table (`--root` reads another checkout, e.g. an older commit's worktree)."""
from __future__ import annotations

import argparse
import ast
import collections
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("benchmark", "methods", "models")

# Top to bottom. A package is a folder; `benchmark` alone is its face: __init__, __main__ and cli.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("face", ("benchmark",)),
    ("commands", ("benchmark.commands",)),
    ("measurement", ("benchmark.costs",)),
    ("sweep engine and its plan", ("benchmark.execution", "benchmark.planning")),
    ("outputs: reports and teacher checkpoints", ("benchmark.reporting", "benchmark.checkpoints")),
    ("claims", ("benchmark.stats",)),
    ("configuration", ("benchmark.config",)),
    ("methods", ("methods",)),
    ("models and data", ("models", "benchmark.data")),
    ("store: records and files on disk", ("benchmark.store",)),
    ("base", ("benchmark.core",)),
)
# What methods/ and models/ may use of benchmark/: the base layer and nothing else.
BASE = "benchmark.core"
USES_ONLY_THE_BASE = ("methods", "models")


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (the longest project module the statement names)
    line: int
    file: str


def project_modules(root: Path) -> dict[str, Path]:
    modules = {}
    for top in PACKAGES:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def package_of(module: str, modules: dict[str, Path]) -> str:
    """The folder a module lives in (a package's __init__ belongs to the package itself)."""
    return module if modules[module].name == "__init__.py" else module.rpartition(".")[0]


def read_imports(root: Path) -> tuple[dict[str, Path], list[Import]]:
    modules = project_modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found = []
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                names = [f"{origin}.{alias.name}" for alias in node.names] + [origin]
            else:
                continue
            targets = {resolve(n) for n in names if n.split(".")[0] in PACKAGES}
            # `from pkg import submodule` names the submodule; the package itself is then not an extra edge
            if len(targets) > 1 and isinstance(node, ast.ImportFrom):
                targets.discard(resolve(origin))
            for target in targets - {None, module}:
                found.append(Import(module, target, node.lineno, str(path.relative_to(root))))
    return modules, found


def layer_of(package: str) -> int:
    for rank, (_, packages) in enumerate(LAYERS):
        for top in packages:
            if package == top or (top != "benchmark" and package.startswith(top + ".")):
                return rank
    raise KeyError(package)


def same_family(a: str, b: str) -> bool:
    """Within one package tree (methods and methods.inversion; a package and its own subfolders)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def violations(modules: dict[str, Path], imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        src, dst = package_of(imp.source, modules), package_of(imp.target, modules)
        where = f"{imp.file}:{imp.line}: {imp.source} imports {imp.target}"
        if src.split(".")[0] in USES_ONLY_THE_BASE and dst.startswith("benchmark") and not same_family(dst, BASE):
            out.append(f"{where}: {src.split('.')[0]}/ may use only {BASE} of benchmark/")
            continue
        if same_family(src, dst) and not (src == "benchmark" or dst == "benchmark"):
            continue
        if src == dst:
            continue
        up, down = layer_of(src), layer_of(dst)
        if down < up:
            out.append(f"{where}: an arrow back up (layer '{LAYERS[up][0]}' -> '{LAYERS[down][0]}')")
        elif down == up:
            out.append(f"{where}: siblings in layer '{LAYERS[up][0]}' do not import each other")
    return out


def circles(modules: dict[str, Path], imports: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = collections.defaultdict(set)
    for imp in imports:
        graph[imp.source].add(imp.target)
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def test_every_package_has_a_layer():
    modules, _ = read_imports(ROOT)
    packages = {package_of(m, modules) for m in modules}
    assert not [p for p in packages if not _has_layer(p)]


def _has_layer(package: str) -> bool:
    try:
        layer_of(package)
    except KeyError:
        return False
    return True


def test_imports_run_down_the_layers():
    modules, imports = read_imports(ROOT)
    assert violations(modules, imports) == []


def test_no_import_circles():
    modules, imports = read_imports(ROOT)
    assert circles(modules, imports) == []


def test_few_modules_stay_flat_in_benchmark():
    """Every module of benchmark/ has a home in a subpackage but the face (at most six flat ones besides)."""
    flat = sorted(p.name for p in (ROOT / "benchmark").glob("*.py"))
    assert len(set(flat) - {"__init__.py", "__main__.py", "cli.py"}) <= 6, flat


def test_the_checker_catches_what_it_forbids(tmp_path):
    """An arrow back up, a sibling import and a method reaching past the base layer are each reported."""
    files = {
        "benchmark/__init__.py": "", "benchmark/cli.py": "from .commands import run\n",
        "benchmark/commands/__init__.py": "", "benchmark/commands/run.py": "",
        "benchmark/core/__init__.py": "", "benchmark/core/ranges.py": "from ..store import records\n",
        "benchmark/store/__init__.py": "", "benchmark/store/records.py": "",
        "benchmark/reporting/__init__.py": "", "benchmark/reporting/tables.py": "",
        "benchmark/checkpoints/__init__.py": "", "benchmark/checkpoints/io.py": "from ..reporting import tables\n",
        "benchmark/data/__init__.py": "", "benchmark/data/base.py": "",
        "methods/__init__.py": "", "methods/adi.py": "def f():\n    from benchmark.data.base import x\n",
        "models/__init__.py": "from benchmark.core import ranges\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(*read_imports(tmp_path))
    assert len(found) == 3
    assert any("benchmark/core/ranges.py:1" in v and "back up" in v for v in found)
    assert any("benchmark/checkpoints/io.py:1" in v and "siblings" in v for v in found)
    assert any("methods/adi.py:2" in v and "only benchmark.core" in v for v in found)


def describe(root: Path) -> str:
    modules, imports = read_imports(root)
    per_package = collections.Counter(package_of(m, modules) for m in modules)
    between = collections.Counter()
    for imp in imports:
        src, dst = package_of(imp.source, modules), package_of(imp.target, modules)
        if src != dst:
            between[src, dst] += 1
    lines = [f"modules: {len(modules)} in {len(per_package)} packages"]
    lines += [f"  {package}: {count}" for package, count in sorted(per_package.items())]
    lines.append(f"imports between packages: {sum(between.values())} (module to module) over {len(between)} "
                 f"package pairs")
    lines += [f"  {a} -> {b}: {n}" for (a, b), n in sorted(between.items())]
    found = circles(modules, imports)
    lines.append(f"circles: {len(found)}")
    lines += ["  " + " -> ".join(c) for c in found]
    try:
        broken = violations(modules, imports)
    except KeyError as exc:
        broken = [f"a package with no layer: {exc}"]
    lines.append(f"layer violations: {len(broken)}")
    lines += ["  " + v for v in broken]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to read (default: this one)")
    print(describe(parser.parse_args().root))
