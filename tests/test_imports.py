"""The package's import graph: no module reaches itself through imports, those inside functions included (a circle
hidden in a function import works until someone moves the import up, then fails at import time, far from the cause)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "igae"


def module_names() -> dict[str, Path]:
    """{dotted name: file} of every module of the package (a package under its own name)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """{module: the package's modules it imports, at any depth of its code}. Importing ``a.b.c`` runs ``a.b``'s
    ``__init__`` first: an edge to each enclosing package, but for the importer's own packages (Python has begun
    those before the importer, so they do not wait on it)."""
    names = module_names()
    graph = {}
    for name, path in names.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        edges = set()
        for target in targets:
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix in names and not (name == prefix or name.startswith(f"{prefix}.")):
                    edges.add(prefix)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_graph_finds_a_circle_hidden_in_a_function():
    """The check itself: a circle through a package's ``__init__`` and a function-level import is one."""
    graph = {"p": {"p.a"}, "p.a": {"q"}, "q": {"p", "p.b"}, "p.b": set()}  # q imports p.b, so runs p first
    assert circles(graph) == [["p", "p.a", "q"]]


def test_no_module_of_the_package_imports_itself_round_a_circle():
    graph = import_graph()
    assert {"igae.scenes.real_images", "igae.scenes.procedural", "igae.scenes.photos"} <= set(graph)
    assert "igae.scenes.photos" in graph["igae.scenes.procedural"]
    assert "igae.files" in graph["igae.scenes.real_images"]
    assert circles(graph) == []


@pytest.mark.parametrize("config_file", ["config.yaml", "config/paper.yaml", "config/all_methods_cpu.yaml"])
def test_what_the_workflow_reads_while_it_builds_the_dag_imports_no_torch(config_file):
    """What common.smk runs before any job (the schema, the config check, the registries, the runs and the tables'
    inputs) stays free of torch and nerfstudio, so that Snakemake plans a run without them (about 2 s saved)."""
    code = (
        "import sys, yaml; from snakemake.utils import validate; "
        "from igae.config import bench_scenes, check_config, cuda_available, table_inputs; "
        "from igae.ae.kinds.registry import AE_KINDS; from igae import layout; from igae.parity import Parity; "
        f"config = yaml.safe_load(open({config_file!r})); validate(config, 'workflow/schemas/config.schema.yaml'); "
        "check_config(config); bench_scenes(config); table_inputs(config, cuda_available('cpu')); "
        "print(sorted(m for m in ('torch', 'nerfstudio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]
