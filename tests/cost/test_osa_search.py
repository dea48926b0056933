"""The osa_hybrid readout in a CIMNAS-style search: the example space loads and searches, and a
tiny search per readout kind (same space, same seed and budget) picks OSA-HCIM designs over the
same chip with a conventional SAR macro (same cells, bit-serial inputs, one 8-bit SAR per 8
columns), where they are cheaper. (Against a DCIM macro with one adder tree per column, 8x the
OSA macro's trees, the hybrid macro is not cheaper on MobileNetV2 in cimkit's model: its SARs
convert 9-row depthwise sums as often as 144-row ones.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from cimkit.search.engine import Search, SearchConfig
from cimkit.search.objectives import COL
from cimkit.search.problem import CimnasProblem
from cimkit.space import load_space

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "examples" / "spaces" / "osa_hcim_mobilenetv2_65nm.yaml"
CHIP = ROOT / "examples" / "chips" / "osa_hcim_65nm.yaml"


def _accuracy(values, space) -> np.ndarray:  # the same accuracy for every design: energy decides
    return np.full(len(next(iter(values.values()))), 0.9)


def _twin(tmp_path: Path, name: str, macro: dict) -> Path:
    """The example space on the example chip with another macro readout."""
    chip = yaml.safe_load(CHIP.read_text())
    chip["name"] = f"osa-twin-{name}"
    chip["macro"] = macro
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(chip))
    space = yaml.safe_load(SPACE.read_text())
    space["hardware"]["base_chip"] = str(tmp_path / f"{name}.yaml")
    path = tmp_path / f"space_{name}.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


def _best_energy(path: Path) -> tuple[float, str]:
    space = load_space(path)
    problem = CimnasProblem(space, accuracy_fn=_accuracy)
    res = Search(problem, SearchConfig(pop_size=6, n_gen=1, seed=0, objective="ea")).run()
    return float(res.archive.M[res.best(), COL["energy_mj"]]), space.base_chip.macro.readout


def test_tiny_search_picks_the_hybrid_macro(tmp_path: Path) -> None:
    sar = {"kind": "analog", "readout": "sar", "adc_bits": 8, "cols_per_adc": 8, "rows": 144,
           "cols": 64, "input_bits_per_cycle": 1}  # fmt: skip
    kinds = {"osa": SPACE, "sar": _twin(tmp_path, "sar", sar)}
    best = {k: _best_energy(p) for k, p in kinds.items()}
    assert best["osa"][1] == "osa_hybrid" and best["sar"][1] == "sar"
    assert min(best, key=lambda k: best[k][0]) == "osa", best
