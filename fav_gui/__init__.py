"""Qt preview and job window for fast-artistic-videos (``fav gui``), also docked inside Nuke.

The widgets are thin over fav_core: the preview runs :class:`fav_core.stylizer.Stylizer` in a worker thread, the
full job runs ``python -m fav_core.cli stylize ... --progress json`` as a child process (docs/job-protocol.md).
Modules that Nuke imports (``qt``, ``options``, ``settings_panel``, ``job``) import neither torch nor numpy at
module level and stay Python 3.7 compatible. fav_core never imports this package.
"""
