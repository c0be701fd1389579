"""What a chapter page says about how it was made (render tier), and how its code is shown.

After papermill executes a chapter, :func:`annotate` rewrites the executed copy for the book: a collapsed
*provenance* box under the title (profile, every parameter with those that differ from the book's build marked,
seeds, the runs used by hash, commit, device, date, compute time), a visible banner when the page was
re-executed (``crosslingual book --chapter``) with parameters that differ from the rest of the book's build, the
parameter cells removed from the page (their facts are in the box), every code cell's source collapsed
behind a toggle (``hide-input``), so that a chapter reads like a paper, a box of what the chapter found under the
box (its verdicts, ``crosslingual.render.findings``), and each section that did not run in one admonition
(``crosslingual.render.absences``). The source notebook is not touched. A
chapter reused by a later build (``crosslingual.render.executed_cache``) keeps its page, whose box then names both the
commit it was executed at and the build's (:func:`mark_reused`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from crosslingual.errors import ConfigError
from crosslingual.files import write_atomic
from crosslingual.pretrained.hf import check_model_dir
from crosslingual.render import absences, sentences
from crosslingual.render.chapters import CHAPTERS, first_designs_asked
from crosslingual.render.cost import first_design_seconds, run_seconds
from crosslingual.render.findings import CHAPTER_BOX_ID, CHAPTER_SUMMARY_ID, chapter_findings, chapter_summary
from crosslingual.render.notebook import check_value
from crosslingual.render.scoreboard import commit_ref, repository_url
from crosslingual.store.runs import Run, machine_info

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"  # papermill's tag on the cell it inserts
PROVENANCE_TAG = "crosslingual-provenance"
BOX_ID = "crosslingual-provenance"  # the box's cell id (the banner has the same tag)
CODE_ITEM = "- **Code**: "  # the box's line that names the commit
DEFAULT_PROFILE = "default"  # the profile of the book `make book` builds
SHOWN_RUNS = 12  # run hashes listed in full in the box; the rest are counted


def declared_parameters(notebook: Path) -> dict[str, tuple[type, Any]]:
    """The notebook's parameters: name -> (declared type, default), from its ``parameters`` cell (annotated
    assignments of literals, which is what papermill and ``crosslingual.render.notebook`` expect)."""
    cells = [c for c in json.loads(notebook.read_text())["cells"]
             if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ConfigError(f"{notebook.name} needs exactly one cell tagged {PARAMETERS_TAG!r}, found {len(cells)}")
    out: dict[str, tuple[type, Any]] = {}
    for node in ast.parse("".join(cells[0]["source"])).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            kind = {"int": int, "float": float, "bool": bool, "str": str}[ast.unparse(node.annotation)]
            out[node.target.id] = (kind, ast.literal_eval(node.value))
    return out


def check_chapter_parameters(notebook: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """``parameters`` checked against the notebook's declared names and types, and a model directory
    (``hf_model``) for being one, before any work (the kernel checks them again, with the ranges); returns them
    with ints given to float parameters made floats."""
    declared = declared_parameters(notebook)
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        raise ConfigError(f"{notebook.stem} has no parameter {', '.join(map(repr, unknown))}; its parameters are: "
                          f"{', '.join(declared)}")
    checked = {name: check_value(name, value, declared[name][0]) for name, value in parameters.items()}
    if checked.get("hf_model"):  # a path: a missing model would fail only in the chapter's last cells
        check_model_dir(checked["hf_model"])
    return checked


def differences(notebook: Path, profile: str, parameters: dict[str, Any],
                built_at: str = DEFAULT_PROFILE) -> dict[str, tuple[Any, Any]]:
    """The parameters in which this execution differs from the build of the rest of the book (every chapter at
    its defaults and at ``built_at``): name -> (value, the build's value)."""
    declared = declared_parameters(notebook)
    diff = {name: (value, declared[name][1]) for name, value in parameters.items()
            if name in declared and name != "profile" and value != declared[name][1]}
    if profile != built_at:
        diff["profile"] = (profile, built_at)
    return diff


def book_profile(experiments: Path, default: str) -> str:
    """The profile the book in ``experiments`` was built at (recorded in its executed chapters by
    :func:`annotate`), or ``default`` for a book not built yet."""
    for path in sorted(experiments.glob("[0-9][0-9]_*.ipynb")):
        meta = json.loads(path.read_text()).get("metadata", {}).get("crosslingual", {})
        if "book_profile" in meta:
            return meta["book_profile"]
    return default


def commit(root: Path) -> str:
    """The checkout's short commit, with "+ uncommitted changes (diff <digest>)" when tracked files differ from
    it: the digest of the difference tells two working trees on the same commit apart, so that a page executed
    in one never names the other (:func:`mark_reused` compares them); "unknown" outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        diff = git("diff", "HEAD", "--binary", "--no-ext-diff", "--no-textconv")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head} + uncommitted changes (diff {hashlib.sha256(diff.encode()).hexdigest()[:8]})" if diff else head


def device_text(runs: list[Run]) -> str:
    """Where the runs were trained (their recorded devices and CPUs), or this machine when they were none."""
    if runs:
        seen = sorted({f"{r.info.get('device', '?')} ({r.info.get('cpu', '?')})" for r in runs})
        return "; ".join(seen)
    info = machine_info()
    return f"{'cuda' if torch.cuda.is_available() else 'cpu'} ({info['cpu']})"


def _value(value: Any) -> str:
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def code_item(executed_at: str, build: str, url: str = "") -> str:
    """The box's line on the code: the commit the page was executed at, and the build's when a later build
    reused it (its cache key proved everything that decides the page unchanged, the package's code included);
    each a link into the repository at ``url`` where the book's ``repository.url`` is set."""
    executed, built = commit_ref(executed_at, url), commit_ref(build, url)
    where = f"commit {executed}" if executed_at == build else (
        f"executed at commit {executed}; reused unchanged by the build at commit {built} (same package code, "
        "packages, notebook, parameters and runs)")
    return f"{CODE_ITEM}{where}, torch {torch.__version__}."


def provenance_markdown(notebook: Path, profile: str, parameters: dict[str, Any], runs: list[Run],
                        notebook_seconds: float, executed_at: str, built_at: str = DEFAULT_PROFILE,
                        url: str = "") -> str:
    """The box: every parameter as executed (those that differ from the book's build in bold, with its value),
    the runs and their seeds, commit (``executed_at``), device, date and compute time."""
    declared = declared_parameters(notebook)
    diff = differences(notebook, profile, parameters, built_at)
    values = {name: parameters.get(name, default) for name, (_, default) in declared.items()}
    values["profile"] = profile
    shown = []
    for name, value in values.items():
        shown.append(f"**{name} = {_value(value)}** (book: {_value(diff[name][1])})" if name in diff
                     else f"{name} = {_value(value)}")
    hashes = sorted(r.path.name for r in runs)
    listed = ", ".join(f"`{h}`" for h in hashes[:SHOWN_RUNS]) + (f" and {len(hashes) - SHOWN_RUNS} more"
                                                                  if len(hashes) > SHOWN_RUNS else "")
    seeds = sorted({r.config.seed for r in runs})
    training = sum(run_seconds(r) for r in runs)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join([
        ":::{admonition} How this page was made",
        ":class: dropdown note",
        "",
        f"- **Parameters** (papermill): {'; '.join(shown)}.",
        f"- **Runs**: {len(runs)} from the run store{': ' + listed if runs else ''}"
        f"{f'; seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} distinct)' if seeds else ''}.",
        code_item(executed_at, executed_at, url),
        f"- **Device**: {device_text(runs)}"
        f"{'; the first designs asked for (FIRST_DESIGNS=1)' if first_designs_asked() else ''}.",
        f"- **Built** {when}; **compute**: this notebook {notebook_seconds:z.0f} s, and its runs' training "
        f"{training:z.0f} s of worker time when they were trained.",
        ":::",
    ])


def banner_markdown(diff: dict[str, tuple[Any, Any]]) -> str:
    """The visible warning on a page whose parameters differ from the build of the rest of the book."""
    changed = ", ".join(f"{name} = {_value(v)} (book: {_value(d)})" for name, (v, d) in diff.items())
    return ("```{warning}\nThis page was re-executed with parameters that differ from the rest of the book's "
            f"build: {changed}. Its numbers and verdicts are not those of that build; the claims page marks "
            "them.\n```")


def _markdown_cell(text: str, cell_id: str, tag: str = PROVENANCE_TAG) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {"tags": [tag]},
            "source": text.splitlines(keepends=True)}


def annotate(executed: Path, notebook: Path, profile: str, parameters: dict[str, Any], runs: list[Run],
             notebook_seconds: float, root: Path, built_at: str = DEFAULT_PROFILE,
             claims: list[dict] | None = None) -> dict[str, Any]:
    """Rewrite the executed copy ``executed`` of ``notebook`` for the book (see the module docstring);
    ``built_at`` is the profile of the book's build, against which the banner compares; ``claims`` are the
    verdicts the chapter recorded, which the box under its title sums up (``findings.chapter_findings``) and its
    closing section gives in full (``findings.chapter_summary``).
    Returns what differs from that build (name -> value), which the claims page marks."""
    nb = json.loads(executed.read_text())
    added_tags = {PROVENANCE_TAG, CHAPTER_BOX_ID, CHAPTER_SUMMARY_ID}  # what an earlier annotation added
    cells = [c for c in nb["cells"] if not added_tags & set(c.get("metadata", {}).get("tags", []))]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        wanted = "remove-cell" if {PARAMETERS_TAG, INJECTED_TAG} & set(tags) else "hide-input"
        if wanted not in tags:
            tags.append(wanted)
    cells = absences.collapse(cells, notebook.stem, _first_design_cost(cells, notebook.stem, profile, runs))
    executed_at = commit(root)
    added = [_markdown_cell(provenance_markdown(notebook, profile, parameters, runs, notebook_seconds, executed_at,
                                                built_at, repository_url(root)), BOX_ID)]
    found = chapter_findings(claims or [])
    if found:
        added.append(_markdown_cell(found, CHAPTER_BOX_ID, CHAPTER_BOX_ID))
    diff = differences(notebook, profile, parameters, built_at)
    if diff:
        added.insert(0, _markdown_cell(banner_markdown(diff), "crosslingual-banner"))
    summary = chapter_summary(claims or [])
    closing = [_markdown_cell(summary, CHAPTER_SUMMARY_ID, CHAPTER_SUMMARY_ID)] if summary else []
    nb["cells"] = cells[:1] + added + cells[1:] + closing  # the first cell is the chapter's title
    differs = {k: v[0] for k, v in diff.items()}
    nb.setdefault("metadata", {}).setdefault("crosslingual", {}).update(
        profile=profile, book_profile=built_at, parameters=parameters, differs=differs, commit=executed_at)
    _write(executed, nb)
    return differs


def _first_design_cost(cells: list[dict], chapter: str, profile: str, runs: list[Run]) -> str:
    """The cost that the admonition of a first design this build left out gives: estimated from this build's runs
    for a design with grids of its own, else the chapter's measured ``first_cost`` (empty where the page has no
    first design left out, or nothing is known of its cost)."""
    if not any(p["first_design"] for p in absences.markers(cells).values()):
        return ""
    entry = next((c for c in CHAPTERS if c.name == chapter), None)
    estimate = first_design_seconds(entry.first_studies, profile, runs) if entry else None
    return sentences.first_design_cost(*estimate) if estimate else (entry.first_cost if entry else "")


def mark_reused(executed: Path, root: Path) -> bool:
    """Re-stamp the box of a page that this build reuses (executed by an earlier one) with the build's commit
    beside the one it was executed at (recorded by :func:`annotate`, so a page reused by many builds names the
    latest only); returns whether the page changed, when the caller must record its new digest."""
    nb = json.loads(executed.read_text())
    box = next(c for c in nb["cells"] if c.get("id") == BOX_ID)
    item = code_item(nb["metadata"]["crosslingual"]["commit"], commit(root), repository_url(root))
    lines = "".join(box["source"]).splitlines()
    stamped = [item if line.startswith(CODE_ITEM) else line for line in lines]
    if stamped == lines:
        return False
    box["source"] = "\n".join(stamped).splitlines(keepends=True)
    _write(executed, nb)
    return True


def _write(executed: Path, nb: dict) -> None:
    """Write a page as one file replaced at once: a build stopped mid-write leaves the old page, never half."""
    write_atomic(executed, (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode())
