"""CLI flag fuzzer: every option of every ``cimkit`` command with bad values of its type.

The command tree is walked with ``typer.main.get_command(app)``, so a command or option added
later is fuzzed too (by its click type, until it gets a role below). Each case is one command's
minimal valid invocation (:data:`BASES`: small networks, ``--pop 4 --gen 1``, 8 images) with one
option replaced or added. A case passes when the command exits 2 (click usage error or one
``error:`` line) or 0 with only finite, non-negative numbers in stdout and output files; a
``must_fail`` value (NaN, a negative count, a missing input file, ...) must not exit 0.

Not run in the quick tier, with the reason:

* ``train supernet``: an accepted run trains and measures subnets (over 5 minutes even at
  ``--steps-fp 2 --steps-q 1 --width 0.25`` on synthetic data), so only its must-fail values
  run, in the slow tier, in a child process stopped after 60 s (they are rejected before
  training); ``--ship`` is never given (it copies results into the source tree);
* ``train predictor``: an accepted run fits the predictors for 2 to 6 minutes, so only its
  must-fail values run (quick tier; they are rejected before fitting); its ``--json`` and
  ``--quiet`` flags are never given (each would start a fit);
* ``generate --simulate``: runs Icarus Verilog (seconds per case, needs iverilog): slow tier;
* may-pass values of commands that take a second or more per accepted run (validate,
  pimhls-report, compare, report, histograms, export --onnx): slow tier; their must-fail
  values (rejected before any work) stay in the quick tier.

``cimkit dashboard`` serves until interrupted: its server loop is replaced by one that returns
at once, so an accepted invocation returns after binding its socket (requests are not served).
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .harness import invoke, invoke_subprocess, judge
from .mutants import ROOT
from .tier import CaseResult, case_dir_name, no_charts

CHIP = ROOT / "examples" / "chips" / "rram_baseline.yaml"
SPACE = ROOT / "examples" / "spaces" / "cimnas_rram_mobilenetv2.yaml"
GENOME = '{"depths": [2, 2, 2, 2, 2], "kernels": 3, "expands": 3, "bits": 8}'
#: Location no process can create a file in, even as root (a read-only directory is not
#: read-only for root, who runs these tests in CI containers).
UNWRITABLE = "/proc/cimkit-hardening/out"

#: Minimal valid invocation per command: (positional arguments, options). ``{out}``, ``{store}``
#: (a copy of a store holding run ``fz`` and study ``c``), ``{fx}`` (shared fixture files) are
#: filled per case.
BASES: dict[str, tuple[list[str], dict[str, str | None]]] = {
    "evaluate": ([], {"--hw": str(CHIP), "--network": "mlp", "--out": "{out}"}),
    "import": ([], {"--onnx": "{fx}/tiny.onnx", "--out": "{out}"}),
    "networks": ([], {}),
    "validate": ([], {"--out": "{out}/validation.csv"}),
    "spec": ([str(CHIP)], {}),
    "schedule": ([], {"--network": "mlp", "--out": "{out}"}),
    "generate": ([], {"--out": "{out}", "--network": "mlp"}),
    "pimhls-report": ([], {"--out": "{out}", "--networks": "mlp", "--areas": "16"}),
    "space": ([str(SPACE)], {}),
    "search": (
        [str(SPACE)],
        {
            "--name": "fz",
            "--pop": "4",
            "--gen": "1",
            "--backend": "vectorized",
            "--store": "{store}",
            "--overwrite": None,  # None: a flag
        },
    ),
    # --remeasure 0 --no-figures: re-measuring on the supernet (~10-35 s a design) and the
    # Fig. 2 / Fig. 6 sections are exercised by their own tests; here only the flags are fuzzed.
    "compare": (
        [str(SPACE)],
        {
            "--pop": "4",
            "--gen": "2",
            "--store": "{store}",
            "--study": "c",
            "--remeasure": "0",
            "--no-figures": None,
        },
    ),
    "report": (
        ["fz"],
        {"--store": "{store}", "--out": "{out}", "--remeasure": "0", "--no-figures": None},
    ),
    "osa-energy": ([], {}),
    "osa-report": (
        [],
        {
            "--out": "{out}",
            "--images": "2",
            "--calib-images": "2",
            "--search-images": "2",
            "--fixed": "8",
            "--constraints": "0.01",
            "--grid": "2",
            "--map-images": "1",
        },
    ),  # fmt: skip
    "predict": ([], {"--random": "2"}),
    "histograms": (
        [],
        {"--genome": GENOME, "--out": "{out}/h.npz", "--images": "8", "--data": "digits"},
    ),
    "dashboard": ([], {"--store": "{store}", "--port": "0"}),
    "export": (["fz"], {"--out": "{out}", "--store": "{store}", "--no-onnx": None}),
    "runs list": ([], {"--store": "{store}"}),
    "runs show": (["fz"], {"--store": "{store}"}),
    "runs delete": (["fz"], {"--store": "{store}"}),
    "train predictor": ([], {"--run": "{fx}/accrun"}),
    "h4h-report": ([], {"--runs": "{fx}", "--out": "{out}", "--data": "synthetic"}),
    "train h4h": (
        [],
        {
            "--out": "{out}",
            "--data": "synthetic",
            "--steps": "1",
            "--batch-size": "4",
            "--recipe": "cnn_only",
        },
    ),  # fmt: skip
    "train supernet": (
        [],
        {
            "--out": "{out}",
            "--data": "synthetic",
            "--steps-fp": "2",
            "--steps-q": "1",
            "--width": "0.25",
        },
    ),
}

#: Commands whose accepted runs take a second or more: may-pass values only in the slow tier.
HEAVY = {"validate", "pimhls-report", "compare", "report", "histograms", "train predictor",
         "train h4h"}  # fmt: skip
#: Commands only in the slow tier.
SLOW_ONLY = {"train supernet"}
#: Commands whose accepted runs are too long for any tier (minutes: training, or fitting the
#: predictors on the shipped measurements): only must-fail values, no base run, no toggles.
NEVER_ACCEPTED = {"train supernet", "train predictor"}
# h4h-report: trains nothing but measures subnets and runs dozens of searches (minutes);
# tests/accuracy/test_h4h.py runs it end to end on tiny runs.
NEVER_ACCEPTED |= {"h4h-report"}
# osa-report: even a 2-image run loads the network, calibrates 20 layers, searches thresholds
# and draws 6 figures (about a minute on the shared machine); tests/osa/test_report.py runs it.
NEVER_ACCEPTED |= {"osa-report"}
#: Of those, the ones run in a child process stopped at a limit (a must-fail value that is
#: accepted would train for minutes in-process).
SUBPROCESS = {"train supernet"}
#: How long such a command may run before its value counts as accepted (it loads torch and the
#: data set, about 5 s, before training starts).
SUBPROCESS_LIMIT_S = 60.0
#: Options never given (with the reason in the module docstring).
NEVER = {
    ("train supernet", "ship"),
    # Flags of a never-accepted command would each start the minutes-long fit.
    ("train predictor", "json_output"),
    ("train predictor", "quiet"),
    ("h4h-report", "json_output"),
    ("h4h-report", "quiet"),
    ("h4h-report", "shipped"),
    ("osa-report", "json_output"),
    ("osa-report", "quiet"),
    # A toggle of a never-accepted command; the correction itself: tests/osa/test_bias_correction.py
    ("osa-report", "bias_correction"),
    ("osa-report", "refine"),  # search_thresholds(refine=True): tests/osa/test_thresholds.py
    # the saliency-blind control: tests/osa/test_report.py (end to end) and test_osa_layers.py
    ("osa-report", "random_control"),
}
SLOW_OPTIONS = {("generate", "simulate"), ("export", "onnx")}  # iverilog; torch + onnx export

# Roles: what an option means, hence its bad values and which of them must fail.
ROLES: dict[tuple[str, str], str] = {}


def _role(commands: str, names: str, role: str) -> None:
    for c in commands.split(","):
        for n in names.split(","):
            ROLES[(c, n)] = role


_role("evaluate,import", "weight_bits,act_bits", "count")
_role("search,compare", "pop", "count")
_role("search,compare", "gen", "size")  # 0 generations: the initial population only
_role("compare,report", "remeasure,finetune_steps", "size")  # 0: none
_role("search", "workers", "count")
_role("predict", "bits", "count")
_role("predict", "random", "size")
_role("histograms", "images", "count")
_role("train supernet", "steps_fp,steps_q", "size")
_role("generate,search,compare,predict,train supernet,train predictor", "seed", "seed")
_role("h4h-report", "seed", "seed")
_role("h4h-report", "measure,budgets,cycles,population,top", "count")
_role("h4h-report", "recipe,data", "enum")
_role("h4h-report", "out,ship", "out_dir")
_role("h4h-report", "runs", "in_dir")
_role("h4h-report", "hw,space", "in_file")
_role("train h4h", "seed", "seed")
_role("train h4h", "steps,until,batch_size", "count")
_role("train h4h", "recipe,data", "enum")
_role("train h4h", "out,keep", "out_dir")
_role("dashboard", "port", "port")
_role("runs show", "top", "count")
_role("export", "design", "index")
_role("export", "out", "out_dir")
_role("export,runs list,runs show,runs delete", "store", "store_existing")
_role("export,runs show,runs delete", "run", "run_ref")
_role("search", "p_c,p_m", "prob")
_role("search", "eta_c,eta_m", "positive")
_role("search,compare", "area", "positive")
_role("schedule,generate", "area_mm2", "positive")
_role("train supernet", "width", "positive")
_role("evaluate,schedule", "hw", "in_file")
_role("evaluate,import", "onnx", "in_file")
_role("osa-report", "model", "in_file")
_role("generate", "weights", "in_file")
_role("spec", "check", "in_file")
_role("space,search,compare", "space", "in_file")
_role("train predictor", "run", "in_dir")
_role(
    "evaluate,import,schedule,generate,pimhls-report,compare,report,train supernet",
    "out",
    "out_dir",
)
_role("search", "report", "out_dir")
_role("validate", "out", "out_csv")
_role("histograms", "out", "out_npz")
_role("search,compare", "store", "store_new")
_role("report,dashboard", "store", "store_existing")
_role(
    "search,compare",
    "objective",
    "enum",
)
_role("search", "algorithm,backend", "enum")
_role("schedule,generate", "tech,network", "enum")
_role("schedule", "method", "enum")
_role("evaluate", "network", "enum")
_role("import", "route", "enum")
_role("histograms,train supernet", "data", "enum")
_role("search", "pareto", "enum_list")
_role("pimhls-report", "networks", "enum_list")
_role("pimhls-report", "areas", "number_list")
_role("osa-report", "candidates,fixed,constraints", "number_list")
_role("osa-report", "device,bias_model", "enum")
_role("osa-report", "out", "out_dir")
_role("search,compare", "priority", "irrelevant")  # objective edap: priority does not apply
_role("evaluate,import", "input_shape,input_dtype", "irrelevant")  # not a --torch model
_role("search", "address", "irrelevant")  # vectorized backend: no Ray cluster
_role("search", "name", "name")
_role("compare", "study", "name")
_role("search", "resume", "run_ref")
_role("report", "run", "run_ref")
_role("dashboard", "host", "host")
_role("evaluate,import", "torch_factory", "code_ref")
_role("predict,histograms,schedule,generate,pimhls-report", "genome", "genome")
_role("schedule,generate", "net_arg", "net_arg")

# cimkit analyze sensitivity | coopt (docs/analyses.md): minimal invocations; an accepted run
# draws three PNGs or runs seven searches (seconds), so their may-pass values are slow tier.
BASES["analyze sensitivity"] = ([str(SPACE)], {"--n": "20", "--out": "{out}"})
BASES["analyze coopt"] = ([str(SPACE)], {"--pop": "4", "--gen": "1", "--out": "{out}"})
HEAVY |= {"analyze sensitivity", "analyze coopt"}
_role("analyze sensitivity,analyze coopt", "space", "in_file")
_role("analyze sensitivity,analyze coopt", "out", "out_dir")
_role("analyze sensitivity,analyze coopt", "seed", "seed")
_role("analyze sensitivity,analyze coopt", "area", "positive")
_role("analyze sensitivity", "n", "count")
_role("analyze coopt", "pop", "count")
_role("analyze coopt", "gen", "size")
_role("analyze coopt", "objective", "enum")
_role("analyze coopt", "priority", "irrelevant")  # objective edap: priority does not apply

# cimkit h4h-figures (docs/h4h-hardware.md): an accepted run draws two PNGs (about 2 s).
BASES["h4h-figures"] = ([], {"--out": "{out}"})
HEAVY |= {"h4h-figures"}
_role("h4h-figures", "out", "out_dir")
BASES["npu-validate"] = ([], {})
_role("npu-validate", "out", "out_dir")

_LONG = "x" * 10000

#: role -> {value kind: (value, must_fail)}
VALUES: dict[str, dict[str, tuple[str, bool]]] = {
    "int": {
        "negative": ("-1", True),
        "zero": ("0", False),
        "huge": ("1000000000", False),
        "1e999": ("1e999", True),
        "nan": ("nan", True),
        "inf": ("inf", True),
        "abc": ("abc", True),
        "empty": ("", True),
    },
    "float": {
        "negative": ("-1", True),
        "zero": ("0", False),
        "huge": ("1e8", False),
        "1e999": ("1e999", True),
        "nan": ("nan", True),
        "inf": ("inf", True),
        "-inf": ("-inf", True),
        "abc": ("abc", True),
        "empty": ("", True),
    },
    "in_file": {
        "missing": ("{case}/missing.yaml", True),
        "directory": ("{fx}/adir", True),
        "random_bytes": ("{fx}/random.bin", True),
        "empty": ("", True),
        "long": (_LONG, True),
        "under_file": ("{fx}/afile/sub.yaml", True),
    },
    "in_dir": {
        "missing": ("{case}/missing", True),
        "empty_dir": ("{fx}/adir", True),
        "file": ("{fx}/afile", True),
        "empty": ("", True),
        "long": (_LONG, True),
    },
    "out_dir": {
        "file_in_the_way": ("{fx}/afile", True),
        "under_file": ("{fx}/afile/sub", True),
        "unwritable": (UNWRITABLE, True),
        "empty": ("", True),
        "long": ("{case}/" + _LONG, True),
        "dotdot": ("../x", False),
        "missing_parents": ("{case}/new/deeper/out", False),
    },
    "out_csv": {
        "directory": ("{fx}/adir", True),
        "under_file": ("{fx}/afile/sub.csv", True),
        "unwritable": (UNWRITABLE + ".csv", True),
        "empty": ("", True),
        "long": ("{case}/" + _LONG, True),
        "missing_parents": ("{case}/new/deeper/out.csv", False),
    },
    "out_npz": {
        "directory": ("{fx}/adir", True),
        "under_file": ("{fx}/afile/sub.npz", True),
        "unwritable": (UNWRITABLE + ".npz", True),
        "empty": ("", True),
        "long": ("{case}/" + _LONG, True),
        "missing_parents": ("{case}/new/deeper/out.npz", False),
    },
    "store_new": {
        "directory": ("{fx}/adir", True),
        "under_file": ("{fx}/afile/s.sqlite", True),
        "unwritable": (UNWRITABLE + ".sqlite", True),
        "random_bytes": ("{fx}/random.bin", True),
        "empty": ("", True),
        "long": ("{case}/" + _LONG, True),
        "missing": ("{case}/new.sqlite", False),
    },
    "store_existing": {
        "missing": ("{case}/missing.sqlite", True),
        "directory": ("{fx}/adir", True),
        "random_bytes": ("{fx}/random.bin", True),
        "empty": ("", True),
        "long": (_LONG, True),
    },
    "enum": {
        "empty": ("", True),
        "dotdot": ("../x", True),
        "long": (_LONG, True),
        "unknown": ("nosuchname", True),
        "markup": ("[/x]", True),
    },
    "enum_list": {
        "empty": ("", True),
        "unknown": ("nosuchname", True),
        "empty_item": (",", True),
        "long": (_LONG, True),
        "markup": ("[/x]", True),
    },
    "number_list": {
        "empty": ("", True),
        "abc": ("abc", True),
        "nan": ("nan", True),
        "inf": ("inf", True),
        "negative": ("-1", True),
        "zero": ("0", True),
        "empty_item": ("16,,32", True),
        "long": (_LONG, True),
    },
    "irrelevant": {
        "value": ("1,2,3,4", True),
        "empty": ("", True),
        "nan": ("nan", True),
        "markup": ("[/x]", True),
    },
    "name": {
        "empty": ("", True),
        "dotdot": ("../x", False),
        "long": (_LONG, False),
        "markup": ("[/x]", False),
        "newline": ("a\nb", False),
    },
    "run_ref": {
        "empty": ("", True),
        "unknown": ("nosuchrun", True),
        "long": (_LONG, True),
        "markup": ("[/x]", True),
    },
    "host": {
        "empty": ("", True),
        "unknown": ("nosuchhost.invalid", True),
        "long": (_LONG, True),
        "markup": ("[/x]", True),
    },
    "code_ref": {
        "empty": ("", True),
        "no_colon": ("nosuchmodule", True),
        "missing_module": ("nosuchmodule:build", True),
        "not_callable": ("math:pi", True),
        "needs_arguments": ("json:loads", True),
        "long": (_LONG, True),
    },
    "genome": {
        "empty": ("", True),
        "not_json": ("nosuchname", True),
        "missing_file": ("{case}/missing.json", True),
        "bad_depth": ('{"depths": [9, 2, 2, 2, 2], "kernels": 3, "expands": 3}', True),
        "nan_bits": ('{"depths": [2, 2, 2, 2, 2], "kernels": 3, "expands": 3, "bits": NaN}', True),
        "wrong_type": ("[1, 2, 3]", True),
        "long": (_LONG, True),
    },
    # The base network is mlp (arguments features, tokens).
    "net_arg": {
        "not_a_number": ("features=abc", True),
        "no_key": ("=1", True),
        "negative": ("features=-1", True),
        "zero": ("tokens=0", True),
        "huge": ("features=1000000000", True),
        "1e999": ("features=1e999", True),
        "nan": ("features=nan", True),
        "unknown_key": ("nosuchkey=1", True),
        "empty": ("", True),
    },
    "string": {
        "empty": ("", False),
        "dotdot": ("../x", False),
        "long": (_LONG, False),
        "unknown": ("nosuchname", False),
        "markup": ("[/x]", False),
    },
}


def _numeric(role: str, base: str) -> dict[str, tuple[str, bool]]:
    """Bad values of a numeric option; which must fail follows its role."""
    out = dict(VALUES[base])
    if role in ("count", "size"):
        # A count of zero (population, bits, images) means nothing; 10^9 of them exhausts any
        # machine before the work starts.
        out["zero"] = ("0", role == "count")
        out["huge"] = (out["huge"][0], True)
    elif role in ("port", "index"):
        # Beyond the 65535 ports / the archive of a 4 x 1 search.
        out["huge"] = ("1000000000", True)
    elif role == "prob":
        out["huge"] = (out["huge"][0], True)
        out["above_one"] = ("1.5", True)
    elif role == "positive":
        out["zero"] = ("0", True)
    return out


def values_for(command: str, param: click.Parameter) -> dict[str, tuple[str, bool]]:
    """{value kind: (value, must_fail)} for one option or argument."""
    role = ROLES.get((command, param.name or ""))
    t = param.type
    numeric = "float" if isinstance(t, click.types.FloatParamType) else None
    if isinstance(t, click.types.IntParamType):
        numeric = "int"
    if numeric and role in (None, "count", "size", "seed", "port", "prob", "positive", "index"):
        return _numeric(role or "", numeric)
    if role is None:
        role = "in_file" if isinstance(t, click.Path) else "string"
    return dict(VALUES[role])


@dataclass(frozen=True)
class FlagCase:
    """One invocation: ``command`` with ``option`` set to a bad ``value``."""

    id: str
    command: str
    option: str  # click parameter name
    kind: str
    value: str
    must_fail: bool
    slow: bool
    args: tuple[str, ...]
    flag: str = ""  # the option as typed (--pop), '' for an argument

    def argv(self, case: Path, fx: Path, store: Path) -> list[str]:
        """The command line with the placeholders filled for this case's folders."""
        return [_fill(a, case, fx, store) for a in self.args]


