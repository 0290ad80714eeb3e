"""``python -m pipeline VERB ...``: the command-line face of the package.

Every verb lives in a module of this package that exposes ``add_parser(subparsers)``; the
parser it adds sets ``func`` to the function that runs it; ``main`` (``pipeline.cli.commands``)
collects them. Importing this package is light: ``keys`` and ``launch`` serve the launchers.
"""

from pipeline.lazy import lazy_attributes

__getattr__ = lazy_attributes(__name__, {"main": "pipeline.cli.commands", "build_parser": "pipeline.cli.commands"})

__all__ = ["build_parser", "main"]
