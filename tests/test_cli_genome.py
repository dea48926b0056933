"""``--genome FILE`` on every command that takes a network (issue 15 item 2).

The genome.json of ``cimkit export`` names a family's network and its per-layer bits.
``schedule``, ``generate`` and ``pimhls-report`` read it with the reader ``evaluate`` uses
(:func:`cimkit.runs.genome.read_genome`), so the layer table they work on is the genome's own
workload (:func:`cimkit.runs.genome.genome_workload`), row for row what ``--network
mobilenetv2_ofa --net-arg ...`` builds from the same choices; a bad file is one line naming
--genome, exit 2.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cimkit.cli import app
from cimkit.runs.genome import FORMAT, genome_record, genome_workload, read_genome

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
CHIP = ROOT / "examples" / "chips" / "rram_baseline.yaml"
runner = CliRunner()

#: A small OFA MobileNetV2 (32 x 32 input, 10 classes, depth 2, kernel 3, expand 3): the same
#: network as these --net-arg values give `--network mobilenetv2_ofa`.
NET_ARGS = ["depths=2,2,2,2,2", "kernels=3", "expands=3", "resolution=32", "num_classes=10"]
#: Cheap schedule settings (greedy grouping, no tuning; SRAM so layers are swapped in groups).
FAST = ["--tech", "sram", "--area", "4", "--no-tune", "--method", "greedy"]


def _run(*args: object) -> typing.Any:
    return runner.invoke(app, [str(a) for a in args])


def _genome(path: Path, pw_weight_bits: int = 8) -> Path:
    """An exported genome (genome_record of the CIMNAS space) set to the small network above,
    every bit width 8 except the pointwise weights (``pw_weight_bits``)."""
    from cimkit.space import load_space

    space = load_space(SPACE)
    rec = genome_record(space, space.baseline_genome(), run="r", design=0)
    rec["resolution"], rec["num_classes"] = 32, 10
    for name in rec["genes"]:
        prefix = name.rstrip("0123456789")
        value = {"depth_s": 2, "kernel_b": 3, "expand_b": 3, "pw_w_b": pw_weight_bits}
        rec["genes"][name] = value.get(prefix, 8)
    for key in ("depths", "kernels", "expands", "bits"):  # the predictor's form: not read here
        rec.pop(key)
    path.write_text(json.dumps(rec))
    return path


def _net_args() -> list[str]:
    return [a for v in NET_ARGS for a in ("--net-arg", v)]


def _json(res: typing.Any) -> typing.Any:
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_the_genome_is_the_network_of_its_choices(tmp_path: Path) -> None:
    from cimkit.workload.builtin import get_network

    wl = genome_workload(read_genome(str(_genome(tmp_path / "g.json"))))
    net = get_network("mobilenetv2_ofa", depths=(2,) * 5, kernels=3, expands=3, resolution=32,
                      num_classes=10)  # fmt: skip
    pd.testing.assert_frame_equal(wl.to_frame(), net.to_frame())
    mixed = genome_workload(read_genome(str(_genome(tmp_path / "m.json", pw_weight_bits=4))))
    # The searched blocks' pointwise layers (expand + project of 2 blocks in each of 5 stages)
    # take the genome's 4 bits; the fixed first and 320-channel blocks and the feature mix
    # (no genes of the space) keep 8.
    pw = {la.name: la.weight_bits for la in mixed.layers if la.op == "pwconv"}
    fixed = {"features.1.conv.1", "features.12.conv.0.0", "features.12.conv.2", "features.13.0"}
    assert fixed <= set(pw) and {pw.pop(n) for n in fixed} == {8}
    assert len(pw) == 2 * 2 * 5 and set(pw.values()) == {4}
    assert {la.weight_bits for la in mixed.layers if la.op == "dwconv"} == {8}


def test_schedule_genome_equals_network_with_the_genome_choices(tmp_path: Path) -> None:
    g = _genome(tmp_path / "g.json")
    by_genome = _json(_run("schedule", "--genome", g, *FAST, "--json"))
    by_network = _json(_run("schedule", "--network", "mobilenetv2_ofa", *_net_args(), *FAST,
                            "--json"))  # fmt: skip
    assert by_genome["network"] == by_network["network"] == "mobilenetv2_ofa"
    assert by_genome["pieces"] == by_network["pieces"]
    assert by_genome["summary"] == by_network["summary"]
    assert len({p["group"] for p in by_genome["pieces"]}) > 1  # weights swapped in groups
    # Without --json: the table title names the genome's network.
    text = _run("schedule", "--genome", g, *FAST)
    assert text.exit_code == 0 and text.stdout.lstrip().startswith("mobilenetv2_ofa:")


def test_schedule_genome_uses_its_per_layer_bits(tmp_path: Path) -> None:
    from cimkit.pimhls.optimize import optimize, schedule_summary, schedule_table

    g = _genome(tmp_path / "m.json", pw_weight_bits=4)
    doc = _json(_run("schedule", "--genome", g, *FAST, "--json", "--out", tmp_path / "o"))
    wl = genome_workload(read_genome(str(g)))  # the reader's own workload, scheduled directly
    sched = optimize(wl, 4.0, ("sram",), False, None, method="greedy")
    expected = schedule_table(sched).to_dict(orient="records")
    assert doc["pieces"] == json.loads(json.dumps(expected, default=lambda v: v.item()))
    assert doc["summary"] == json.loads(json.dumps(schedule_summary(sched), default=str))
    assert doc["summary"] == json.loads((tmp_path / "o" / "summary.json").read_text())
    eight = _json(_run("schedule", "--genome", _genome(tmp_path / "g.json"), *FAST, "--json"))
    # 4-bit pointwise weights need fewer SRAM arrays than 8-bit ones: fewer groups or cycles.
    assert doc["summary"] != eight["summary"]
    assert doc["summary"]["cycles"] <= eight["summary"]["cycles"]


def test_generate_genome_does_what_the_network_does(tmp_path: Path) -> None:
    """Both ways give the same design, or the same refusal (the genome's naming --genome)."""
    g = _genome(tmp_path / "g.json")
    common = ["--tech", "rram", "--area", "16", "--json"]
    a = _run("generate", "--genome", g, "--out", tmp_path / "a", *common)
    b = _run("generate", "--network", "mobilenetv2_ofa", *_net_args(), "--out", tmp_path / "b",
             *common)  # fmt: skip
    assert a.exit_code == b.exit_code, (a.output, b.output)
    if a.exit_code == 0:
        da, db = json.loads(a.stdout), json.loads(b.stdout)
        assert da["instructions"] == db["instructions"] > 0
        assert da["estimate_cycles"] == db["estimate_cycles"]
        program = (tmp_path / "a" / "program.hex").read_text()
        assert program == (tmp_path / "b" / "program.hex").read_text()
        return
    assert a.exit_code == 2 and a.stdout == "" and len(a.stderr.splitlines()) == 1
    network_error = b.stderr.strip().removeprefix("error: ")
    assert a.stderr.strip().endswith(network_error)
    if a.stderr.strip() != b.stderr.strip():  # refused before the optimizer, by name
        assert a.stderr.startswith("error: --genome: the mobilenetv2_ofa network cannot be")


@pytest.mark.slow
def test_pimhls_report_sweeps_the_genome_network(tmp_path: Path) -> None:
    g = _genome(tmp_path / "g.json")
    doc = _json(_run("pimhls-report", "--genome", g, "--area", "8", "--out", tmp_path, "--json"))
    csv = pd.read_csv(tmp_path / "pimhls_sweep.csv")
    assert set(csv["network"]) == {"mobilenetv2_ofa"} and len(csv) == len(doc["rows"]) == 9
    assert (tmp_path / "pimhls_latency_mobilenetv2_ofa.png").is_file()
    from cimkit.pimhls.optimize import optimize_levels

    wl = genome_workload(read_genome(str(g)))
    rram = optimize_levels(wl, 8.0, ("rram",), None, tune_passes=2)
    rows = {r["design"]: r for r in doc["rows"]}
    for level, sched in rram.items():
        assert rows[f"RRAM-{level}"]["cycles"] == sched.cycles


# --------------------------------------------------------------------------- bad genomes
def _bad_genomes(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """kind -> (--genome value, text its error line must hold)."""
    good = json.loads(_genome(tmp_path / "g.json").read_text())
    other = dict(good, family="vgg8")
    missing = dict(good, genes={k: v for k, v in good["genes"].items() if k != "depth_s0"})
    even = dict(good, genes={**good["genes"], "kernel_b0": 4})
    files = {}
    for kind, rec in (("family", other), ("genes", missing), ("value", even)):
        files[kind] = tmp_path / f"{kind}.json"
        files[kind].write_text(json.dumps(rec))
    (tmp_path / "broken.json").write_text('{"format": "cimkit-genome/1", ')
    return {
        "missing_file": (str(tmp_path / "nosuch.json"), "file not found"),
        "not_json_text": ("nosuchname", "not a JSON object and no such file"),
        "broken_json": (str(tmp_path / "broken.json"), "not JSON"),
        "accuracy_genome": ('{"depths": [2, 2, 2, 2, 2], "kernels": 3}', f'"format": "{FORMAT}"'),
        "family": (str(files["family"]), "family 'vgg8'; allowed: ofa_mobilenetv2, resnet50"),
        "genes": (str(files["genes"]), "missing ['depth_s0']"),
        "value": (str(files["value"]), "kernel"),
    }


@pytest.mark.parametrize("command", ["schedule", "generate", "pimhls-report", "evaluate"])
def test_bad_genome_is_one_line_naming_genome(command: str, tmp_path: Path) -> None:
    extra = {
        "schedule": [],
        "generate": ["--out", tmp_path / "o"],
        "pimhls-report": ["--out", tmp_path / "o"],
        "evaluate": ["--hw", CHIP],  # the reader evaluate has used since export existed
    }[command]
    for kind, (value, needle) in _bad_genomes(tmp_path).items():
        res = _run(command, "--genome", value, *extra)
        assert res.exit_code == 2 and res.stdout == "", (kind, res.output)
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --genome"), (kind, res.stderr)
        assert needle in lines[0], (kind, lines[0])


def test_genome_beside_network_or_net_arg_is_refused(tmp_path: Path) -> None:
    g = _genome(tmp_path / "g.json")
    out = ["--out", tmp_path / "o"]
    for command, extra in (("schedule", []), ("generate", out)):
        both = _run(command, "--genome", g, "--network", "mlp", *extra)
        assert both.exit_code == 2
        assert both.stderr.startswith("error: --genome and --network 'mlp': give one")
        arg = _run(command, "--genome", g, "--net-arg", "resolution=64", *extra)
        assert arg.exit_code == 2
        assert arg.stderr.startswith("error: --net-arg does not apply to --genome")
    rep = _run("pimhls-report", "--genome", g, "--networks", "mlp", *out)
    assert rep.exit_code == 2 and "error: --genome and --networks: give one" in rep.stderr


def test_predict_refuses_a_genome_of_another_family(tmp_path: Path) -> None:
    g = tmp_path / "r.json"
    g.write_text(json.dumps({"format": FORMAT, "family": "resnet50", "genes": {}}))
    res = _run("predict", "--genome", g)
    assert res.exit_code == 2 and res.stderr.startswith("error: --genome: a 'resnet50' genome")


@pytest.mark.parametrize(
    "flags",
    [["--weight-bits", "4"], ["--act-bits", "8"], ["--weight-bits", "8", "--act-bits", "6"]],
)
def test_evaluate_refuses_explicit_bits_beside_a_genome(flags: list[str], tmp_path: Path) -> None:
    """The genome sets every layer's bits, so an explicit --weight-bits/--act-bits (even one equal
    to the default) would be ignored: refused in one line instead of a silently other number."""
    g = _genome(tmp_path / "g.json")
    res = _run("evaluate", "--hw", CHIP, "--genome", g, *flags)
    assert res.exit_code == 2 and res.stdout == "", res.output
    named = "/".join(f for f in flags if f.startswith("--"))
    assert res.stderr.startswith(f"error: {named} does not apply to --genome"), res.stderr
    ok = _run("evaluate", "--hw", CHIP, "--genome", g, "--json")  # without the flag it runs
    assert _json(ok)["network"]
