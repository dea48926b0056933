"""The real-layer-data helper: AUROC, the report's bad input (exit 2, one line)."""

from __future__ import annotations

import pytest
import torch

from cimkit.osa import layerdata
from cimkit.osa.layerdata import auroc, main


def test_auroc_hand_values():
    assert auroc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert auroc(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])) == 0.0
    # pairs (pos, neg): (2,1) win, (2,3) loss, (5,1) win, (5,3) win -> 3/4
    assert auroc(torch.tensor([2.0, 5.0]), torch.tensor([1.0, 3.0])) == 0.75
    # ties count half
    assert auroc(torch.tensor([1.0, 1.0]), torch.tensor([1.0])) == 0.5


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["--steps", "0"], "--steps=0 must be >= 1"),
        (["--images", "1"], "--images=1 must be >= 2"),
        (["--noise-lsb", "-1"], "--noise-lsb=-1.0 must be >= 0"),
        (["--dataset", "cifar"], "invalid choice"),
    ],
)
def test_report_bad_flags_exit_2(argv, msg, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert msg in capsys.readouterr().err


def test_report_missing_data_set_is_one_line(monkeypatch, tmp_path, capsys):
    import cimkit.accuracy.data as data

    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["--dataset", "fashion-mnist", "--steps", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Fashion-MNIST not found") and err.count("\n") == 1
    assert "apt-get install dataset-fashion-mnist" in err
    assert layerdata.trained_layer  # the module's API stays importable
