"""Gated recurrent classifiers: an image read row by row as a sequence (docs/science.md §2, recurrent).

Not networks of the paper: they put LSTM and GRU gate blocks through the whole pipeline
(probe, diagrams, overlap, T-IMP, figures). A (C, H, W) image is a sequence of H steps of
C·W features; the last hidden state feeds a linear classifier. Each gate's input-to-hidden
and hidden-to-hidden block is its own layer graph (``pipeline.models.probe``).
"""

from __future__ import annotations

from torch import Tensor, nn

from pipeline.models.registry import register_model


class RowClassifier(nn.Module):
    """A one-layer recurrent cell over image rows, then Linear hidden -> classes."""

    def __init__(self, cell: type[nn.LSTM | nn.GRU], features: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.rnn = cell(features, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x.permute(0, 2, 1, 3).flatten(2))  # (N, C, H, W) -> (N, H, C·W)
        return self.classifier(out[:, -1])


@register_model("lstm")
def lstm(*, num_classes: int, in_channels: int, input_size: tuple[int, int], hidden: int = 64) -> RowClassifier:
    """LSTM with 64 hidden units over the rows (gates i, f, g, o: four 64 x 64 recurrent blocks)."""
    return RowClassifier(nn.LSTM, in_channels * input_size[1], hidden, num_classes)


@register_model("gru")
def gru(*, num_classes: int, in_channels: int, input_size: tuple[int, int], hidden: int = 64) -> RowClassifier:
    """GRU with 64 hidden units over the rows (gates r, z, n: three 64 x 64 recurrent blocks)."""
    return RowClassifier(nn.GRU, in_channels * input_size[1], hidden, num_classes)
