"""check_parameters: a misspelled, mistyped or non-finite notebook parameter fails in the validation cell, instead
of papermill warning on stderr and the chapter running with its default."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import pytest

from crosslingual.errors import ConfigError
from crosslingual.render.notebook import check_parameters, injected_names, set_up_chapter

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KNOWN = "this notebook's parameters are: profile, seeds, parallel_fraction, language_marker"


def _namespace(injected: str | None = None, **values) -> dict:
    """A kernel namespace as a notebook's validation cell sees it: the parameters cell declared four parameters;
    with ``injected``, papermill's cell (its source as IPython keeps it in ``In``) ran after it."""
    declared = {"profile": str, "seeds": int, "parallel_fraction": float, "language_marker": bool}
    namespace = {"__annotations__": declared, "profile": "default", "seeds": 3, "parallel_fraction": 0.6,
                 "language_marker": False}
    if injected is not None:
        namespace["In"] = ["", "# Parameters (papermill overrides these)\nprofile: str = 'default'", injected]
    namespace.update(values)
    return namespace


def test_declared_parameters_of_the_right_types_pass_unchanged():
    namespace = _namespace("# Parameters\nprofile = 'smoke'\nseeds = 2", profile="smoke", seeds=2)
    before = dict(namespace)
    check_parameters(namespace)
    assert namespace == before


def test_an_unknown_parameter_is_named_with_a_suggestion_and_the_known_ones():
    namespace = _namespace("# Parameters\nprofile = 'smoke'\nparallel_fracton = 0.5\n", parallel_fracton=0.5)
    with pytest.raises(ConfigError) as err:
        check_parameters(namespace)
    assert str(err.value) == f"unknown parameter 'parallel_fracton' (did you mean 'parallel_fraction'?); {KNOWN}"


def test_an_unknown_parameter_without_a_close_match_gets_no_suggestion():
    with pytest.raises(ConfigError) as err:
        check_parameters(_namespace("# Parameters\nzzz = 1\n", zzz=1))
    assert str(err.value) == f"unknown parameter 'zzz'; {KNOWN}"


def test_every_unknown_parameter_is_named_once_across_several_injected_cells():
    """A re-run of papermill's cell, or a second one, is in ``In`` too; both count, a name repeated is one."""
    namespace = _namespace("# Parameters\nseed = 1\n")
    namespace["In"] += ["x = 1", "# Parameters\nprofile = 'smoke'\nseed = 2\nlanguage_markr = True\n"]
    with pytest.raises(ConfigError) as err:
        check_parameters(namespace)
    message = str(err.value)
    assert message.startswith("unknown parameters 'seed' (did you mean 'seeds'?), "
                              "'language_markr' (did you mean 'language_marker'?); ")
    assert "\n" not in message


def test_only_cells_whose_first_line_is_exactly_the_papermill_header_count():
    assert injected_names(["# Parameters (papermill overrides these)\nfoo = 1", "# Parameters of the plot\nbar = 2",
                           "x = 1\n# Parameters\ny = 2", "# Parameters\nseeds = 2\nprofile = 'smoke'"]) == \
        ["seeds", "profile"]


def test_without_a_kernel_only_the_types_are_checked():
    namespace = _namespace(parallel_fracton=0.5)  # no In: nothing tells what papermill injected
    check_parameters(namespace)
    with pytest.raises(ConfigError, match=r"^seeds=2\.5 must be an integer"):
        check_parameters(_namespace(seeds=2.5))


@pytest.mark.parametrize("name, value, message", [
    ("seeds", 2.5, "seeds=2.5 must be an integer, not float"),
    ("seeds", True, "seeds=True must be an integer, not bool"),
    ("seeds", "3", "seeds='3' must be an integer, not str"),
    ("parallel_fraction", "0.5", "parallel_fraction='0.5' must be a number, not str"),
    ("parallel_fraction", True, "parallel_fraction=True must be a number, not bool"),
    ("parallel_fraction", math.nan, "parallel_fraction=nan must be a finite number"),
    ("parallel_fraction", math.inf, "parallel_fraction=inf must be a finite number"),
    ("parallel_fraction", -math.inf, "parallel_fraction=-inf must be a finite number"),
    ("language_marker", 1, "language_marker=1 must be True or False (with papermill: -p language_marker True)"),
    ("language_marker", "True", "language_marker='True' must be True or False"),
    ("profile", 1, "profile=1 must be a string; papermill's -p read it as int: pass -r profile 1 for the string"),
    ("profile", None, "profile=None must be a string; papermill's -p read it as NoneType: pass -r profile None"),
    ("profile", ["smoke"], "profile=['smoke'] must be a string"),
])
def test_a_value_of_the_wrong_type_is_named_with_what_is_allowed(name, value, message):
    with pytest.raises(ConfigError) as err:
        check_parameters(_namespace(f"# Parameters\n{name} = {value!r}\n", **{name: value}))
    assert str(err.value).startswith(message)
    if isinstance(value, list):
        assert str(err.value) == message  # -r cannot pass a list: no hint


