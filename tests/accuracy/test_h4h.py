"""H4H-NAS network side: the torch twin imports to the generator's table, the supernet computes
what its extracted subnets compute, the CNN-only space is a subset of the hybrid one, and the
TPI recipe's phase 2 freezes the CNN bit for bit."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cimkit.accuracy import h4h_train  # noqa: E402
from cimkit.accuracy.h4h_space import H4HGenome, H4HSupernetConfig, encode  # noqa: E402
from cimkit.accuracy.h4h_supernet import H4HSupernet  # noqa: E402
from cimkit.workload.h4h import H4HGeometry, h4h_config, h4h_table  # noqa: E402
from cimkit.workload.h4h_torch import H4HNet  # noqa: E402
from cimkit.workload.torch_import import from_torch  # noqa: E402

CFG = H4HSupernetConfig()


def _tables_equal(a, b) -> None:
    fa, fb = a.to_frame(), b.to_frame()
    assert list(fa["name"]) == list(fb["name"])
    assert fa.equals(fb)


@pytest.mark.parametrize(
    ("which", "resolution", "geometry"),
    [
        ("min", 224, H4HGeometry()),
        ("max", 28, CFG.geometry()),
        pytest.param("max", 224, H4HGeometry(), marks=pytest.mark.slow),
    ],
)
def test_twin_imports_to_the_generator_table(which: str, resolution: int, geometry) -> None:
    cfg = h4h_config(which)
    if geometry.in_channels == 1:
        cfg = replace(cfg, num_classes=10)
    net = H4HNet(cfg, geometry).eval()
    x = torch.randn(1, geometry.in_channels, resolution, resolution)
    wl = from_torch(net, x, name="h4h_hybrid")
    _tables_equal(h4h_table(cfg, resolution, geometry=geometry), wl)
    n_weights = sum(m.weight.numel() for m in net.modules()
                    if isinstance(m, torch.nn.Conv2d | torch.nn.Linear))  # fmt: skip
    assert wl.total_weights == n_weights


def _perturb_bn(net: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.running_mean.numel()
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)


def test_supernet_equals_its_extracted_subnets_and_their_tables() -> None:
    torch.manual_seed(0)
    net = H4HSupernet(CFG)
    _perturb_bn(net)
    rng = np.random.default_rng(3)
    for i, g in enumerate([CFG.largest(), CFG.smallest(), CFG.random(rng)]):
        twin = net.extract(g)
        net.set_active(g)
        net.eval()
        side = CFG.proxy_resolution(g)
        x = torch.randn(2, 1, side, side)
        with torch.no_grad():
            np.testing.assert_allclose(net(x).numpy(), twin(x).numpy(), rtol=1e-5, atol=1e-5)
        if i > 0:  # the largest's table is test_twin_imports_to_the_generator_table's
            _tables_equal(CFG.table(g), from_torch(twin, x[:1], name="h4h_proxy"))
    # a 28-pixel input is resized to the subnet's side (36 for the largest)
    net.set_active(CFG.largest())
    assert net(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_cnn_only_space_is_a_subset_with_identical_tables() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        g = CFG.random(rng)
        c = g.cnn_only()
        assert c.is_cnn_only and c.vit_blocks == 0
        other = CFG.random(rng, cnn_only=True)
        # a CNN-only genome is a hybrid genome: same table whatever its inactive ViT genes
        twin = replace(c, vit=other.vit)
        assert twin.key() == c.key()
        assert c.table().layers == twin.table().layers
        assert c.table().layers == h4h_table(g.config().cnn_only(), g.resolution).layers
        assert all(la.op not in ("matmul", "softmax") for la in c.table().layers)


def test_genome_round_trip_check_and_encoding() -> None:
    rng = np.random.default_rng(2)
    g = CFG.random(rng)
    assert H4HGenome.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    net = H4HSupernet(CFG)
    with pytest.raises(ValueError, match="mb2.width: 36"):
        net.set_active(replace(g, mb=((16, 1, 1), (36, 2, 4), *g.mb[2:])))
    with pytest.raises(ValueError, match="resolution: 200"):
        net.set_active(replace(g, resolution=200))
    f = encode([g, g.cnn_only(), CFG.largest(), CFG.smallest()])
    assert f.shape[0] == 4 and ((f >= 0) & (f <= 1)).all()
    assert (f[3] == 0).all() and (f[2, :-8] == 1).all()  # smallest: every gene at its minimum
    assert f[1, -8:].sum() == 0  # CNN-only: no ViT stage active


@pytest.mark.slow
def test_tpi_freeze_keeps_every_cnn_weight_bit_identical(tmp_path: Path) -> None:
    small = H4HSupernetConfig(width_scale=0.25, resolutions=(192, 224))
    kw = dict(data="synthetic", batch_size=8, cfg=small, log=lambda m: None)
    h4h_train.run("cnn_only", tmp_path, seed=0, steps=2, **kw)
    phase1 = h4h_train.load_weights(tmp_path / "cnn_only-s0" / "final.pt").state_dict()
    for recipe in ("tpi_freeze", "tpi_unfreeze"):
        res = h4h_train.run(recipe, tmp_path, seed=0, steps=2, **kw)
        assert res["done"] and 0 <= res["min_net"] <= 1
        net = h4h_train.load_weights(tmp_path / f"{recipe}-s0" / "final.pt")
        after = net.state_dict()
        cnn = [n for n, _ in net.cnn_parameters()]
        same = [torch.equal(phase1[n], after[n]) for n in cnn]
        vit = [n for n in after if n.startswith("vit") and n.endswith("weight")]
        bn = [n for n in after if ".bn.weight" in n]
        assert cnn and vit and bn
        assert any(not torch.equal(phase1[n], after[n]) for n in vit)
        assert any(not torch.equal(phase1[n], after[n]) for n in bn)
        if recipe == "tpi_freeze":
            assert all(same)
        else:
            assert not all(same)
    rows = {r["recipe"]: r for r in h4h_train.table2(tmp_path)}
    assert set(rows) == {"cnn_only", "tpi_freeze", "tpi_unfreeze"}


def test_phase2_without_phase1_names_the_command(tmp_path: Path) -> None:
    from cimkit.errors import CimkitError

    with pytest.raises(CimkitError, match="--recipe cnn_only --seed 3"):
        h4h_train.run("tpi_freeze", tmp_path, seed=3, steps=2, data="synthetic")


@pytest.mark.slow
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    small = H4HSupernetConfig(width_scale=0.25, resolutions=(192, 224))
    kw = dict(data="synthetic", batch_size=8, cfg=small, log=lambda m: None)
    a, b = tmp_path / "a", tmp_path / "b"
    h4h_train.run("vanilla", a, seed=1, steps=4, **kw)
    part = h4h_train.run("vanilla", b, seed=1, steps=4, until=2, **kw)
    assert part == {"done": False, "steps": 2, "of": 4}
    h4h_train.run("vanilla", b, seed=1, steps=4, **kw)
    sa = h4h_train.load_weights(a / "vanilla-s1" / "final.pt").state_dict()
    sb = h4h_train.load_weights(b / "vanilla-s1" / "final.pt").state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
def test_h4h_report_end_to_end_on_tiny_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Train three tiny recipes, then the whole report from the CLI: every stage's files, the
    headline table beside the paper's numbers, the claims and the Fig. 7 ordering check."""
    import pandas as pd
    from typer.testing import CliRunner

    from cimkit.cli import app
    from cimkit.report.h4h import PAPER

    small = H4HSupernetConfig(width_scale=0.25, resolutions=(192, 224))
    runs = tmp_path / "runs"
    kw = dict(data="synthetic", batch_size=8, cfg=small, log=lambda m: None)
    for recipe in ("cnn_only", "tpi_freeze", "vanilla"):
        h4h_train.run(recipe, runs, seed=0, steps=2, **kw)
    out = tmp_path / "report"
    args = [
        "h4h-report",
        "--runs",
        str(runs),
        "--out",
        str(out),
        "--data",
        "synthetic",
        "--measure",
        "10",
        "--budgets",
        "2",
        "--cycles",
        "6",
        "--population",
        "4",
        "--top",
        "3",
        "--json",
    ]
    res = CliRunner().invoke(app, args + ["--ship", str(tmp_path / "ship")])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    for f in (
        "table2.csv",
        "measure.jsonl",
        "predictor.npz",
        "predictor.json",
        "search.csv",
        "remeasure.jsonl",
        "frontiers.csv",
        "fig8.csv",
        "headline.csv",
        "summary.json",
    ):
        assert (out / f).stat().st_size > 0, f  # fmt: skip
    for f in data["figures"]:
        assert (out / f).stat().st_size > 0
    assert {"fig7_latency.png", "fig7_energy.png", "fig9_ratio.png"} <= set(data["figures"])
    head = pd.read_csv(out / "headline.csv")
    assert set(head["metric"]) <= set(PAPER) and len(head) >= 6
    assert len(data["table2_claims"]) == 6 and isinstance(data["ordering"]["holds"], bool)
    fr = pd.read_csv(out / "frontiers.csv")
    assert set(fr["system"]) >= {"npu", "npu+8", "npu+1x4cu"}
    assert ((fr["test_acc"] >= 0) & (fr["test_acc"] <= 1)).all()
    # the answers are chosen by validation accuracy: never below the fewer-macro system's at
    # the same latency budget, nor below a smaller budget's (both stay feasible)
    lat = fr[fr.objective == "latency"].set_index(["system", "budget"])["val_acc"]
    for (system, b), v in lat.items():
        parent = {"npu+1": "npu", "npu+4": "npu+1", "npu+8": "npu+4"}.get(system)
        if parent is not None:
            assert v >= lat[parent, b]
        assert v >= lat[system].loc[:b].max()
    assert (fr["val_acc"] >= fr["search_val_acc"]).all()  # the predictor's pick was in the pool
    # a second run resumes from the cached stages and gives the same headline
    res2 = CliRunner().invoke(app, args)
    assert res2.exit_code == 0, res2.output
    pd.testing.assert_frame_equal(head, pd.read_csv(out / "headline.csv"))
    # the shipped artifacts: manifest checksums, loadable, and a report without any run uses them
    from cimkit.accuracy import h4h_shipped

    ship = tmp_path / "ship"
    m = h4h_shipped.manifest(ship)
    assert (m["recipe"], m["seed"]) == ("tpi_freeze", 0) and h4h_shipped.verify(ship) == []
    assert m["predictor"]["measured_subnets"] == 10
    assert h4h_shipped.load_supernet(ship).config == small
    assert len(h4h_shipped.records(ship)) == 10
    gs = [H4HGenome.from_dict(r["genome"]) for r in h4h_shipped.records(ship)]
    from cimkit.accuracy import h4h_predictor as P

    report_pred = P.AccuracyPredictor.from_npz(out / "predictor.npz")
    np.testing.assert_array_equal(P.predict(h4h_shipped.load_predictor(ship), gs),
                                  P.predict(report_pred, gs))  # fmt: skip
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(h4h_shipped, "SHIP_DIR", ship)
    out2 = tmp_path / "report2"
    args2 = [a if a != str(runs) else str(tmp_path / "empty") for a in args]
    args2[args2.index(str(out))] = str(out2)
    missing = CliRunner().invoke(app, args2)
    assert missing.exit_code == 2 and "--shipped" in missing.output
    res3 = CliRunner().invoke(app, args2 + ["--shipped"])
    assert res3.exit_code == 0, res3.output
    assert json.loads(res3.stdout)["supernet"] == "shipped"
    # the shipped measurements seeded the cache: the same records, nothing measured again
    assert P.read_records(out2 / "measure.jsonl") == h4h_shipped.records(ship)
    assert (out2 / "predictor.npz").read_bytes() == (out / "predictor.npz").read_bytes()
    bad = CliRunner().invoke(app, args2 + ["--shipped", "--recipe", "vanilla"])
    assert bad.exit_code == 2 and "--recipe tpi_freeze --seed 0" in bad.output


