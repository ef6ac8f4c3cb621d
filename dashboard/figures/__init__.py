"""Bokeh figures, built on the server from stored numbers and embedded with json_item: the
runs' live curves, each kind's figure, the analyses'; shared settings in style.py."""
import hashlib
import importlib.metadata
import pathlib


def code_version(*paths: pathlib.Path) -> str:
    """A name for what the figures cache holds that changes with the code that makes it (and Bokeh's
    version): an entry made by other code is never read."""
    text = b"".join(p.read_bytes() for p in paths) + importlib.metadata.version("bokeh").encode()
    return hashlib.sha256(text).hexdigest()[:16]
