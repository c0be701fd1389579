import time
from dataclasses import asdict
from pathlib import Path

import pytest

from crosslingual.core.config import make_config, profile_value
from crosslingual.errors import ConfigError
from crosslingual.store.grids import MAX_RUNS, Grid, studies

ROOT_STUDIES = Path(__file__).resolve().parents[2] / "src" / "crosslingual" / "store" / "studies"


def _flat(cfg) -> dict:
    return {**asdict(cfg.world), **asdict(cfg.model), **asdict(cfg.train)}


def test_product_zip_levels_and_order():
    grid = Grid.parse({"seeds": 2, "seed": 3, "fixed": {"n_layers": 1}, "sweeps": [
        {"name": "a", "product": {"parallel_fraction": [0.2, 0.4], "language_marker": [False, True]}},
        {"name": "b", "zip": {"d_model": [32, 64], "n_heads": [2, 4]}, "fixed": {"n_layers": 2}},
        {"name": "c", "product": {"entity_overlap": [0.5]}},
        {"name": "d", "level": 7}]})
    points = grid.expand("smoke")
    assert len(points) == (4 + 2 + 1 + 1) * 2
    assert [(s, c.seed) for s, _, c in points[:3]] == [("a", 3), ("a", 4), ("a", 3)]
    a = [c for s, _, c in points if s == "a"]
    assert [(c.world.parallel_fraction, c.world.language_marker) for c in a[::2]] == [
        (0.2, False), (0.2, True), (0.4, False), (0.4, True)]
    assert all(c.model.n_layers == 1 for c in a)
    b = [c for s, _, c in points if s == "b"]
    assert [(c.model.d_model, c.model.n_heads, c.model.n_layers) for c in b[::2]] == [(32, 2, 2), (64, 4, 2)]
    levels = {s: sorted({lvl for s2, lvl, _ in points if s2 == s}) for s in "abcd"}
    assert levels == {"a": [0.0, 1.0, 2.0, 3.0], "b": [0.0, 1.0], "c": [0.5], "d": [7.0]}
    assert all(c.world.world_seed == c.seed for *_, c in points)
    assert grid.expand("smoke", seeds=1, seed=0, steps=50)[0][2].train.steps == 50  # overrides come last


def test_scale_multiplies_the_profile_value():
    grid = Grid.parse({"scale": {"steps": 0.5}, "sweeps": [{"name": "x"}]})
    assert grid.expand("default")[0][2].train.steps == make_config("default").train.steps // 2
    assert grid.expand("smoke")[0][2].train.steps == make_config("smoke").train.steps // 2


@pytest.mark.parametrize("spec, message", [
    ({"sweep": []}, r"a grid is a mapping with a 'sweeps' list"),
    ({"sweeps": []}, r"'sweeps' must be a non-empty list"),
    ({"sweeps": [{"product": {}}]}, r"sweeps\[0\] must be a mapping with a 'name'"),
    ({"sweeps": [{"name": "x", "grid": {}}]}, r"sweeps\[0\] \(x\): unknown key 'grid'"),
    ({"seed": 0, "profiles": "x", "sweeps": [{"name": "x"}]}, r"unknown key 'profiles'"),
    ({"sweeps": [{"name": "x", "product": {"steps": 5}}]}, r"product\.steps must be a non-empty list"),
    ({"sweeps": [{"name": "x", "zip": {"steps": [5, 6], "lr": [0.1]}}]}, r"equal lengths \(got \[1, 2\]\)"),
    ({"scale": {"steps": -1}, "sweeps": [{"name": "x"}]}, r"scale\.steps=-1 must be a positive number"),
    ({"sweeps": [{"name": "x", "product": {"parallel_fraction": [1.5]}}]}, r"parallel_fraction=1\.5 is out of range"),
    ({"sweeps": [{"name": "x", "fixed": {"paralel_fraction": 0.5}}]}, r"unknown parameter 'paralel_fraction'"),
])
def test_bad_grids_fail_with_a_clear_message(spec, message):
    with pytest.raises(ConfigError, match=message):
        Grid.parse(spec).expand("smoke")


def test_scale_keeps_a_real_knob_real_and_an_integer_knob_an_integer():
    grid = Grid.parse({"scale": {"lr": 0.5, "steps": 0.5}, "sweeps": [{"name": "x"}]})
    for profile in ("smoke", "default"):
        train = grid.expand(profile)[0][2].train
        assert train.lr == make_config(profile).train.lr / 2 and isinstance(train.lr, float)
        assert train.steps == make_config(profile).train.steps // 2 and isinstance(train.steps, int)


