"""Parameters and FLOPs of the classifiers equal the papers' (tools/analysis_tools/get_flops.py)."""
import os.path as osp

import pytest

from emo_mm.testing import load_script

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)

# config, params (exact), GFLOPs @224 (fvcore convention; papers / official logs)
CASES = [
    ('configs/cls/emo/emo-1m_8xb256_in1k.py', 1361168, 0.261),
    ('configs/cls/emo/emo-2m_8xb256_in1k.py', 2377472, 0.439),
    ('configs/cls/emo/emo-5m_8xb256_in1k.py', 5108848, 0.903),
    ('configs/cls/emo/emo-6m_8xb256_in1k.py', 6168496, 0.961),
    ('configs/cls/emo2/emo2-1m_8xb128_in1k.py', 1460844, 0.285),
    ('configs/cls/emo2/emo2-2m_8xb128_in1k.py', 2384312, 0.487),
    ('configs/cls/emo2/emo2-5m_8xb128_in1k.py', 5126440, 1.035),
    ('configs/cls/emo2/emo2-20m_8xb128_in1k.py', 20195208, 4.017),
]


def _get_flops_tool():
    return load_script('tools/analysis_tools/get_flops.py')


@pytest.mark.parametrize('config,params,gflops', CASES, ids=[osp.basename(c[0]) for c in CASES])
def test_params_and_flops(config, params, gflops, capsys):
    info = _get_flops_tool().main([osp.join(ROOT, config)])
    assert info['params'] == params
    assert info['flops'] / 1e9 == pytest.approx(gflops, rel=0.01)
    assert 'Input shape: 224x224' in capsys.readouterr().out


def test_shape_argument_changes_flops():
    tool = _get_flops_tool()
    config = osp.join(ROOT, CASES[4][0])
    small = tool.main([config, '--shape', '224'])['flops']
    large = tool.main([config, '--shape', '448', '448'])['flops']
    assert 3.8 < large / small < 4.2  # no padding at either size: FLOPs scale with the pixels
