"""IMP through zeroth-order topology: a Snakemake pipeline and the package behind it."""

__version__ = "0.1.0"

from pipeline.lazy import lazy_attributes

__getattr__ = lazy_attributes(__name__, {"analyze": "pipeline.analysis", "Analysis": "pipeline.analysis"})