DIRECTORY = object()  # a directory where the grid file should be
BAD_FILES = [  # (file contents, or None for no file; the message); every sweep is "x" unless named
    ("sweeps: [{name: x\n", r"invalid YAML: line 2, column 1: expected ',' or '}'"),
    ("sweeps:\n  - name: x\n   level: 1\n", r"invalid YAML: line 3, column 4: expected <block end>"),
    ("sweeps: [\x07]\n", r"invalid YAML: unacceptable character #x0007"),
    ("!!python/object:os.system\nsweeps: []\n", r"invalid YAML: line 1, column 1: could not determine a constructor"),
    ("", r"the grid is empty$"),
    ("# only a comment\n", r"the grid is empty$"),
    ("- name: x\n", r"a grid is a mapping with a 'sweeps' list \(got list\)$"),
    ("seeds: 2\n", r"a grid is a mapping with a 'sweeps' list \(no 'sweeps' key\)$"),
    ("profiles: smoke\nsweeps: [{name: x}]\n", r": unknown key 'profiles'; allowed: fixed, profile, scale, seed"),
    ("sweeps: {name: x}\n", r": 'sweeps' must be a non-empty list \(got dict\)$"),
    ("sweeps: [x]\n", r": sweeps\[0\] must be a mapping with a 'name' \(got str\)$"),
    ("sweeps: [{name: ''}]\n", r": sweeps\[0\]: name='' must be a non-empty string$"),
    ("sweeps: [{name: x, product: [parallel_fraction, 0.2]}]\n",
     r": sweeps\[0\] \(x\): product must be a mapping of parameter names to lists of values \(got list\)$"),
    ("sweeps: [{name: x, product: {steps: 5}}]\n",
     r": sweeps\[0\] \(x\): product\.steps must be a non-empty list \(got 5\)$"),
    ("sweeps: [{name: x, zip: {steps: []}}]\n", r"\(x\): zip\.steps must be a non-empty list \(got \[\]\)$"),
    ("sweeps: [{name: x, zip: {steps: [5, 6], lr: [0.1]}}]\n", r"\(x\): the lists under 'zip' must have equal lengths"),
    ("sweeps: [{name: x, product: {steps: [5]}, zip: {steps: [6]}}]\n", r"\(x\): 'steps' is under both 'product' and"),
    ("sweeps: [{name: x, level: high}]\n", r": sweeps\[0\] \(x\): level='high' must be a finite number$"),
    ("sweeps: [{name: x, level: .nan}]\n", r"\(x\): level=nan must be a finite number$"),
    ("sweeps: [{name: x, level: true}]\n", r"\(x\): level=True must be a finite number$"),
    ("sweeps: [{name: x, control: baselin}, {name: baseline}]\n",
     r": sweeps\[0\] \(x\): control='baselin' must name another sweep of the grid$"),
    ("sweeps: [{name: x, control: x}]\n", r"\(x\): control='x' must name another sweep"),
    ("sweeps: [{name: x}, {name: y, fixed: {paralel_fraction: 0.5}}]\n",
     r": sweeps\[1\] \(y\): fixed: unknown parameter 'paralel_fraction' \(did you mean 'parallel_fraction'\?\)$"),
    ("fixed: {n_layer: 2}\nsweeps: [{name: x}]\n",
     r": fixed: unknown parameter 'n_layer' \(did you mean 'n_layers'\?\)$"),
    ("sweeps: [{name: x, zip: {zzz: [1]}}]\n", r"\(x\): zip: unknown parameter 'zzz'; known parameters: align_share, "),
    ("sweeps: [{name: x, fixed: {seed: 3}}]\n", r"\(x\): fixed: 'seed' cannot be a knob: .* set the grid's 'seed' and"),
    ("sweeps: [{name: x, product: {world_seed: [1, 2]}}]\n", r"\(x\): product: 'world_seed' cannot be a knob"),
    ("scale: {language_marker: 2}\nsweeps: [{name: x}]\n",
     r": scale\.language_marker: only integer and real parameters can be scaled; language_marker is a bool"),
    ("scale: {arch: 2}\nsweeps: [{name: x}]\n", r": scale\.arch: only integer .* arch is a str \(default 'gpt'\)$"),
    ("scale: {steps: -0.5}\nsweeps: [{name: x}]\n", r": scale\.steps=-0\.5 must be a positive number"),
    ("scale: {steps: .inf}\nsweeps: [{name: x}]\n", r": scale\.steps=inf must be a positive number"),
    ("scale: {steps: true}\nsweeps: [{name: x}]\n", r": scale\.steps=True must be a positive number"),
    ("scale: 0.5\nsweeps: [{name: x}]\n", r": scale must be a mapping of parameter names to factors \(got float\)$"),
    ("seeds: 0\nsweeps: [{name: x}]\n", r": seeds=0 is out of range: allowed \[1, 1000\]$"),
    ("seeds: 1.5\nsweeps: [{name: x}]\n", r": seeds=1\.5 must be an integer"),
    ("seed: -1\nsweeps: [{name: x}]\n", r": seed=-1 is out of range"),
    ("profile: huge\nsweeps: [{name: x}]\n",
     r": profile='huge' is not a profile; choose one of smoke, default, paper$"),
    ("profile: 3\nsweeps: [{name: x}]\n", r": profile=3 is not a profile"),
    ("fixed: [arch, llama]\nsweeps: [{name: x}]\n",
     r": fixed must be a mapping of parameter names to values \(got list\)$"),
    ("sweeps:\n  - name: x\n    fixed:\n", r": sweeps\[0\] \(x\): fixed must be a mapping .* \(got nothing\)$"),
    (None, r": cannot read the grid file: No such file or directory$"),
    (DIRECTORY, r": cannot read the grid file: Is a directory$"),
    (b"sweeps: [{name: \xff}]\n", r": cannot read the grid file: 'utf-8' codec can't decode byte 0xff"),
    ("sweeps: [{name: x}, {name: y, product: {parallel_fraction: [0.5, 1.5]}}]\n",
     r": sweeps\[1\] \(y\): parallel_fraction=1\.5 is out of range: allowed \[0\.0, 1\.0\)$"),
    ("fixed: {arch: bert}\nsweeps: [{name: x}]\n", r": sweeps\[0\] \(x\): arch='bert' is not allowed"),
    ("sweeps: [{name: x, zip: {d_model: [32, 30], n_heads: [2, 4]}}]\n", r"\(x\): n_heads=4 must divide d_model=30$"),
]


