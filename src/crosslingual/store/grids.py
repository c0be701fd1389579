"""Experiment grids as YAML files: the book's studies live in ``crosslingual/store/studies/*.yaml``, and a user's
own grid is the same format, so ``crosslingual sweep GRID`` re-runs any study at any profile.

A grid file::

    profile: default        # the scale (overridable on the command line)
    seeds: 3                # every point for seeds seed .. seed + seeds - 1; seed and world seed vary together
    seed: 0
    fixed: {arch: llama}    # overrides for every run (optional)
    scale: {steps: 0.5}     # knobs set to a multiple of the profile's value (optional)
    sweeps:                 # the grid is the union of its sweeps
      - name: parallel_fraction
        fixed: {language_marker: true}          # this sweep's own overrides (optional)
        product: {parallel_fraction: [0.2, 0.4]} # cartesian product of lists (optional)
        zip: {n_layers: [1, 2], d_model: [32, 64]}  # equal-length lists taken together (optional)
        level: 0            # the label of every point (optional; default: the value of the one varying knob)
        control: baseline   # the sweep this one is compared with (optional; read by the chapters)

Points are expanded sweep by sweep, then seed by seed, in file order. ``scale`` rounds an integer knob (kept
>= 1) and multiplies a real one as a real; other knobs cannot be scaled. Entries may share a name as parts of one
sweep (a word-level point and a BPE product), but every point of a name has a level of its own: the chapters pool
runs by sweep name and level. Numbers in exponent form (``3e-3``, ``1.0e12``) are numbers, as in YAML 1.2.

``crosslingual sweep NAME`` reads the shipped study ``NAME``; a grid file is named by a path with a separator or
a ``.yaml`` / ``.yml`` suffix (``./mine``, ``grids/a.yaml``, ``a.yaml``), so that nothing in the current
directory can shadow a study.

Validation happens in two stages, and every error is a one-line :class:`ConfigError` that names the file, the
sweep (``sweeps[i] (name)``) and the key, so a bad grid fails at once rather than after hours of runs:

* :meth:`Grid.load` and :meth:`Grid.parse` check the file and its shapes before any config is built:
  readable YAML with a mapping at the top, known keys, a shipped profile, counts in range, mappings where
  mappings belong, non-empty lists under ``product`` and ``zip``, a finite ``level``, a ``control`` that names
  another sweep, and knob names that are parameters of ``make_config`` (a typo gets the closest name).
  ``seed`` and ``world_seed`` are not knobs: the top-level ``seed`` and ``seeds`` set both.
* :meth:`Grid.expand` counts the runs first and refuses more than ``max_runs`` (:data:`MAX_RUNS` by
  default), then validates every config with ``make_config``, prefixing its error with the file and sweep.
"""

from __future__ import annotations

import difflib
import itertools
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from crosslingual.core.checks import check_count
from crosslingual.core.config import PROFILES, RunConfig, make_config, profile_value
from crosslingual.errors import ConfigError

# A grid larger than this is almost always a mistake (a product of long lists); expand refuses it
# before building anything unless the caller lifts the cap.
MAX_RUNS = 10_000

_TOP = {"profile", "seeds", "seed", "fixed", "scale", "sweeps"}
_SWEEP = {"name", "fixed", "product", "zip", "level", "control"}
# Every flat parameter of make_config with its dataclass default (whose type says how ``scale`` treats it)
_DEFAULTS: dict[str, Any] = {f.name: getattr(section, f.name) for section in vars(RunConfig()).values()
                             if is_dataclass(section) for f in fields(section)}
_SEEDED = ("seed", "world_seed")  # set by the grid's seed and seeds, never by a knob
_KNOBS = sorted(set(_DEFAULTS) - set(_SEEDED))