def test_select_chooses_by_measured_accuracy_and_inherits_feasible_answers() -> None:
    """select(): the answer is the pool's best measured genome; a parent system's answer and a
    smaller budget's are in the pool when feasible, so accuracy never falls with macros or
    budget; ties keep the inherited answer."""
    from cimkit.search import h4h as S

    rng = np.random.default_rng(3)
    gs = [CFG.random(rng) for _ in range(30)]
    macs = {g.key(): float(g.table().total_macs) for g in gs}
    val = {g.key(): float(rng.uniform(0.8, 0.9)) for g in gs}
    scale = {"npu": 1.0, "npu+1": 0.7, "npu+4": 0.5}  # more macros: everything cheaper

    def cost(g, system):
        return macs[g.key()] * scale[system]

    budgets = sorted(np.quantile([macs[k] for k in macs], [0.3, 0.6, 0.9]))
    results = []
    for si, s in enumerate(scale):
        for bi, b in enumerate(budgets):
            r = np.random.default_rng([si, bi])
            feas = [g for g in gs if cost(g, s) <= b]
            cands = [feas[i] for i in r.choice(len(feas), size=min(3, len(feas)), replace=False)]
            results.append(S.SearchResult(s, "latency", float(b), cands[0], 0.0, 0.0, 0, 0, [],
                                          [(g, 0.0) for g in cands]))  # fmt: skip
    calls = []

    def score(pool):
        calls.append(len(pool))
        return np.array([val[g.key()] for g in pool])

    sel = {(x.system, x.budget): x for x in S.select(results, score, cost)}
    assert len(sel) == 9
    for (s, b), x in sel.items():
        assert cost(x.genome, s) <= b and x.val_acc == val[x.genome.key()]
        # brute force over what the pool may hold: this search's candidates, the parent's answer
        # at this budget and this system's answers at smaller budgets, when feasible
        r = next(r for r in results if (r.system, r.budget) == (s, b))
        pool = [g for g, _ in r.candidates]
        parent = {"npu+1": "npu", "npu+4": "npu+1"}.get(s)
        if parent:
            pool.append(sel[parent, b].genome)
        pool += [sel[s, bb].genome for bb in budgets if bb < b]
        assert x.val_acc == max(val[g.key()] for g in pool if cost(g, s) <= b)
        if parent:
            assert x.val_acc >= sel[parent, b].val_acc
    # a tie: the inherited answer is kept
    g0 = sel["npu", budgets[0]].genome
    twin = next(g for g in gs if g.key() != g0.key() and cost(g, "npu+1") <= budgets[0])
    val[twin.key()] = val[g0.key()]
    tie = S.select([
        S.SearchResult("npu", "latency", budgets[0], g0, 0, 0, 0, 0, [], [(g0, 0.0)]),
        S.SearchResult("npu+1", "latency", budgets[0], twin, 0, 0, 0, 0, [], [(twin, 0.0)]),
    ], score, cost)  # fmt: skip
    assert tie[1].genome.key() == g0.key() and tie[1].source == "npu"


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "h4h"