@pytest.mark.parametrize("text, message", BAD_FILES)
def test_bad_grid_files_fail_with_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "my_grid.yaml"
    if text is DIRECTORY:
        path.mkdir()
    elif isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        Grid.load(path).expand("smoke")
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_expand_arguments_are_checked_like_the_file():
    grid = Grid.parse({"sweeps": [{"name": "x"}]}, source="g.yaml")
    with pytest.raises(ConfigError, match=r"^g\.yaml: overrides: unknown parameter 'step' \(did you mean 'steps'\?\)$"):
        grid.expand("smoke", step=5)
    with pytest.raises(ConfigError, match=r"^g\.yaml: overrides: 'world_seed' cannot be a knob"):
        grid.expand("smoke", world_seed=5)
    with pytest.raises(ConfigError, match=r"^g\.yaml: profile='huge' is not a profile"):
        grid.expand("huge")
    with pytest.raises(ConfigError, match=r"^g\.yaml: seeds=0 is out of range"):
        grid.expand("smoke", seeds=0)
    with pytest.raises(ConfigError, match=r"^g\.yaml: sweeps\[0\] \(x\): steps=0 is out of range"):
        grid.expand("smoke", steps=0)


def test_a_huge_grid_is_refused_before_anything_is_built():
    grid = Grid.parse({"sweeps": [{"name": "big", "product": {"n_entities": list(range(100, 201)),
                                                               "lr": [i / 1000 for i in range(1, 101)]}}]},
                      source="big.yaml")
    assert grid.count() == 101 * 100 > MAX_RUNS
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^big\.yaml: the grid has 10,100 runs \(10,100 points x 1 seeds\), more "
                       r"than the cap of 10,000; pass max_runs=None, or --allow-large-grid on the command line$"):
        grid.expand("smoke")
    assert time.perf_counter() - start < 0.5


def test_the_cap_counts_seeds_and_can_be_lifted():
    grid = Grid.parse({"seeds": 2, "sweeps": [{"name": "x", "product": {"steps": [50, 60]}}]}, source="g.yaml")
    assert grid.count() == 4 and grid.count(seeds=3) == 6
    with pytest.raises(ConfigError, match=r"the grid has 4 runs \(2 points x 2 seeds\), more than the cap of 3;"):
        grid.expand("smoke", max_runs=3)
    assert len(grid.expand("smoke", max_runs=4)) == len(grid.expand("smoke", max_runs=None)) == 4
    assert len(grid.expand("smoke", seeds=1, max_runs=3)) == 2


@pytest.mark.parametrize("name", studies())
def test_count_is_the_number_of_runs_of_a_study(name):
    grid = Grid.load(name)
    assert grid.count() == len(grid.expand("smoke"))
    assert grid.count(seeds=2) == len(grid.expand("smoke", seeds=2))


