"""Experiment grids as YAML files: the book's studies live in ``crosslingual/studies/*.yaml``, and a user's
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

Points are expanded sweep by sweep, then seed by seed, in file order. Every config is validated by
``make_config``, so a bad knob fails with the parameter's name before any run starts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from crosslingual.config import ConfigError, RunConfig, check_count, make_config, profile_value

_TOP = {"profile", "seeds", "seed", "fixed", "scale", "sweeps"}
_SWEEP = {"name", "fixed", "product", "zip", "level", "control"}


def studies() -> list[str]:
    """Names of the grids that ship with the package (the book's studies)."""
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("crosslingual").joinpath("studies").iterdir()
                  if p.name.endswith(".yaml"))


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
        """A grid from a YAML file, or a shipped study by name (``information``, ``regions``, ...)."""
        path = Path(grid)
        if not path.suffix and not path.exists():
            if str(grid) not in studies():
                raise ConfigError(f"grid {str(grid)!r} is neither a file nor a study; studies: {', '.join(studies())}")
            text = resources.files("crosslingual").joinpath("studies", f"{grid}.yaml").read_text()
        else:
            text = path.read_text()
        return cls.parse(yaml.safe_load(text), source=str(grid))

    @classmethod
    def parse(cls, spec: Any, source: str = "<grid>") -> "Grid":
        if not isinstance(spec, dict) or "sweeps" not in spec:
            raise ConfigError(f"{source}: a grid is a mapping with a 'sweeps' list")
        _check_keys(spec, _TOP, source)
        sweeps = spec["sweeps"]
        if not isinstance(sweeps, list) or not sweeps:
            raise ConfigError(f"{source}: 'sweeps' must be a non-empty list")
        for i, sweep in enumerate(sweeps):
            where = f"{source}: sweeps[{i}]"
            if not isinstance(sweep, dict) or "name" not in sweep:
                raise ConfigError(f"{where} must be a mapping with a 'name'")
            _check_keys(sweep, _SWEEP, where)
            for key in ("product", "zip"):
                for knob, values in sweep.get(key, {}).items():
                    if not isinstance(values, list) or not values:
                        raise ConfigError(f"{where}: {key}.{knob} must be a non-empty list")
            lengths = {len(v) for v in sweep.get("zip", {}).values()}
            if len(lengths) > 1:
                raise ConfigError(f"{where}: the lists under 'zip' must have equal lengths (got {sorted(lengths)})")
        return cls(source=source, sweeps=sweeps, **{k: spec[k] for k in _TOP - {"sweeps"} if k in spec})

    @property
    def controls(self) -> dict[str, str]:
        """Sweep name -> the sweep it is compared with ("" where none)."""
        return {s["name"]: s.get("control", "") for s in self.sweeps}

    def expand(self, profile: str | None = None, seeds: int | None = None, seed: int | None = None,
               **overrides: Any) -> list[tuple[str, float, RunConfig]]:
        """Every run of the grid at ``profile`` (default: the file's), with ``overrides`` applied last."""
        profile = profile or self.profile
        seeds = check_count("seeds", self.seeds if seeds is None else seeds, 1, 1000)
        seed = check_count("seed", self.seed if seed is None else seed, 0, 2**31 - 1)
        scaled = {k: _scaled(profile, k, f) for k, f in self.scale.items()}
        out = []
        for sweep in self.sweeps:
            for i, knobs in enumerate(_points(sweep)):
                level = sweep.get("level", _level(sweep, knobs, i))
                for s in range(seed, seed + seeds):
                    cfg = make_config(profile, seed=s, world_seed=s, **{**self.fixed, **scaled, **sweep.get("fixed", {}),
                                                                        **knobs, **overrides})
                    out.append((sweep["name"], float(level), cfg))
        return out


def _check_keys(spec: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


def _scaled(profile: str, knob: str, factor: Any) -> int:
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor <= 0:
        raise ConfigError(f"scale.{knob}={factor!r} must be a positive number")
    return max(1, round(profile_value(profile, knob) * factor))


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
