"""Which models a benchmark run measures: config paths and peer names."""
import importlib
import os.path as osp
import re
from typing import Tuple

#: Peer models: short name -> package config (built from the installed upstream package).
PEER_CONFIGS = {
    'edgenext-xxsmall': 'mmpretrain::edgenext/edgenext-xxsmall_8xb256_in1k.py',
    'edgenext-xsmall': 'mmpretrain::edgenext/edgenext-xsmall_8xb256_in1k.py',
    'edgenext-small': 'mmpretrain::edgenext/edgenext-small_8xb256_in1k.py',
    'mobilevit-xxsmall': 'mmpretrain::mobilevit/mobilevit-xxsmall_8xb128_in1k.py',
    'mobilevit-xsmall': 'mmpretrain::mobilevit/mobilevit-xsmall_8xb128_in1k.py',
    'mobilevit-small': 'mmpretrain::mobilevit/mobilevit-small_8xb128_in1k.py',
    'mobilenet-v2': 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    'mobileone-s0': 'mmpretrain::mobileone/mobileone-s0_8xb32_in1k.py',
    'mobileone-s1': 'mmpretrain::mobileone/mobileone-s1_8xb32_in1k.py',
    'mobileone-s2': 'mmpretrain::mobileone/mobileone-s2_8xb32_in1k.py',
    'mobileone-s3': 'mmpretrain::mobileone/mobileone-s3_8xb32_in1k.py',
    'mobileone-s4': 'mmpretrain::mobileone/mobileone-s4_8xb32_in1k.py',
    'ssdlite-mobilenetv2': 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py',
}
#: Peers of ``--peers auto``, per framework of the first config (see :mod:`emo_mm.frameworks`).
DEFAULT_PEERS = {
    'mmpretrain': ['edgenext-xxsmall', 'edgenext-xsmall', 'edgenext-small', 'mobilevit-xxsmall',
                   'mobilevit-xsmall', 'mobilevit-small', 'mobilenet-v2', 'mobileone-s0'],
    'mmdet': ['ssdlite-mobilenetv2'],
    'mmseg': [],
}
def resolve_config(spec: str) -> Tuple[str, str]:
    """``NAME=CONFIG``, a peer name, ``pkg::rel/path.py`` or a path -> ``(name, path)``.

    Example:
        >>> resolve_config('edgenext-small')[0]
        'edgenext-small'
    """
    name, _, path = spec.rpartition('=') if '=' in spec else ('', '', spec)
    if path in PEER_CONFIGS:
        name, path = name or path, PEER_CONFIGS[path]
    if '::' in path:
        package, rel = path.split('::', 1)
        root = osp.dirname(importlib.import_module(package).__file__)
        path = osp.join(root, '.mim', 'configs', rel)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config {spec!r} not found ({path}); peer names: '
                                f'{", ".join(PEER_CONFIGS)}')
    return name or short_name(path), path


def short_name(path: str) -> str:
    """The part of a config name before its ``<gpus>xb<batch>`` training setting.

    Example:
        >>> short_name('configs/cls/emo/emo-1m_8xb256_in1k.py')
        'emo-1m'
        >>> short_name('ssdlite_emo2-1m_8xb24-600e_coco.py')
        'ssdlite_emo2-1m'
    """
    stem = osp.splitext(osp.basename(path))[0]
    parts = stem.split('_')
    for i, part in enumerate(parts):
        if re.match(r'^\d+xb\d+', part):
            return '_'.join(parts[:i]) or stem
    return stem
