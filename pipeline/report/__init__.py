"""Tables and figures built from topology results and stored runs."""

FIGURES = ("np_epochs", "diagram", "overlap", "weights", "accuracy", "np_retention")
"""The figures of every architecture/data-set pair (``results/figures/{arch}/{dataset}/{name}.png``)."""
