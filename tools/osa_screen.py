#!/usr/bin/env python3
"""Screen an OSA-HCIM configuration on validation images, never on the test split.

``cimkit osa-report`` measures its points on the first N *test* images. Choosing settings
(a model, a candidate list, a budget, a correction) by those numbers would tune to the figures
that are then published, so screens run here instead: the same command with the test split
replaced by validation images 3000..3999 (disjoint from the calibration images 0..calib-1 and
the search images after them, as long as calib + search <= 3000). Every option is passed on to
``cimkit osa-report``; ``--images`` counts from validation image 3000 (at most 2,000).

Usage:
    .venv/bin/python tools/osa_screen.py --out runs/screen/x --images 1000 --calib-images 32 \\
        --search-images 256 --candidates 9,10 --fixed 8,9,10 --constraints 0.02 --ose-orders 3

The report's files say "test" where they mean these validation images; keep screens in their
own --out (their cache keys do not know the swap).
"""

from __future__ import annotations

import dataclasses
import sys

import cimkit.accuracy.data as data

FIRST = 3000  #: first validation image of the screen
_load = data.load


def _screen_load(*args, **kwargs):  # type: ignore[no-untyped-def]
    sp = _load(*args, **kwargs)
    return dataclasses.replace(sp, x_test=sp.x_val[FIRST:], y_test=sp.y_val[FIRST:])


def main() -> int:
    data.load = _screen_load  # the report's Runner reads the splits through this function
    from cimkit.cli import app

    try:
        rc = app(["osa-report", *sys.argv[1:]], standalone_mode=False)
    except SystemExit as e:
        return int(e.code or 0)
    return rc if isinstance(rc, int) else 0  # click returns the exit code (2 on bad input)


if __name__ == "__main__":
    raise SystemExit(main())
