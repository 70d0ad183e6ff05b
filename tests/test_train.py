import pytest
import torch
from torch import nn

from dlparts import train


def blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g) + 3.0 * (y[:, None].float() * 2 - 1)
    return x, y


def test_fit_learns_and_records_history():
    torch.manual_seed(0)
    x, y = blobs()
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    hist = train.fit(
        model, (x, y), val=blobs(seed=1), epochs=3, lr=0.1, batch_size=32, progress=False
    )
    assert len(hist.step) == 3 * 8 and hist.step[-1] == 24
    assert hist.eval_step == [8, 16, 24] and hist.epoch_end_step == [8, 16, 24]
    assert hist.val_acc[-1] > 0.95
    assert hist.first_step_reaching("val_acc", 0.9) is not None
    assert hist.first_step_reaching("val_acc", 1.01) is None
    assert hist.seconds > 0 and not hist.diverged


def test_fit_is_repeatable_with_a_seed():
    x, y = blobs()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Linear(2, 2)
        runs.append(train.fit(model, (x, y), epochs=1, batch_size=16, seed=3, progress=False).loss)
    assert runs[0] == runs[1]


def test_fit_stops_when_the_loss_diverges():
    x, y = blobs()
    model = nn.Linear(2, 2)
    with torch.no_grad():  # equal rows: the first loss is log 2, and its step overflows float32
        model.weight.fill_(1.0)
        model.bias.zero_()
    hist = train.fit(model, (x * 1e30, y), epochs=5, lr=1e30, batch_size=16, progress=False)
    assert hist.diverged and len(hist.step) < 5 * 16


def test_max_steps_and_eval_train():
    x, y = blobs()
    hist = train.fit(nn.Linear(2, 2), (x, y), epochs=10, max_steps=5, eval_every=2, eval_train=True,
                     batch_size=16, progress=False)  # fmt: skip
    assert hist.step[-1] == 5 and hist.eval_step == [2, 4, 5]
    assert len(hist.train_eval_acc) == 3


def test_evaluate_restores_training_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.train()
    loss, acc = train.evaluate(model, blobs())
    assert model.training and 0.0 <= acc <= 1.0 and loss > 0


def test_smoothed_is_a_running_mean():
    h = train.History(loss=[1.0, 3.0, 5.0, 7.0])
    assert h.smoothed("loss", window=2).tolist() == [1.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize("value,disabled", [("1", True), ("", False), ("0", False)])
def test_progress_bars_follow_tqdm_disable(monkeypatch, value, disabled):
    monkeypatch.setenv("TQDM_DISABLE", value)
    assert train.progress(range(2)).disable is disabled


def test_fit_passes_forward_kwargs_and_hands_the_whole_output_to_extra_loss():
    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x, extras=False):
            out = self.lin(x)
            return (out, out.pow(2).mean()) if extras else out

    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    seen = []

    def extra(model, out):
        seen.append(type(out))
        return out[1]

    hist = train.fit(
        Two(), (x, y), epochs=1, batch_size=8, val=(x, y), forward_kwargs={"extras": True},
        extra_loss=extra, progress=False,
    )  # fmt: skip
    assert seen == [tuple, tuple] and len(hist.acc) == 2 and len(hist.val_acc) == 1
