"""The style sheets and scripts of the HTML pages, as package data files."""

from functools import cache
from importlib.resources import files

__all__ = ["static_text"]


@cache
def static_text(name):
    """The text of the package data file `name` (``graph.css``, ``graph.js``, ``report.css``)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
