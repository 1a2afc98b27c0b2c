"""The package's shape: subpackages by role whose imports run one way and form no cycle, no
family-specific branch outside ``families/``, modules of a readable size, no matplotlib on the
training path, no process-wide side effects."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reparam_opt.training import runtime, train

PACKAGE = Path(__file__).resolve().parents[1] / "reparam_opt"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports anywhere in it, function bodies included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` names the module; `from module import name`, the module
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                for alias in node.names
            ]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imports(path, set(files)) - {name} for name, path in files.items()}


def test_the_package_imports_form_no_cycle() -> None:
    graph = import_graph()
    assert {
        "reparam_opt.estimators",
        "reparam_opt.training",
        "reparam_opt.sweep_summary.report",
    } <= graph.keys()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(name) :] + [name]))
        if name in done:
            return
        for other in sorted(graph[name]):
            visit(other, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


#: The roles, in the one direction imports may run: a module imports only from its own role or a
#: later one (apps → training → estimators → families → objectives).
LAYERS = ("apps", "training", "estimators", "families", "objectives")


def layer(module: str) -> str:
    part = module.split(".")[1] if "." in module else ""
    return part if part in LAYERS else "apps"


def test_imports_run_one_way() -> None:
    wrong = [
        f"{name} -> {other}"
        for name, others in import_graph().items()
        for other in others
        if LAYERS.index(layer(other)) < LAYERS.index(layer(name))
    ]
    assert not wrong, wrong
    assert layer("reparam_opt.variance.study") == "apps" and layer("reparam_opt.pair_table") == "apps"


def test_the_top_level_holds_the_roles_and_the_apps() -> None:
    """At most about eight entries: the four roles and the apps, each app by its command's name."""
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name not in ("__init__.py", "__pycache__"))
    assert {"objectives", "families", "estimators", "training"} <= set(entries)
    assert len(entries) <= 8, entries


def test_no_module_is_over_about_three_hundred_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")
    }
    assert {name: size for name, size in sizes.items() if size > 300} == {}


#: What would name a family: its option (``gaussian``), its classes and its q's classes.
FAMILY_NAMES = {"gaussian", "bernoulli"}
FAMILY_TYPES = {"Family", "GaussianFamily", "BernoulliFamily", "Gaussian", "BernoulliQ"}


def family_branches(source: str) -> list[str]:
    """Where ``source`` compares a family's name or type: a comparison with a family's option or
    with a ``.family`` attribute (an objective's or a q's), a family's ``.name``, or an
    ``isinstance``/``issubclass`` against a family's class or its q's."""

    def names(node: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
            n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
        }

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                literal = isinstance(side, ast.Constant) and side.value in FAMILY_NAMES
                attribute = isinstance(side, ast.Attribute) and (
                    side.attr == "family"
                    or (side.attr == "name" and any("family" in n for n in names(side.value)))
                )
                if literal or attribute:
                    found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("isinstance", "issubclass") and names(node.args[1]) & FAMILY_TYPES:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_outside_families_branches_on_a_family() -> None:
    """A new family is a module in ``families/`` and a YAML: nothing else asks which family it has."""
    outside = [p for p in PACKAGE.rglob("*.py") if "families" not in p.relative_to(PACKAGE).parts]
    found = {str(p.relative_to(PACKAGE)): family_branches(p.read_text()) for p in outside}
    assert {name: lines for name, lines in found.items() if lines} == {}
    inside = [p for p in (PACKAGE / "families").glob("*.py") if family_branches(p.read_text())]
    assert inside, "the check finds the branches that families/ itself makes"


@pytest.mark.parametrize(
    "source",
    [
        'if cfg.family.name == "bernoulli": pass',
        'ok = objective.family != "gaussian"',
        "ok = isinstance(q, BernoulliQ)",
        "ok = run.family.name in ('gaussian',)",
        'ok = "bernoulli" == family',
    ],
)
def test_the_family_check_catches_each_kind_of_branch(source: str) -> None:
    assert family_branches(source)


def test_the_graph_sees_function_level_imports() -> None:
    """The callback imports the report inside a method; the walk must count that edge."""
    assert "reparam_opt.sweep_summary.report" in import_graph()["reparam_opt.sweep_summary.callback"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "module", ["reparam_opt.sweep_summary", "reparam_opt.training", "reparam_opt.training.config"]
)
def test_the_training_path_does_not_import_matplotlib(module: str) -> None:
    """Hydra instantiates the sweep-summary callback in single runs too; matplotlib must stay out."""
    probe = f"import sys, {module}; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_train_changes_nothing_process_wide(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads, the random state, the signal handlers and the C heap are as they were after train()."""
    calls = []
    monkeypatch.setattr(runtime, "_glibc", lambda: calls.append("mallopt") or None)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    handlers = {signum: signal.getsignal(signum) for signum in runtime.SIGNALS}
    summary = train(make_cfg("threads=1", "seed=5", "steps=3", "replicates=4"), tmp_path)
    assert summary["status"] == "completed"
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)
    assert {signum: signal.getsignal(signum) for signum in runtime.SIGNALS} == handlers
    assert calls == []  # keep_freed_memory was not called


@pytest.mark.slow
def test_importing_the_package_changes_nothing() -> None:
    probe = (
        "import torch; t = torch.get_num_threads(); "
        "import reparam_opt.training, reparam_opt.variance.study, reparam_opt.sweep_summary; "
        "from omegaconf import OmegaConf; from hydra.core.config_store import ConfigStore; "
        "print(torch.get_num_threads() == t, OmegaConf.has_resolver('fresh_dir'), "
        "'train_schema.yaml' in ConfigStore.instance().repo)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "False", "False"]
