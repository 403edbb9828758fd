"""The ``Example:`` blocks of the public modules run and print what they show (doctest)."""
import doctest
import importlib

import pytest

from emo_mm.testing import single_thread

MODULES = [
    'emo_mm.models.layers.norm_act', 'emo_mm.models.layers.blocks',
    'emo_mm.models.layers.attention', 'emo_mm.models.backbones.base',
    'emo_mm.models.backbones.emo', 'emo_mm.models.backbones.emo2', 'emo_mm.visualization',
    'emo_mm.models.converters.emo', 'emo_mm.deployment', 'emo_mm.frameworks',
    'emo_mm.machine', 'emo_mm.toy_data', 'emo_mm.toy_data.shapes', 'emo_mm.toy_data.scene',
    'emo_mm.toy_data.coco', 'emo_mm.demo.log_filter', 'emo_mm.demo.progress',
    'emo_mm.models.layers.parc', 'emo_mm.models.backbones.edgeformer', 'emo_mm.backends',
    'emo_mm.benchmark.runtimes',
]


@pytest.mark.parametrize('name', MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    with single_thread():
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f'{name} has no examples'
    assert result.failed == 0
