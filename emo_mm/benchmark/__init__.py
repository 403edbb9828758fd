"""Side-by-side speed measurements of emo_mm models and their upstream peers.

One job per module: :mod:`.models` (which configs, peers and input sizes), :mod:`.cases` (the
models of a run and the step each one times), :mod:`.timing` (warm-up, interleaved
measurements, profiles) and :mod:`.report` (machine info, markdown, JSON and chart).
``tools/analysis_tools/benchmark.py`` is the command line; ``tools/analysis_tools/bench_docs.py``
(``make bench``) regenerates the published tables.
"""
from .cases import Case, build_cases
from .models import PEER_CONFIGS, resolve_config, short_name
from .report import write_report
from .timing import measure, profile_cases
from . import runtimes

__all__ = ['Case', 'build_cases', 'PEER_CONFIGS', 'resolve_config', 'short_name', 'measure',
           'profile_cases', 'runtimes', 'write_report']