def _fill(text: str, case: Path, fx: Path, store: Path) -> str:
    subs = {"{out}": case / "out", "{store}": store, "{fx}": fx, "{case}": case}
    for k, v in subs.items():
        text = text.replace(k, str(v))
    return text


def commands() -> list[tuple[str, click.Command]]:
    """(command path, click command) of every leaf command of ``cimkit``."""
    import typer

    from cimkit.cli import app

    root = typer.main.get_command(app)
    out: list[tuple[str, click.Command]] = []

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group):
            for name in sorted(cmd.commands):
                walk(cmd.commands[name], (*path, name))
        else:
            out.append((" ".join(path), cmd))

    walk(root, ())
    return out


def _opt(param: click.Parameter) -> str:
    return param.opts[0]


def _build(command: str, cmd: click.Command, param: click.Parameter, value: str) -> list[str]:
    positional, options = BASES.get(command, ([], {}))
    options = dict(options)
    positional = list(positional)
    if isinstance(param, click.Argument):
        idx = [p for p in cmd.params if isinstance(p, click.Argument)].index(param)
        while len(positional) <= idx:
            positional.append("")
        positional[idx] = value
    else:
        for alias in (*param.opts, *getattr(param, "secondary_opts", ())):
            options.pop(alias, None)
        options[_opt(param)] = value
    args = [*command.split(), *positional]
    for flag, v in options.items():
        args += [flag] if v is None else [flag, v]
    return args


