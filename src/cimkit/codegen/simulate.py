"""Run a generated design in Icarus Verilog (``iverilog`` + ``vvp``) and read its results."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cimkit.codegen.generate import GeneratedDesign
from cimkit.errors import CimkitError, MissingDependencyError

INSTALL_HINT = (
    "Icarus Verilog ('iverilog' and 'vvp') is not on PATH; install the Debian package "
    "'iverilog' (make sysdeps, or: sudo apt-get install iverilog)"
)


class SimulationError(CimkitError):
    """The generated design failed to compile or did not reach HALT."""


@dataclass(frozen=True)
class SimResult:
    """What a simulation produced.

    Attributes:
        outputs: last layer output, user layout ((K, OH, OW) conv, (tokens, K) linear), int64.
        cycles: clock edges from reset release to HALT.
        log: compiler and simulator output.
    """

    outputs: np.ndarray
    cycles: int
    log: str


def find_tools() -> tuple[str, str]:
    """Paths of ``iverilog`` and ``vvp``; raises :class:`MissingDependencyError` if absent."""
    iverilog, vvp = shutil.which("iverilog"), shutil.which("vvp")
    if not iverilog or not vvp:
        raise MissingDependencyError(INSTALL_HINT)
    return iverilog, vvp


def compile_design(
    design: GeneratedDesign, workdir: str | Path | None = None, *, warnings: bool = True
) -> tuple[Path, str]:
    """Compile RTL + testbench with ``iverilog -g2005`` (``-Wall`` when ``warnings``).

    Returns:
        The compiled ``tb.vvp`` path and the compiler's output (warnings, if any).
    """
    iverilog, _ = find_tools()
    work = Path(workdir) if workdir is not None else design.out_dir / "sim"
    work.mkdir(parents=True, exist_ok=True)
    vvp_file = (work / "tb.vvp").resolve()
    cmd = [iverilog, "-g2005", *(["-Wall"] if warnings else []), "-s", "tb_top"]
    cmd += ["-o", str(vvp_file), *(str(p.resolve()) for p in design.rtl_files)]
    cmd += [str(design.testbench.resolve())]
    proc = subprocess.run(cmd, cwd=design.out_dir, capture_output=True, text=True, check=False)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SimulationError(f"iverilog failed ({proc.returncode}): {_first_lines(log)}")
    return vvp_file, log


def simulate(
    design: GeneratedDesign, workdir: str | Path | None = None, *, timeout_s: float = 600
) -> SimResult:
    """Compile and run ``design``; return its outputs and cycle count.

    Args:
        design: from :func:`cimkit.codegen.generate`.
        workdir: where to put ``tb.vvp`` and ``outputs.txt`` (default ``<out_dir>/sim``).
        timeout_s: wall-clock limit of the simulator run.

    Raises:
        MissingDependencyError: iverilog/vvp are not installed (names the Debian package).
        SimulationError: compile errors, a simulator failure, or no HALT within the cycle limit.
    """
    _, vvp = find_tools()
    work = Path(workdir) if workdir is not None else design.out_dir / "sim"
    vvp_file, clog = compile_design(design, work)
    out_file = (work / "outputs.txt").resolve()
    out_file.unlink(missing_ok=True)
    # The testbench reads its hex files relative to the design folder.
    proc = subprocess.run(
        [vvp, "-n", str(vvp_file), f"+out={out_file}"],
        cwd=design.out_dir,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    log = clog + proc.stdout + proc.stderr
    match = re.search(r"^CYCLES (\d+)", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or match is None or not out_file.exists():
        raise SimulationError(f"simulation did not reach HALT: {_first_lines(log)}")
    values = np.array([int(v) for v in out_file.read_text().split()], dtype=np.int64)
    hw = design.hardware
    expect = hw.output_words * hw.output_channels
    if values.size != expect:
        raise SimulationError(f"testbench wrote {values.size} values, expected {expect}")
    last = design.design.chain[-1]
    hwc = values.reshape(last.out_h, last.out_w, last.out_c)
    outputs = hwc.reshape(-1, last.out_c) if last.op == "linear" else hwc.transpose(2, 0, 1)
    return SimResult(outputs=outputs, cycles=int(match.group(1)), log=log)


def _first_lines(text: str, n: int = 12) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines[:n]) or "(no output)"
