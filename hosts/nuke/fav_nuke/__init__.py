"""Nuke adapter of fast-artistic-videos: a ``FastArtisticVideos`` Group node that runs the core out of process.

Modules that touch Nuke (``node``, ``render``) import :mod:`nuke` and run only inside Nuke (or against the test
fake). Everything else is pure Python the artist's Nuke can import without numpy or torch:

- :mod:`fav_nuke.knobs` -- the declarative knob list and the knob values -> ``fav stylize`` arguments mapping;
- :mod:`fav_nuke.channels` -- which channels hold the motion vectors and their sign convention;
- :mod:`fav_nuke.frames` -- frame-range parsing;
- :mod:`fav_nuke.paths` -- the on-disk layout of a job (rendered plate, stylized frames);
- :mod:`fav_nuke.process` -- running the core as a child process and reading its JSON progress;
- :mod:`fav_nuke.settings` -- sticky per-user settings (the core's Python interpreter);
- :mod:`fav_nuke.cattery` -- TorchScript export of the image model (runs in the core's Python, needs torch).

Nuke-side code stays Python 3.7 compatible (Nuke 13); it never imports torch or numpy.
"""