def cases(slow: bool = False) -> list[FlagCase]:
    """Every flag case (``slow``: the slow tier's too)."""
    out = []
    for command, cmd in commands():
        in_slow_tier = command in SLOW_ONLY
        base_args = tuple(_build_base(command))
        # A command missing from BASES (added later) is fuzzed with no other arguments.
        base_slow = in_slow_tier or command in HEAVY
        if command not in NEVER_ACCEPTED:
            out.append(
                FlagCase(f"{command}:(base)", command, "", "base", "", False, base_slow, base_args)
            )
        for param in cmd.params:
            name = param.name or ""
            if name == "help" or (command, name) in NEVER:
                continue
            opt_slow = in_slow_tier or (command, name) in SLOW_OPTIONS
            if isinstance(param, click.Option) and param.is_flag:
                if command in NEVER_ACCEPTED:
                    continue
                for flag in (param.opts[0], *param.secondary_opts):
                    args = [a for a in base_args if a not in param.opts + param.secondary_opts]
                    out.append(
                        FlagCase(
                            f"{command}:{name}:{flag}",
                            command,
                            name,
                            "flag",
                            flag,
                            False,
                            opt_slow or command in HEAVY,
                            (*args, flag),
                        )
                    )
                continue
            for kind, (value, must_fail) in values_for(command, param).items():
                if command in NEVER_ACCEPTED and not must_fail:
                    continue
                heavy = command in HEAVY and not must_fail
                out.append(
                    FlagCase(
                        f"{command}:{name}:{kind}",
                        command,
                        name,
                        kind,
                        value,
                        must_fail,
                        opt_slow or heavy,
                        tuple(_build(command, cmd, param, value)),
                        _opt(param) if isinstance(param, click.Option) else "",
                    )
                )
    # The root: an unknown command and an unknown option are usage errors.
    out.append(FlagCase("(root):unknown_command", "", "", "unknown", "", True, False, ("nosuch",)))
    out.append(FlagCase("(root):unknown_option", "", "", "unknown", "", True, False, ("--nosuch",)))
    return [c for c in out if slow or not c.slow]


