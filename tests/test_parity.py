"""Numerical parity with the official EMO / EMOv2 implementation.

Official-format weights come from tests/data/reference/official_weights.py (a pure function of
each official key), pass through our converter, and load strictly into the classifiers built from
``configs/cls``. Two oracles:

* the shipped outputs of the official implementation (``expected_*.pt``), for every case shipped;
* ``tests/helpers/naive_emo.py``, a literal loop-based re-implementation running on the official
  state dict. It is checked against the shipped outputs here too, then used for every arch,
  window size (incl. global and per-stage) and input size (incl. non-multiples of the window).
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

import emo_mm  # noqa: F401
from emo_mm.apis import build_model_from_cfg
from emo_mm.testing import load_script

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
REF = osp.join(HERE, 'data', 'reference')
TOL = dict(rtol=1e-4, atol=1e-4)
CONFIGS = {
    'emo_1m': 'configs/cls/emo/emo-1m_8xb256_in1k.py', 'emo_2m': 'configs/cls/emo/emo-2m_8xb256_in1k.py',
    'emo_5m': 'configs/cls/emo/emo-5m_8xb256_in1k.py', 'emo_6m': 'configs/cls/emo/emo-6m_8xb256_in1k.py',
    'emo2_1m': 'configs/cls/emo2/emo2-1m_8xb128_in1k.py', 'emo2_2m': 'configs/cls/emo2/emo2-2m_8xb128_in1k.py',
    'emo2_5m': 'configs/cls/emo2/emo2-5m_8xb128_in1k.py', 'emo2_20m': 'configs/cls/emo2/emo2-20m_8xb128_in1k.py',
}


official_weights = load_script(osp.join(REF, 'official_weights.py'))
naive_emo = load_script(osp.join(HERE, 'helpers', 'naive_emo.py'))
converter = load_script('tools/model_converters/emo_to_mmpretrain.py')


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """arch -> path of the official weights converted by our converter (written once)."""
    folder = tmp_path_factory.mktemp('converted')
    paths = {}

    def get(arch):
        if arch not in paths:
            src = folder / f'{arch}_official.pth'
            torch.save(official_weights.make_state_dict(arch), src)
            paths[arch] = str(folder / f'{arch}_mm.pth')
            converter.convert_file(str(src), paths[arch])
        return paths[arch]

    return get


def build_classifier(arch, window_size, checkpoint):
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[arch]))
    cfg.model.backbone.update(window_size=window_size, out_indices=(0, 1, 2, 3, 4))
    model = build_model_from_cfg(cfg).eval()
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    return model


@torch.no_grad()
def run(model, x):
    """(features of levels 0..4 without the final norm, logits)."""
    backbone = model.backbone
    backbone.final_norm = False
    feats = backbone(x)
    backbone.final_norm = True
    return feats, model(x, mode='tensor')


def _ref_values(ref):
    return ('values', ref['values']) if 'values' in ref else ('subsample', ref['subsample'])


def _compare(ours, ref, what):
    assert ours.shape == ref.shape, f'{what}: shape {tuple(ours.shape)} vs {tuple(ref.shape)}'
    err = (ours - ref).abs().max().item()
    assert torch.allclose(ours, ref.to(ours.dtype), **TOL), f'{what}: max abs error {err:.3g}'


SHIPPED = sorted(glob.glob(osp.join(REF, 'expected_*.pt')))


def test_every_shipped_case_is_collected():
    """The glob above must find the four official cases (an empty glob would run no parity)."""
    assert [osp.basename(p) for p in SHIPPED] == [
        'expected_emo2_1m_w7_224x224.pt', 'expected_emo2_2m_w10_320x320.pt',
        'expected_emo_1m_w7_224x224.pt', 'expected_emo_1m_w7_333x517.pt']


@pytest.mark.parametrize('path', SHIPPED, ids=[osp.basename(p) for p in SHIPPED])
def test_shipped_reference_cases(path, converted):
    expected = torch.load(path, weights_only=True)
    arch, inp = expected['arch'], expected['input']
    model = build_classifier(arch, expected['window_size'], converted(arch))
    x = official_weights.make_input(inp['batch'], inp['height'], inp['width'], inp['seed'])
    feats, logits = run(model, x)
    for level, (ours, ref) in enumerate(zip(feats, expected['features'])):
        assert tuple(ours.shape) == tuple(ref['shape'])
        kind, values = _ref_values(ref)
        got = ours if kind == 'values' else ours.flatten()[::ref['subsample_step']]
        _compare(got, values, f'{arch} level {level}')
        assert ours.double().sum().item() == pytest.approx(ref['sum'], rel=1e-4, abs=1e-2)
    if expected['logits'] is not None:
        _compare(logits, expected['logits'], f'{arch} logits')


@pytest.mark.parametrize('path', SHIPPED, ids=[osp.basename(p) for p in SHIPPED])
def test_naive_oracle_matches_shipped_cases(path):
    expected = torch.load(path, weights_only=True)
    arch, inp = expected['arch'], expected['input']
    x = official_weights.make_input(inp['batch'], inp['height'], inp['width'], inp['seed'])
    feats, logits = naive_emo.naive_forward(official_weights.make_state_dict(arch), arch, x,
                                            expected['window_size'])
    for level, (ours, ref) in enumerate(zip(feats, expected['features'])):
        kind, values = _ref_values(ref)
        _compare(ours if kind == 'values' else ours.flatten()[::ref['subsample_step']], values,
                 f'naive {arch} level {level}')
    if expected['logits'] is not None:
        _compare(logits, expected['logits'], f'naive {arch} logits')


# arch, window size (int: all stages; naive oracle uses one size for all), H, W
EXTRA_CASES = [
    ('emo_1m', 10, 320, 320),   # SSDLite setting of EMO 1M / 2M (window 7 there: below)
    ('emo_2m', 7, 320, 320),    # 20 -> 21 and 10 -> 14 padding
    ('emo_5m', 16, 256, 256),   # segmentation window
    ('emo_6m', 0, 160, 224),    # global attention
    ('emo_1m', 7, 97, 131),     # odd size
    ('emo2_1m', 10, 333, 517),  # odd size, several groups + padding
    ('emo2_2m', 7, 224, 288),
    ('emo2_5m', 8, 256, 256),   # _256 models' window
    ('emo2_20m', 10, 320, 320),
    ('emo2_5m', 0, 128, 192),
]


@pytest.mark.parametrize('arch,window,h,w', EXTRA_CASES, ids=[f'{a}-w{w}-{h}x{ww}' for a, w, h, ww in EXTRA_CASES])
def test_more_archs_windows_and_sizes(arch, window, h, w, converted):
    x = official_weights.make_input(1, h, w, seed=3)
    ref_feats, ref_logits = naive_emo.naive_forward(official_weights.make_state_dict(arch), arch, x, window)
    model = build_classifier(arch, window, converted(arch))
    feats, logits = run(model, x)
    for level, (ours, ref) in enumerate(zip(feats, ref_feats)):
        _compare(ours, ref, f'{arch} level {level}')
    _compare(logits, ref_logits, f'{arch} logits')


def test_per_stage_window_sizes(converted):
    """A per-stage list: stage 3 window 5 (14 -> 15, 3x3 groups), stage 4 window 3 (7 -> 9)."""
    arch, windows = 'emo2_1m', [7, 7, 5, 3]
    x = official_weights.make_input(1, 224, 224, seed=5)
    ref_feats, ref_logits = naive_emo.naive_forward(official_weights.make_state_dict(arch), arch, x, windows)
    feats, logits = run(build_classifier(arch, windows, converted(arch)), x)
    for level, (ours, ref) in enumerate(zip(feats, ref_feats)):
        _compare(ours, ref, f'{arch} level {level}')
    _compare(logits, ref_logits, f'{arch} logits')


def test_window_size_changes_outputs(converted):
    """Guards against a window argument that is silently ignored."""
    arch = 'emo_1m'
    x = official_weights.make_input(1, 224, 224, seed=1)
    a, _ = run(build_classifier(arch, 7, converted(arch)), x)
    b, _ = run(build_classifier(arch, 0, converted(arch)), x)
    assert not torch.allclose(a[3], b[3], **TOL)
