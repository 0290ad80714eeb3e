"""Tables and figures built from topology results and stored runs.

The per-pair figures and the grid's tables are registries (``pipeline.report.registry``).
"""