def test_table1_yaml_is_the_space_and_sub_spaces_narrow_it(tmp_path: Path) -> None:
    from cimkit.accuracy.h4h_space import space_choices
    from cimkit.errors import SpecError
    from cimkit.specs.h4h_space import load_space, table1
    from cimkit.workload import h4h

    t1 = table1()
    assert [st.mbconv.name for st in t1.stages] == [st.name for st, _ in h4h.STAGES]
    assert space_choices(t1) == space_choices()  # the YAML and the module constants agree
    cnn = space_choices(load_space(str(EXAMPLES / "cnn_only.yaml")))
    narrow = space_choices(load_space(str(EXAMPLES / "hybrid_224.yaml")))
    rng = np.random.default_rng(4)
    for _ in range(20):
        g = CFG.random(rng, space=cnn)
        assert g.is_cnn_only and cnn.contains(g) is None
        h = CFG.random(rng, space=narrow)
        assert h.resolution == 224 and narrow.contains(h) is None
        assert all(v is None or v[2] == 2.0 for v in h.vit)
    assert narrow.contains(CFG.largest()) == "resolution"
    text = (EXAMPLES / "hybrid_224.yaml").read_text()
    for old, new, field in [
        ("widths: [32, 64], depths: [2, 6]", "widths: [32, 72], depths: [2, 6]",
         "stages[1].mbconv.widths"),
        ("resolutions: [224]", "resolutions: [200]", "resolutions"),
        ("stride: 2}\n  - mbconv: {name: mb3", "stride: 1}\n  - mbconv: {name: mb3",
         "stages[1].mbconv"),
        ("widths: [24, 64], depths: [0, 1]", "widths: [28, 64], depths: [0, 1]",
         "stages[2].vit.widths"),
        ("cnn_only: false", "cnn_only: false\nextra: 1", "extra"),
    ]:  # fmt: skip
        bad = tmp_path / "bad.yaml"
        assert old in text, old
        bad.write_text(text.replace(old, new, 1))
        with pytest.raises(SpecError, match=field.replace("[", r"\[").replace("]", r"\]")):
            load_space(str(bad))