def test_unknown_study_names_the_shipped_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"neither a file nor a study; studies: cue_isolation, exposure, "
                                          r"extractability"):
        Grid.load("informaton")
    path = tmp_path / "mine.yaml"
    path.write_text("seeds: 1\nsweeps:\n  - {name: x, product: {parallel_fraction: [0.3]}}\n")
    assert Grid.load(path).expand("smoke")[0][2].world.parallel_fraction == 0.3


ROSETTA = ["information", "exposure", "extractability", "interventions"]


@pytest.mark.parametrize("name", ROSETTA)
def test_every_point_is_a_few_knobs_away_from_the_baseline_and_seeds_move_world_and_init(name):
    points = Grid.load(name).expand("smoke", 2, seed=5)
    assert {cfg.seed for *_, cfg in points} == {5, 6}
    for _, _, cfg in points:
        assert cfg.world.world_seed == cfg.seed
        base = _flat(make_config("smoke", seed=cfg.seed, world_seed=cfg.seed))
        changed = {k for k, v in _flat(cfg).items() if base[k] != v}
        assert len(changed) <= 4, changed  # e.g. scripts + tokenizer + bpe_vocab_size


def test_the_book_studies_ship_with_the_package():
    """Every study a chapter uses ships with the package, and every shipped study is some chapter's."""
    from crosslingual.render.chapters import CHAPTERS

    assert set(studies()) == {s for c in CHAPTERS for s in c.studies + c.first_studies}
    assert len(studies()) >= 12


def test_chapters_share_runs_instead_of_retraining_them():
    hashes = {name: {cfg.hash() for *_, cfg in Grid.load(name).expand("smoke", 3)} for name in ROSETTA}
    base = {make_config("smoke", seed=s, world_seed=s).hash() for s in range(3)}
    assert base <= hashes["information"] and base <= hashes["extractability"]
    # chapter 6 reuses chapter 3's attribute runs and chapter 5's cue and subword runs
    new_in_6 = hashes["interventions"] - hashes["information"] - hashes["extractability"]
    assert len(new_in_6) == 3 * 3  # separate subwords, code-switching, alignment loss


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_the_learning_phase_study_is_the_baseline_world_trained_twice_as_long_with_twice_the_checkpoints(profile):
    """R2-redesign's design (crosslingual.claims.rosetta.R2_REDESIGN): only steps and checkpoints differ from the
    baseline world, at every profile, one run per seed."""
    points = Grid.load("learning_phase").expand(profile)
    steps, checkpoints = profile_value(profile, "steps"), profile_value(profile, "n_checkpoints")
    assert [cfg for *_, cfg in points] == [make_config(profile, seed=s, world_seed=s, steps=2 * steps,
                                                       n_checkpoints=2 * checkpoints) for s in range(5)]


def test_the_learning_phase_schedule_is_the_one_its_rule_describes():
    """The rule's rationale counts 42 distinct checkpoint steps at default (48 log-spaced, some rounded together),
    against 23 in the pooled design's 1,000-step runs."""
    from crosslingual.claims.rosetta import R2_REDESIGN
    from crosslingual.core.train import checkpoint_steps

    cfg = Grid.load("learning_phase").expand("default")[0][2]
    assert (cfg.train.steps, cfg.train.n_checkpoints) == (2000, 48)
    assert len(checkpoint_steps(cfg.train.steps, cfg.train.n_checkpoints)) == 42 and "42 distinct" in R2_REDESIGN.text
    assert len(checkpoint_steps(1000, 24)) == 23


def test_the_script_geometry_study_is_four_scripts_in_subwords_trained_on_every_next_token():
    """H1-redesign's design (crosslingual.claims.hyperpolyglot.H1_REDESIGN), one run per seed."""
    points = Grid.load("script_geometry").expand("default")
    assert [cfg for *_, cfg in points] == [make_config("default", seed=s, world_seed=s, n_languages=4,
                                                       tokenizer="bpe", loss="full") for s in range(5)]
    assert points[0][2].world.resolved_scripts == ("latin", "cyrillic", "greek", "armenian")