class _Loader(yaml.SafeLoader):
    """YAML 1.1, as PyYAML reads it, but with YAML 1.2's numbers in exponent form: PyYAML reads ``1.0e12`` and
    ``3e-3`` as text (its floats need a dot and a signed exponent), so ``scale: {steps: 1.0e12}`` was refused as
    "a string"."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
                              list("-+0123456789."))
GRID_SUFFIXES = (".yaml", ".yml")


def studies() -> list[str]:
    """Names of the grids that ship with the package (the book's studies)."""
    folder = resources.files("crosslingual.store").joinpath("studies")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


@dataclass(frozen=True)
class Grid:
    """A parsed grid file; ``expand`` turns it into ``(sweep, level, config)`` triples."""

    source: str
    sweeps: list[dict]
    profile: str = "default"
    seeds: int = 1
    seed: int = 0
    fixed: dict = field(default_factory=dict)
    scale: dict = field(default_factory=dict)

    @classmethod
    def load(cls, grid: str | Path) -> "Grid":
        """A shipped study by name (``information``, ``regions``, ...), or a grid file by its path. The two are
        told apart by the name alone, never by what the current directory holds (a file or folder there named like
        a study shadowed it): a path has a separator or a ``.yaml`` / ``.yml`` suffix; a bare name is a study."""
        path, source = Path(grid), str(grid)
        if not _is_path(source):
            if source not in studies():
                there = f"; for the file {source} here, write ./{source}" if path.exists() else ""
                raise ConfigError(f"grid {source!r} is neither a file nor a study; studies: {', '.join(studies())}"
                                  f" (a grid file is named by a path with a separator or a .yaml suffix{there})")
            text = resources.files("crosslingual.store").joinpath("studies", f"{grid}.yaml").read_text(encoding="utf-8")
        else:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:  # missing, a directory, no permission, not UTF-8
                reason = getattr(err, "strerror", None) or err
                raise ConfigError(f"{source}: cannot read the grid file: {reason}") from err
        try:
            spec = yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader with YAML 1.2 floats
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: invalid YAML: {_yaml_problem(err)}") from err
        return cls.parse(spec, source=source)

    @classmethod
    def parse(cls, spec: Any, source: str = "<grid>") -> "Grid":
        """Check every shape and name of a grid (see the module docstring); nothing is built yet."""
        if spec is None:
            raise ConfigError(f"{source}: the grid is empty")
        if not isinstance(spec, dict) or "sweeps" not in spec:
            got = "no 'sweeps' key" if isinstance(spec, dict) else f"got {_kind(spec)}"
            raise ConfigError(f"{source}: a grid is a mapping with a 'sweeps' list ({got})")
        _check_keys(spec, _TOP, source)
        _check_profile(spec.get("profile", cls.profile), source)
        _check_seeds(spec.get("seeds", cls.seeds), spec.get("seed", cls.seed), source)
        _check_knobs(spec.get("fixed", {}), f"{source}: fixed")
        _check_scale(spec.get("scale", {}), f"{source}: scale")
        sweeps = spec["sweeps"]
        if not isinstance(sweeps, list) or not sweeps:
            raise ConfigError(f"{source}: 'sweeps' must be a non-empty list (got {_kind(sweeps)})")
        names = [_sweep_name(sweep, f"{source}: sweeps[{i}]") for i, sweep in enumerate(sweeps)]
        for i, sweep in enumerate(sweeps):
            _check_sweep(sweep, f"{source}: sweeps[{i}] ({names[i]})", names)
        _check_levels(sweeps, source)
        return cls(source=source, sweeps=sweeps, **{k: spec[k] for k in _TOP - {"sweeps"} if k in spec})

    @property
    def controls(self) -> dict[str, str]:
        """Sweep name -> the sweep it is compared with ("" where none)."""
        return {s["name"]: s.get("control", "") for s in self.sweeps}

    def count(self, seeds: int | None = None) -> int:
        """The number of runs ``expand`` gives, from the list lengths alone (nothing is built)."""
        seeds, _ = _check_seeds(self.seeds if seeds is None else seeds, self.seed, self.source)
        return seeds * sum(_n_points(sweep) for sweep in self.sweeps)

    def expand(self, profile: str | None = None, seeds: int | None = None, seed: int | None = None, *,
               max_runs: int | None = MAX_RUNS, **overrides: Any) -> list[tuple[str, float, RunConfig]]:
        """Every run of the grid at ``profile`` (default: the file's), with ``overrides`` applied last.

        More than ``max_runs`` runs is an error raised before any config is built (``None``: no cap).
        """
        profile = _check_profile(profile or self.profile, self.source)
        seeds, seed = _check_seeds(self.seeds if seeds is None else seeds, self.seed if seed is None else seed,
                                   self.source)
        _check_knobs(overrides, f"{self.source}: overrides")
        runs = self.count(seeds)
        if max_runs is not None and runs > max_runs:
            raise ConfigError(f"{self.source}: the grid has {runs:,} runs ({runs // seeds:,} points x {seeds} seeds), "
                              f"more than the cap of {max_runs:,}; pass max_runs=None, or --allow-large-grid on the "
                              "command line")
        scaled = {k: _scaled(profile, k, f) for k, f in self.scale.items()}
        out = []
        for j, sweep in enumerate(self.sweeps):
            with _located(f"{self.source}: sweeps[{j}] ({sweep['name']})"):
                for i, knobs in enumerate(_points(sweep)):
                    level = sweep.get("level", _level(sweep, knobs, i))
                    for s in range(seed, seed + seeds):
                        cfg = make_config(profile, seed=s, world_seed=s, **{
                            **self.fixed, **scaled, **sweep.get("fixed", {}), **knobs, **overrides})
                        out.append((sweep["name"], float(level), cfg))
        return out


@contextmanager
def _located(where: str) -> Iterator[None]:
    """Prefix a ConfigError raised inside (by make_config or check_count) with the file and sweep it came from."""
    try:
        yield
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from err


def _is_path(grid: str) -> bool:
    """Whether ``grid`` names a file (it has a separator or a grid suffix) rather than a shipped study."""
    separators = {os.sep, "/", *([os.altsep] if os.altsep else [])}
    return any(sep in grid for sep in separators) or grid.lower().endswith(GRID_SUFFIXES)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _yaml_problem(err: yaml.YAMLError) -> str:
    """Where (1-based) and what the YAML problem is, on one line."""
    mark = getattr(err, "problem_mark", None)
    if mark is None:
        return " ".join(str(err).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {err.problem}"


def _check_keys(spec: dict, allowed: set[str], where: str) -> None:
    unknown = [key for key in spec if key not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


def _check_profile(profile: Any, where: str) -> str:
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError(f"{where}: profile={profile!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return profile


def _check_seeds(seeds: Any, seed: Any, where: str) -> tuple[int, int]:
    with _located(where):
        return check_count("seeds", seeds, 1, 1000), check_count("seed", seed, 0, 2**31 - 1)


def _check_knobs(knobs: Any, where: str, of: str = "values") -> None:
    """Knob names must be parameters: a typo would otherwise fail in make_config, far from its line in the file."""
    if not isinstance(knobs, dict):
        raise ConfigError(f"{where} must be a mapping of parameter names to {of} (got {_kind(knobs)})")
    for name in knobs:
        if name in _SEEDED:
            raise ConfigError(f"{where}: {name!r} cannot be a knob: every point runs at seed .. seed + seeds - 1 "
                              "with world_seed equal to seed; set the grid's 'seed' and 'seeds' instead")
        if name not in _KNOBS:
            close = difflib.get_close_matches(str(name), _KNOBS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known parameters: {', '.join(_KNOBS)}"
            raise ConfigError(f"{where}: unknown parameter {name!r}{hint}")


def _check_scale(scale: Any, where: str) -> None:
    _check_knobs(scale, where, of="factors")
    for knob, factor in scale.items():
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor <= 0:
            raise ConfigError(f"{where}.{knob}={factor!r} must be a positive number (a finite factor of the "
                              "profile's value)")
        default = _DEFAULTS[knob]
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise ConfigError(f"{where}.{knob}: only integer and real parameters can be scaled; {knob} is a "
                              f"{type(default).__name__} (default {default!r})")


def _sweep_name(sweep: Any, where: str) -> str:
    if not isinstance(sweep, dict) or "name" not in sweep:
        raise ConfigError(f"{where} must be a mapping with a 'name' (got {_kind(sweep)})")
    name = sweep["name"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: name={name!r} must be a non-empty string")
    return name


def _check_sweep(sweep: dict, where: str, names: list[str]) -> None:
    """One sweep's keys and shapes; ``names`` are all the grid's sweeps, for ``control``."""
    _check_keys(sweep, _SWEEP, where)
    _check_knobs(sweep.get("fixed", {}), f"{where}: fixed")
    for key in ("product", "zip"):
        _check_knobs(sweep.get(key, {}), f"{where}: {key}", of="lists of values")
        for knob, values in sweep.get(key, {}).items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: {key}.{knob} must be a non-empty list (got {values!r})")
    both = [knob for knob in sweep.get("zip", {}) if knob in sweep.get("product", {})]
    if both:
        raise ConfigError(f"{where}: {both[0]!r} is under both 'product' and 'zip'")
    lengths = {len(v) for v in sweep.get("zip", {}).values()}
    if len(lengths) > 1:
        raise ConfigError(f"{where}: the lists under 'zip' must have equal lengths (got {sorted(lengths)})")
    level = sweep.get("level", 0)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not math.isfinite(level):
        raise ConfigError(f"{where}: level={level!r} must be a finite number")
    control = sweep.get("control")
    if "control" in sweep and (not isinstance(control, str) or control not in names or control == sweep["name"]):
        raise ConfigError(f"{where}: control={control!r} must name another sweep of the grid")


def _check_levels(sweeps: list[dict], source: str) -> None:
    """Every point of a sweep name has a level of its own. The chapters pool the runs of one sweep name and level
    as one arm, so two points at one level (two entries of one name, or a fixed ``level`` over several points)
    would be pooled silently as one. Entries may share a name as parts of one sweep (a word-level point and a BPE
    product, say) when their levels differ. A grid too large to expand is left to ``expand``'s cap."""
    if sum(map(_n_points, sweeps)) > MAX_RUNS:
        return
    seen: dict[tuple[str, float], int] = {}
    for j, sweep in enumerate(sweeps):
        for i, knobs in enumerate(_points(sweep)):
            key = (sweep["name"], float(sweep.get("level", _level(sweep, knobs, i))))
            if key in seen:
                where = "another point of this entry" if seen[key] == j else f"sweeps[{seen[key]}], of the same name"
                raise ConfigError(f"{source}: sweeps[{j}] ({key[0]}): level {key[1]:g} is also the level of {where}; "
                                  "the chapters pool one sweep's runs by level, so give every point its own level "
                                  "(or the entry its own name)")
            seen[key] = j


def _scaled(profile: str, knob: str, factor: float) -> int | float:
    """An integer knob stays a count (rounded, at least 1); a real knob is scaled exactly."""
    value = profile_value(profile, knob) * factor
    return float(value) if isinstance(_DEFAULTS[knob], float) else max(1, round(value))


def _n_points(sweep: dict) -> int:
    """The size of ``_points(sweep)`` without building it (a huge product must be refused cheaply)."""
    zipped = [len(v) for v in sweep.get("zip", {}).values()]
    return math.prod(len(v) for v in sweep.get("product", {}).values()) * (zipped[0] if zipped else 1)


def _points(sweep: dict) -> list[dict]:
    product = sweep.get("product", {})
    zipped = sweep.get("zip", {})
    grid = [dict(zip(product, values)) for values in itertools.product(*product.values())]
    rows = [dict(zip(zipped, values)) for values in zip(*zipped.values())] or [{}]
    return [{**p, **z} for p in grid for z in rows]


def _level(sweep: dict, knobs: dict, index: int) -> float:
    """The value of the sweep's one varying knob when it is a number, else the point's index."""
    varying = [*sweep.get("product", {}), *sweep.get("zip", {})]
    if len(varying) == 1 and isinstance(knobs[varying[0]], (int, float)) and not isinstance(knobs[varying[0]], bool):
        return knobs[varying[0]]
    return index
