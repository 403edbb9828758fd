"""The demo (``make demo`` = ``tools/demo.py``): the main job end to end on the toy datasets.

* :mod:`.runner` - the stages in order, each a tool of the repository as its own process
* :mod:`.tasks` - the three tasks: configs (full and quick run), names, quality bar
* :mod:`.progress` / :mod:`.log_filter` - stage banners, logs, what reaches the console
* :mod:`.outputs` - checkpoints, losses and metrics read back from the tools' work dirs
* :mod:`.pictures` - single-image inference with each model, drawn
* :mod:`.report` - quality bar, learning checks, ``summary.md`` / ``summary.json``
* :mod:`.machine` - the machine the run was on
"""
from .runner import DemoRun

__all__ = ['DemoRun']
