"""No module imports a higher layer: the math does not reach for the machinery's callers, the
machinery not for the model (imports inside functions count too)."""

import ast
import pathlib

import pytest

import zoo

pytestmark = pytest.mark.once  # source files, read as text

ROOT = pathlib.Path(zoo.__file__).resolve().parents[1]
#: Lowest first; a module may import its own layer and those below.
LAYERS = [
    {"losses"},
    {"zoo.training"},
    {"zoo.posteriors", "zoo.priors", "zoo.heads", "zoo.bounds", "zoo.arguments", "zoo.protocols",
     "zoo.saving", "zoo.datasets", "zoo.plots"},
    {"zoo.vae"},
    {"zoo.models"},
    {"zoo.evaluation", "zoo.presets", "zoo.factory", "zoo.trained", "zoo.evaluate", "zoo"},
]


def layer_of(module):
    for depth, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names if name != "zoo"):
            return depth
    return len(LAYERS) - 1 if module == "zoo" else None


def imported(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "zoo":  # from zoo import bounds: the submodules named
                yield from (f"zoo.{alias.name}" for alias in node.names)
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_no_module_imports_a_higher_layer():
    problems = []
    for package in ("losses", "zoo"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            own = layer_of(module)
            assert own is not None, f"{module} is in no layer: add it to LAYERS"
            for name in imported(path):
                other = layer_of(name)
                if other is not None and other > own and not (module == "zoo" or name == module):
                    problems.append(f"{module} (layer {own}) imports {name} (layer {other})")
    assert not problems, "\n".join(problems)


def test_the_check_can_fail():
    assert layer_of("zoo.training.fitting") < layer_of("zoo.vae") < layer_of("zoo.models.mlp")
