"""Which lines of a tool's output the demo shows on the console (all of them go to its log).

mmengine prints the whole config, the environment and the per-parameter optimizer settings at
the start of a run: hundreds of lines that bury the progress. They stay in the log file; the
iteration logs, the metrics and every error reach the console.

Example:
    >>> from emo_mm.demo.log_filter import ConsoleFilter
    >>> shown = ConsoleFilter()
    >>> [shown(line) for line in ('01/02 03:04:05 - mmengine - INFO - Config:', 'model = dict(',
    ...                           '01/02 03:04:06 - mmengine - INFO - Epoch(train) [1][5/16]')]
    [False, False, True]
"""
import re

# mmengine log records: "11/22 07:45:00 - mmengine - INFO - message"
_RECORD = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - \S+ - [A-Z]+ - ?(.*)$')
_ERROR = re.compile(r'Traceback|Error|error:')
_NOISE = ('pkg_resources', '_bootstrap._exec')  # import-time deprecation notices


class ConsoleFilter:
    """A stateful line filter: a log record that starts a dump (an empty message, ``Config:``,
    ``paramwise_options``) mutes the lines after it up to the next log record; errors and
    tracebacks are always shown."""

    def __init__(self):
        self.muted = False

    def __call__(self, line: str) -> bool:
        """Whether to show ``line`` (without its newline)."""
        record = _RECORD.match(line)
        if record:
            message = record.group(1)
            self.muted = message.strip() in ('', 'Config:') or 'paramwise_options' in message
            return not self.muted
        if _ERROR.search(line):
            return True
        if any(noise in line for noise in _NOISE):
            return False
        return not self.muted