def _build_base(command: str) -> list[str]:
    positional, options = BASES.get(command, ([], {}))
    args = [*command.split(), *positional]
    for flag, v in options.items():
        args += [flag] if v is None else [flag, v]
    return args


# --- fixtures -----------------------------------------------------------------------------------


def make_fixtures(fx: Path) -> Path:
    """Shared inputs under ``fx``; returns the path of a store holding run ``fz`` and study
    ``c`` (copied into every case)."""
    import numpy as np

    fx.mkdir(parents=True, exist_ok=True)
    (fx / "adir").mkdir(exist_ok=True)
    (fx / "afile").write_text("a file where a folder is expected\n")
    rng = np.random.default_rng(0)
    (fx / "random.bin").write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    _tiny_onnx(fx / "tiny.onnx")
    accrun = fx / "accrun"
    accrun.mkdir(exist_ok=True)
    shipped = ROOT / "src" / "cimkit" / "data" / "accuracy"
    for name in ("measure_fp.jsonl", "measure_q.jsonl"):
        # the shipped records are gzipped; 60 of each keep a predictor fit of a case quick
        with gzip.open(shipped / (name + ".gz"), "rt") as f:
            lines = [next(f) for _ in range(60)]
        (accrun / name).write_text("".join(lines))
    store = fx / "store.sqlite"
    if not store.exists():
        work = fx / "work"
        work.mkdir(exist_ok=True)
        base = ["--pop", "4", "--store", str(store)]
        res = invoke(
            ["search", str(SPACE), "--name", "fz", "--gen", "1", "--backend", "vectorized", *base],
            cwd=work,
        )
        assert res.exit_code == 0, res.stderr
        # --remeasure 0 --no-figures: the cases need a stored study, not its re-measurements
        # (11 supernet measurements took ~150 s of every xdist worker's setup).
        cmp = ["compare", str(SPACE), "--study", "c", "--gen", "2", "--remeasure", "0"]
        res = invoke([*cmp, "--no-figures", *base], cwd=work)
        assert res.exit_code == 0, res.stderr
    return store


