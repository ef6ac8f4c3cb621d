"""Serve BokehJS from the installed bokeh package, so its version always matches bokeh's.

Only the minified bundles are exposed, under static/bokeh/js/ (bokeh's static tree also
holds 20 MB of library sources nobody needs).
"""
from __future__ import annotations

import pathlib

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PREFIX = "bokeh/js"
BUNDLES = ("bokeh.min.js", "bokeh-gl.min.js", "bokeh-widgets.min.js", "bokeh-tables.min.js", "bokeh-api.min.js")


def bokehjs_dir() -> pathlib.Path:
    from bokeh.util.paths import static_path

    return pathlib.Path(static_path()) / "js"


class BokehJSFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        self.storage = FileSystemStorage(location=str(bokehjs_dir()))
        self.storage.prefix = PREFIX

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        directory, _, name = path.rpartition("/")
        if directory != PREFIX or name not in BUNDLES:
            return [] if find_all else None
        full = str(bokehjs_dir() / name)
        return [full] if find_all else full

    def list(self, ignore_patterns):
        for name in BUNDLES:
            if (bokehjs_dir() / name).exists():
                yield name, self.storage
