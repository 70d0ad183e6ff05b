import pytest
import torch

from dlparts import runtime


@pytest.mark.parametrize("value", ["quick", "default", "full", " Quick ", "FULL"])
def test_scale_reads_the_environment(monkeypatch, value):
    monkeypatch.setenv("DLPARTS_SCALE", value)
    assert runtime.scale() == value.strip().lower()


def test_unset_scale_means_default(monkeypatch):
    monkeypatch.delenv("DLPARTS_SCALE", raising=False)
    assert runtime.scale() == "default"


def test_unknown_scale_lists_the_three(monkeypatch):
    monkeypatch.setenv("DLPARTS_SCALE", "huge")
    with pytest.raises(ValueError) as err:
        runtime.scale()
    for name in ("quick", "default", "full"):
        assert name in str(err.value)


def test_by_scale_picks_and_falls_back(monkeypatch):
    monkeypatch.setenv("DLPARTS_SCALE", "quick")
    assert runtime.by_scale(1, 2, 3) == 1
    monkeypatch.setenv("DLPARTS_SCALE", "full")
    assert runtime.by_scale(1, 2, 3) == 3
    assert runtime.by_scale(1, 2) == 2


def test_device_is_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.device().type == expected


def test_seed_everything_repeats_all_generators():
    import random

    import numpy as np

    runtime.seed_everything(7)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    runtime.seed_everything(7)
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
    with pytest.raises(ValueError):
        runtime.seed_everything(-1)


def test_describe_names_scale_and_device(monkeypatch):
    monkeypatch.setenv("DLPARTS_SCALE", "quick")
    line = runtime.describe()
    assert "scale=quick" in line and "device=" in line


def test_limit_threads_restores_and_checks():
    before = torch.get_num_threads()
    with runtime.limit_threads(1) as text:
        assert torch.get_num_threads() == 1 and "PyTorch 1" in text
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive integer"):
        with runtime.limit_threads(0):
            pass


def test_progress_honours_tqdm_disable(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert runtime.progress_disabled()
    assert list(runtime.progress(range(3))) == [0, 1, 2]
    assert runtime.progress(range(3)).disable
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not runtime.progress_disabled()


def test_blas_threads_follows_limit_threads():
    n = runtime.blas_threads()
    assert n >= 1
    with runtime.limit_threads(1):
        assert runtime.blas_threads() == 1
    assert runtime.blas_threads() == n