def test_the_neighbourhoods_study_spreads_the_script_geometry_world_over_six_settings():
    """H2-redesign's design (crosslingual.claims.hyperpolyglot.H2_REDESIGN): H1-redesign's world at four parallel
    fractions, with code-switching and with the alignment loss; its 0.6 point is script_geometry's run."""
    points = Grid.load("neighbourhoods").expand("default")
    base = dict(n_languages=4, tokenizer="bpe", loss="full")
    settings = [dict(parallel_fraction=p) for p in (0.2, 0.4, 0.6, 0.8)] + [dict(code_switching=0.25),
                                                                              dict(align_weight=1.0)]
    assert [cfg for *_, cfg in points] == [make_config("default", seed=s, world_seed=s, **base, **knobs)
                                           for knobs in settings for s in range(5)]
    shared = {cfg.hash() for *_, cfg in Grid.load("script_geometry").expand("default")}
    assert shared == {cfg.hash() for sweep, level, cfg in points if sweep == "parallel_fraction" and level == 0.6}


def test_every_intervention_has_its_control_in_the_grid():
    grid = Grid.load("interventions")
    arms = {arm for arm, *_ in grid.expand("smoke", 1)}
    assert grid.controls["alignment loss"] == "baseline"
    for arm, control in grid.controls.items():
        assert not control or control in arms, (arm, control)


# ------------------------------------------------------------------ what a hostile tester found (names, levels)
@pytest.mark.parametrize("planted", ["file", "folder"])
def test_a_file_or_folder_named_like_a_study_does_not_shadow_it(tmp_path, monkeypatch, planted):
    monkeypatch.chdir(tmp_path)
    if planted == "file":
        (tmp_path / "information").write_text("sweeps: [{name: mine, level: 1}]\n")
    else:
        (tmp_path / "information").mkdir()
    assert Grid.load("information").sweeps == Grid.load(f"{ROOT_STUDIES}/information.yaml").sweeps
    if planted == "file":  # a path is a path: a separator (or a .yaml suffix) says so
        assert [s["name"] for s in Grid.load("./information").sweeps] == ["mine"]
    else:
        with pytest.raises(ConfigError, match=r"\./information: cannot read the grid file"):
            Grid.load("./information")


def test_a_bare_name_that_is_no_study_says_how_to_name_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mygrid").write_text("sweeps: [{name: x}]\n")
    with pytest.raises(ConfigError, match=r"'mygrid' is neither a file nor a study; .* for the file mygrid here, "
                                          r"write \./mygrid"):
        Grid.load("mygrid")
    (tmp_path / "mine.yml").write_text("sweeps: [{name: x}]\n")
    assert Grid.load("mine.yml").sweeps == [{"name": "x"}]


@pytest.mark.parametrize("sweeps, message", [
    ([{"name": "a", "level": 1}, {"name": "a", "level": 1, "fixed": {"language_marker": True}}],
     r"sweeps\[1\] \(a\): level 1 is also the level of sweeps\[0\], of the same name"),
    ([{"name": "a", "product": {"parallel_fraction": [0.2, 0.4]}},
      {"name": "a", "product": {"parallel_fraction": [0.4]}}],
     r"sweeps\[1\] \(a\): level 0\.4 is also the level of sweeps\[0\]"),
    ([{"name": "a", "level": 2, "product": {"parallel_fraction": [0.2, 0.4]}}],
     r"sweeps\[0\] \(a\): level 2 is also the level of another point of this entry"),
])
def test_two_points_of_one_sweep_at_one_level_are_refused(sweeps, message):
    with pytest.raises(ConfigError, match=message):
        Grid.parse({"sweeps": sweeps})


def test_entries_of_one_name_at_distinct_levels_are_parts_of_one_sweep():
    grid = Grid.parse({"sweeps": [{"name": "vocabulary", "level": 0},
                                  {"name": "vocabulary", "fixed": {"tokenizer": "bpe"},
                                   "product": {"bpe_vocab_size": [96, 192]}}]})
    assert [(s, lvl) for s, lvl, _ in grid.expand("smoke")] == [("vocabulary", 0.0), ("vocabulary", 96.0),
                                                                ("vocabulary", 192.0)]


def test_numbers_in_exponent_form_are_numbers(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("fixed: {lr: 3e-3, weight_decay: 1.0e-1}\nsweeps: [{name: x}]\n")
    cfg = Grid.load(str(path)).expand("smoke")[0][2]
    assert (cfg.train.lr, cfg.train.weight_decay) == (0.003, 0.1)
    path.write_text("scale: {steps: 1.0e12}\nsweeps: [{name: x}]\n")
    with pytest.raises(ConfigError, match=r"steps=\d+ is out of range"):  # said exactly, not "a string"
        Grid.load(str(path)).expand("smoke")
    path.write_text("fixed: {language_marker: 1e}\nsweeps: [{name: x}]\n")  # not a number: still text
    with pytest.raises(ConfigError, match=r"language_marker='1e' must be a boolean"):
        Grid.load(str(path)).expand("smoke")
