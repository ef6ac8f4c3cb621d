"""Bokeh figures, built on the server from stored numbers and embedded with json_item: the
runs' live curves, each kind's figure, the analyses'; shared settings in style.py."""