def test_search_stays_inside_a_sub_space() -> None:
    from cimkit.accuracy.h4h_space import space_choices
    from cimkit.search import h4h as S
    from cimkit.specs.h4h_space import load_space

    cnn = space_choices(load_space(str(EXAMPLES / "cnn_only.yaml")))
    rng = np.random.default_rng(0)
    g = CFG.random(rng, space=cnn)
    for _ in range(50):
        g = S.mutate(g, rng, cnn)
        assert cnn.contains(g) is None and g.is_cnn_only
    # evolution with a toy fitness (more MACs = better) under a MAC budget, in the sub-space
    macs = lambda x: float(x.table().total_macs)  # noqa: E731
    best, f, c, _, hist, top = S.evolve(lambda gs: np.array([macs(x) for x in gs]), macs, 400e6,
                                        CFG, rng, population=6, sample=3, cycles=15, space=cnn,
                                        top=4)  # fmt: skip
    assert best is not None and cnn.contains(best) is None and c <= 400e6
    assert hist == sorted(hist)  # the best fitness never falls
    # the candidates: the answer first, then distinct feasible genomes in falling fitness
    assert top[0] == (best, f) and len(top) == 4
    assert len({g.key() for g, _ in top}) == 4
    assert all(macs(g) <= 400e6 and fit == macs(g) for g, fit in top)
    assert [fit for _, fit in top] == sorted((fit for _, fit in top), reverse=True)


