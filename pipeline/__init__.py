"""IMP through zeroth-order topology: a Snakemake pipeline and the package behind it."""

__version__ = "0.1.0"