def test_an_int_given_to_a_float_parameter_becomes_a_float():
    namespace = _namespace("# Parameters\nparallel_fraction = 1\n", parallel_fraction=1)
    check_parameters(namespace)
    assert namespace["parallel_fraction"] == 1.0 and type(namespace["parallel_fraction"]) is float


def test_a_type_the_check_cannot_enforce_is_the_notebook_authors_error():
    namespace = {"__annotations__": {"languages": list}, "languages": ["en"]}
    with pytest.raises(TypeError, match="parameter languages is annotated <class 'list'>"):
        check_parameters(namespace)


def _cells(path: Path) -> tuple[dict, dict]:
    """The notebook's ``parameters`` cell and its validation cell, the first code cell after it."""
    cells = json.loads(path.read_text())["cells"]
    index = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    return cells[index], next(c for c in cells[index + 1:] if c["cell_type"] == "code")


def _set_up_call(path: Path) -> tuple[ast.Call, list[ast.stmt]]:
    """The first statement of the notebook's validation cell after its imports, as a call, and those imports."""
    source = "".join(_cells(path)[1]["source"])
    body = ast.parse("\n".join("" if line.startswith("%") else line for line in source.splitlines())).body
    index = next(i for i, node in enumerate(body) if not isinstance(node, (ast.Import, ast.ImportFrom)))
    first = body[index]
    assert isinstance(first, (ast.Assign, ast.Expr)) and isinstance(first.value, ast.Call), \
        f"{path.name}: first statement {ast.unparse(first)}"
    return first.value, body[:index]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_validation_cell_sets_the_chapter_up_before_anything_else(path):
    """``set_up_chapter(globals())`` runs ``check_parameters`` and the shared ranges before any other statement."""
    call, imports = _set_up_call(path)
    assert (ast.unparse(call.func), [ast.unparse(a) for a in call.args]) == ("set_up_chapter", ["globals()"]), \
        f"{path.name}: first statement {ast.unparse(call)}"
    assert any(isinstance(node, ast.ImportFrom) and node.module == "crosslingual.render.notebook"
               and "set_up_chapter" in [a.name for a in node.names] for node in imports)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebooks_defaults_pass_its_own_check(path):
    """The parameters cell's defaults pass the names-and-types check and the ranges of the notebook's own set-up
    call (its ``min_seeds`` included)."""
    namespace: dict = {}
    # dont_inherit: this module's ``from __future__ import annotations`` would turn the types into strings
    exec(compile("".join(_cells(path)[0]["source"]), path.name, "exec", dont_inherit=True), namespace)
    check_parameters(namespace)
    call, _ = _set_up_call(path)
    set_up_chapter(namespace, **{k.arg: ast.literal_eval(k.value) for k in call.keywords})


@pytest.mark.slow
@pytest.mark.parametrize("bad, message", [
    ({"parallel_fracton": 0.5}, "unknown parameter 'parallel_fracton' (did you mean 'parallel_fraction'?); "
                                "this notebook's parameters are: profile, seed, n_languages, parallel_fraction"),
    ({"parallel_fraction": float("nan")}, "parallel_fraction=nan must be a finite number"),
], ids=["misspelled", "nan"])
def test_papermill_fails_in_the_validation_cell(bad, message, tmp_path, store):
    """Run as ``crosslingual.render.build`` runs a chapter; chapter 1 trains nothing, so only the check can fail."""
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match=re.escape(message)) as err:
        papermill.execute_notebook(str(ROOT / "notebooks" / "01_world.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"profile": "smoke", **bad}, kernel_name="python3",
                                   progress_bar=False, cwd=str(ROOT))
    assert err.value.ename == "ConfigError"
    assert err.value.exec_count <= 3  # the parameters cell, papermill's, then the validation cell