@pytest.mark.slow
def test_kept_compact_checkpoint_resumes_on_a_machine_without_the_run(tmp_path: Path) -> None:
    import shutil

    small = H4HSupernetConfig(width_scale=0.25, resolutions=(192, 224))
    logs: list[str] = []
    kw = dict(data="synthetic", batch_size=8, cfg=small, log=logs.append, keep=tmp_path / "keep")
    part = h4h_train.run("cnn_only", tmp_path / "a", seed=0, steps=4, until=2, **kw)
    assert not part["done"]
    kept = tmp_path / "keep" / "cnn_only-s0"
    assert (kept / "ckpt.compact.pt").is_file()
    shutil.rmtree(tmp_path / "a")  # a fresh machine: only the committed folder is there
    res = h4h_train.run("cnn_only", tmp_path / "b", seed=0, steps=4, **kw)
    assert res["done"] and any("resumed from" in m and "compact" in m for m in logs)
    assert {p.name for p in kept.iterdir()} == {"final.pt", "result.json", "log.txt"}
    # phase 2 finds phase 1's weights in the kept folder
    assert h4h_train.run("tpi_freeze", tmp_path / "c", seed=0, steps=1, **kw)["done"]


def test_sweep_best_never_falls_with_the_budget() -> None:
    from cimkit.search import h4h as S

    class ToyHardware:  # cost = MACs at ImageNet scale, the same on every "system"
        evaluated = 0

        def cost(self, g, system, objective) -> float:
            return float(g.table().total_macs)

    fit = lambda gs: np.array([-abs(float(g.table().total_weights) - 9e6) for g in gs])  # noqa: E731
    res = S.sweep(ToyHardware(), fit, CFG, ["npu"], "latency", np.array([1.2e9, 0.5e9, 0.8e9]),
                  log=lambda m: None, population=5, sample=2, cycles=6)  # fmt: skip
    assert [r.budget for r in res] == [0.5e9, 0.8e9, 1.2e9]
    f = [r.fitness for r in res]
    assert f == sorted(f) and all(r.cost <= r.budget for r in res)