def _tiny_onnx(path: Path) -> None:
    """A one-Gemm ONNX model (16 -> 8), written with onnx.helper (no torch needed)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32), "w"
    )
    node = helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)
    graph = helper.make_graph(
        [node],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


@contextlib.contextmanager
def _no_serving() -> Iterator[None]:
    """``cimkit dashboard`` returns once it listens (its server loop replaced)."""
    try:
        from cimkit.dashboard import server
    except ImportError:
        yield
        return

    class _Once:
        def __init__(self, app: Any) -> None:
            self.app = app

        def run(self, sockets: Any = None) -> None:
            return None

    original = server._server
    server._server = lambda app: _Once(app)  # type: ignore[assignment]
    try:
        yield
    finally:
        server._server = original  # type: ignore[assignment]


def run_case(case: FlagCase, workdir: Path, fx: Path, store: Path) -> CaseResult:
    """Run one flag case in its own folder (working directory two levels down, so that a
    relative ``../x`` stays inside the case folder)."""
    case_dir = workdir / case_dir_name(case.id)
    if case_dir.exists():
        shutil.rmtree(case_dir)
    cwd = case_dir / "a" / "b"
    cwd.mkdir(parents=True)
    case_store = case_dir / "store.sqlite"
    shutil.copy(store, case_store)
    argv = case.argv(case_dir, fx, case_store)
    if case.command in SUBPROCESS:
        # A value it accepts starts minutes of training: a child process, stopped at the limit
        # (and then counted as accepted: exit 0 after the limit).
        out = invoke_subprocess(argv, cwd, timeout_s=SUBPROCESS_LIMIT_S)
    else:
        # evaluate's PNG charts only where the output folder is what the case is about.
        charts = case.command != "evaluate" or case.option in ("", "out")
        with _no_serving(), contextlib.nullcontext() if charts else no_charts():
            out = invoke(argv, cwd=cwd)
    # A rejection names the flag, or the value it got (a path, a name) when that says more.
    any_of: list[str] = []
    if case.option and case.must_fail:
        value = _fill(case.value, case_dir, fx, case_store)
        # The option in words counts too ("unknown objective ''" for --objective '').
        words = (case.option, case.option.replace("_", "-"), case.option.replace("_", " "))
        key = value.split("=", 1)[0] if "=" in value else ""  # --net-arg KEY=VALUE
        # A genome's message may name the genome's own field instead.
        genome = ROLES.get((case.command, case.option)) == "genome"
        fields = ("depths", "kernels", "expands", "bits") if genome else ()
        candidates = (case.flag, value[:20], Path(value).name[:20], key, *words, *fields)
        any_of = [a for a in candidates if a.strip()]
    problems = judge(
        out,
        case.must_fail,
        case.command,
        outputs=case_dir,
        allow_usage=True,
        infeasible_exit_1=case.command == "evaluate",
        any_of=any_of,
    )
    note = f"{case.option}={case.value[:40]!r}" if case.option else case.kind
    return CaseResult(
        case.id,
        case.kind,
        case.command or "(root)",
        case.command,
        case.must_fail,
        note,
        out,
        problems,
    )
