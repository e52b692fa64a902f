"""recsys: two-stage recommendation engine (FAISS candidates + long/short-term ranker).

The heavy lifting happens in the compiled module ``recsys._core``; this package
is the Pythonic shell around it.
"""
from recsys._core import __version__

__all__ = ["__version__"]