@pytest.mark.slow
def test_the_package_ships_the_h4h_supernet_and_predictor_with_a_manifest() -> None:
    """The shipped artifacts match their manifest byte for byte, and each other: the records
    re-measure on the shipped supernet, and refitting on them gives the shipped predictor and
    the manifest's held-out metrics."""
    from cimkit.accuracy import h4h_predictor as P
    from cimkit.accuracy import h4h_shipped
    from cimkit.accuracy.data import load
    from cimkit.accuracy.train import measure

    m = h4h_shipped.manifest()
    assert h4h_shipped.verify() == []
    assert m["recipe"] == "tpi_freeze" and m["training"]["steps"] == 1000
    assert m["phase1"]["recipe"] == "cnn_only" and m["phase1"]["steps"] == 2000
    recs = h4h_shipped.records()
    assert len(recs) == m["predictor"]["measured_subnets"] >= 300
    net = h4h_shipped.load_supernet()
    assert net.config == H4HSupernetConfig()
    splits = load("fashion-mnist")
    for r in recs[:2]:  # the largest and the smallest subnet
        g = H4HGenome.from_dict(r["genome"])
        acc = measure(net, g, splits.x_train[: P.N_CALIB], splits.x_val, splits.y_val)
        assert abs(acc - r["acc"]) <= 0.001  # the same up to float16 rounding of the weights
    pred, info = P.fit(recs, seed=m["seed"])
    assert info["model"] == m["predictor"]["model"]
    assert info["heldout"] == pytest.approx(m["predictor"]["heldout"], abs=1e-4)
    gs = [H4HGenome.from_dict(r["genome"]) for r in recs[:50]]
    np.testing.assert_allclose(P.predict(pred, gs), P.predict(h4h_shipped.load_predictor(), gs),
                               atol=1e-5)  # fmt: skip


def test_table2_means_standard_errors_and_claims_by_hand(tmp_path: Path) -> None:
    """Two seeds per recipe: mean, SE = std(ddof=1)/sqrt(2) = |a - b| / 2, and the claims'
    verdicts (difference beyond or within two combined SE) computed by hand."""
    from cimkit.report.h4h import table2_claims, table2_frame

    acc = {  # recipe: ((min_net, max_net) seed 0, seed 1)
        "vanilla": ((0.80, 0.86), (0.83, 0.86)),
        "cnn_only": ((0.83, 0.87), (0.83, 0.89)),
        "tpi_freeze": ((0.84, 0.88), (0.84, 0.88)),
        "tpi_unfreeze": ((0.85, 0.89), (0.86, 0.90)),
    }
    for recipe, seeds in acc.items():
        for seed, (lo, hi) in enumerate(seeds):
            d = tmp_path / f"{recipe}-s{seed}"
            d.mkdir()
            rec = {"recipe": recipe, "seed": seed, "min_net": lo, "max_net": hi}
            (d / "result.json").write_text(json.dumps(rec))
    df = table2_frame(tmp_path).set_index("recipe")
    assert df.loc["vanilla", "seeds"] == "0 1"
    assert df.loc["vanilla", "min_net"] == pytest.approx(81.5)
    assert df.loc["vanilla", "min_net_se"] == pytest.approx(1.5)  # |80 - 83| / 2
    assert df.loc["cnn_only", "max_net_se"] == pytest.approx(1.0)
    assert df.loc["tpi_freeze", "min_net_se"] == pytest.approx(0.0)
    claims = {c: (h, e) for c, h, e in table2_claims(df.reset_index())}
    # cnn_only 83 vs vanilla 81.5: +1.5 pp, combined SE hypot(0, 1.5) = 1.5 -> within 2 SE
    h, e = claims["CNN-only min_net beats vanilla hybrid min_net (the gradient conflict)"]
    assert h and "+1.50 pp" in e and "SE 1.50" in e and "within 2 SE" in e
    # tpi_freeze max 88 vs vanilla max 86, both SE 0 -> beyond
    h, e = claims["TPI (freeze) max_net >= vanilla hybrid max_net"]
    assert h and "+2.00 pp" in e and "beyond 2 SE" in e
    # freeze 84 vs unfreeze 85.5 (SE hypot(0, 0.5) = 0.5): -1.5 pp, beyond 2 SE, does not hold
    h, e = claims["freezing helps: TPI freeze min_net >= unfreeze"]
    assert h is False and "-1.50 pp" in e and "beyond 2 SE" in e
    # ">" and "beats" are strict, ">=" is not: tpi_freeze max 88 vs cnn_only max 88 (a tie)
    assert claims["hybrid max_net (TPI) beats CNN-only max_net"][0] is False
    assert claims["TPI (freeze) min_net >= CNN-only min_net"][0] is True  # 84 vs 83
    # one seed only: the SE is NaN and the verdict says so
    for recipe in acc:
        (tmp_path / f"{recipe}-s1" / "result.json").unlink()
    one = {c: e for c, _, e in table2_claims(table2_frame(tmp_path))}
    assert all("one seed" in e for e in one.values())
