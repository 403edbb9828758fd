"""The demo's console: stage banners with the elapsed time, and the stages' commands run with
their full output in a log file per stage and the informative part of it on the console."""
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from typing import Dict, Optional, Sequence

from .log_filter import ConsoleFilter


def format_time(seconds: float) -> str:
    """``mm:ss`` of a duration.

    Example:
        >>> format_time(749.6)
        '12:30'
    """
    seconds = int(round(seconds))
    return f'{seconds // 60:02d}:{seconds % 60:02d}'


class Progress:
    """Stage banners and stage commands.

    Args:
        num_stages (int): The number of banners the run will print (``k/num_stages``).
        log_dir (str): Folder of the stages' log files (``<name>.log``).
        cwd (str): Working folder of the commands (the repository root).
        verbose (bool): Show the commands' full output on the console. Defaults to False.

    Attributes:
        times (dict): Seconds taken per stage name, in the order they ran.
    """

    def __init__(self, num_stages: int, log_dir: str, cwd: str, verbose: bool = False):
        self.t0 = time.time()
        self.num_stages = num_stages
        self.stage = 0
        self.log_dir = log_dir
        self.cwd = cwd
        self.verbose = verbose
        self.times: Dict[str, float] = {}

    def elapsed(self) -> str:
        """Time since the start, ``mm:ss``."""
        return format_time(time.time() - self.t0)

    def banner(self, title: str) -> None:
        """Print the banner of the next stage."""
        self.stage += 1
        print(f'\n[demo {self.elapsed()}] ==== {self.stage}/{self.num_stages} {title}',
              flush=True)

    def info(self, msg: str) -> None:
        """Print a line stamped with the elapsed time."""
        print(f'[demo {self.elapsed()}] {msg}', flush=True)

    def run(self, name: str, cmd: Sequence[str], env: Optional[dict] = None) -> float:
        """Run ``cmd``; its output goes to ``<log_dir>/<name>.log``.

        Returns:
            float: The seconds taken (also recorded in :attr:`times`).

        Raises:
            RuntimeError: If the command fails (the end of its output is printed).
        """
        os.makedirs(self.log_dir, exist_ok=True)
        log_path = osp.join(self.log_dir, f'{name}.log')
        self.info('$ ' + ' '.join(shlex.quote(c) for c in cmd))
        t = time.time()
        shown = ConsoleFilter()
        with open(log_path, 'w') as log:
            proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            for line in proc.stdout:
                log.write(line)
                if shown(line.rstrip('\n')) or self.verbose:
                    print(line, end='', flush=True)
            rc = proc.wait()
        seconds = time.time() - t
        self.times[name] = seconds
        if rc != 0:
            with open(log_path) as f:
                tail = f.readlines()[-40:]
            print(''.join(tail), end='', file=sys.stderr)
            raise RuntimeError(f'stage "{name}" failed (exit status {rc}); full log: {log_path}')
        self.info(f'{name}: done in {format_time(seconds)} (log: {log_path})')
        return seconds
