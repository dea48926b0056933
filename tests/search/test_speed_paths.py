"""Issue 15 item 6 (wall time): every faster path gives the same results as the path it replaced.

Each test keeps the replaced implementation as a reference here (or in cimkit, where it is
still used) and compares them on the same inputs; nothing here measures time
(benchmarks/search_wall_time.py does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def small_result(problem):
    from cimkit.search.engine import Search, SearchConfig

    return Search(problem, SearchConfig(pop_size=16, n_gen=3, seed=5)).run()


def _reference_frame(result) -> pd.DataFrame:
    """SearchResult.frame before the int64 fast path: gene values as float64."""
    from cimkit.columns import metrics_frame, typed_frame
    from cimkit.search.objectives import feasible

    values = result.space.joint.decode(result.archive.X.astype(np.int64))
    data = {"design": np.arange(len(result.archive)), "gen": result.archive.gen}
    data.update(metrics_frame(result.archive.M))
    data["feasible"] = feasible(result.archive.M)
    data["score"] = result.objective.score(result.archive.M, result.archive.M[0])
    data.update(values)
    return typed_frame(pd.DataFrame(data))


def test_frame_matches_the_float_reference(small_result) -> None:
    fast = small_result.frame()
    ref = _reference_frame(small_result)
    pd.testing.assert_frame_equal(fast, ref, check_exact=True)
    # The fast path really had whole-valued genes to convert, and fractional ones stay float.
    assert (fast.dtypes == "Int64").sum() > 20
    assert any(dt == np.float64 for dt in fast.dtypes)


def test_load_archive_reads_back_the_committed_rows(problem, tmp_path) -> None:
    from cimkit.errors import CimkitError
    from cimkit.search.engine import Search, SearchConfig
    from cimkit.search.store import RunStore

    st = RunStore(tmp_path / "s.sqlite")
    res = Search(problem, SearchConfig(pop_size=8, n_gen=2, seed=1), store=st, name="r").run()
    back = st.load_archive("r", problem.space.joint.n_var)
    np.testing.assert_array_equal(back.X, res.archive.X)
    np.testing.assert_array_equal(back.M, res.archive.M)
    np.testing.assert_array_equal(back.gen, res.archive.gen)
    assert back.lookup(res.archive.X).tolist() == list(range(len(res.archive)))
    # A row of another length is a damaged store: one line, not a reshape traceback.
    st.conn.execute("UPDATE designs SET x = ? WHERE run = 'r' AND idx = 3", (b"\x01\x00",))
    st.conn.commit()
    with pytest.raises(CimkitError, match="damaged design rows"):
        st.load_archive("r", problem.space.joint.n_var)
    st.close()
