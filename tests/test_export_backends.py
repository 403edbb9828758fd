"""Export backends (emo_mm.backends, tools/deployment/export.py): every backend converts small
EMO / EMOv2 / EdgeFormer backbones in deploy form and (Core ML aside: no runtime on Linux) its
runtime matches PyTorch within 1e-4 on a sample; the tool's exit status, artefacts and errors.

The packages come with `make install-mobile` (`make test` installs them): a missing one is a
failure here, not a skip. The reference of each parity test is computed here, from the model in
train form (BatchNorms not folded), eager; the BN statistics and layer scales are random so that
folding them and the attention matter.
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch

import emo_mm  # noqa: F401
from emo_mm.backends import (BACKENDS, BackendUnavailable, UnsupportedModel, export_model,
                             get_backend)
from emo_mm.backends import base as backends_base
from emo_mm.models import EMO, EdgeFormer, EMOv2
from emo_mm.testing import load_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHAPE = (64, 96)


def _randomise(model):
    generator = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1, generator=generator)
            m.running_var.uniform_(0.5, 1.5, generator=generator)
        if hasattr(m, 'gamma') and isinstance(m.gamma, torch.nn.Parameter):
            m.gamma.data.fill_(0.5)  # the 1e-6 init would hide the attention from the check
    return model.eval()


def small_backbone(family):
    """A shallow variant of the family's smallest arch (every block kind; EMO / EMOv2 with
    window 2: several windows and padding at 64 x 96), all five feature maps."""
    if family == 'EdgeFormer':
        arch = dict(EdgeFormer.arch_zoo['s'], mv2_channels=[16, 24], mv2_depths=[1, 1],
                    stage_channels=[32, 48, 64], parc_channels=[64, 48, 64],
                    ffn_channels=[64, 96, 128], parc_depths=[1, 1, 1])
        return _randomise(EdgeFormer(arch, out_indices=(0, 1, 2, 3, 4)))
    cls = EMO if family == 'EMO' else EMOv2
    return _randomise(cls(arch=dict(cls.arch_zoo['1m'], depths=[1, 1, 2, 2]), window_size=2,
                          out_indices=(0, 1, 2, 3, 4)))


def test_every_backend_is_installed():
    for backend in BACKENDS.values():
        backend.check_installed()


# each family on every backend would take ~3 min here (ExecuTorch lowers slowly): each backend
# gets one family, each family at least two backends; the 224 x 224 runs of all three families
# on every backend are in docs/deployment.md (tools/deployment/export_matrix.py)
PARITY = [('onnx', 'EdgeFormer'), ('executorch', 'EMOv2'), ('litert', 'EMO'),
          ('ncnn', 'EdgeFormer'), ('mnn', 'EMOv2'), ('openvino', 'EMO'), ('coreml', 'EMOv2')]


@pytest.mark.parametrize('backend,family', PARITY)
def test_backend_matches_pytorch(backend, family, tmp_path):
    model = small_backbone(family)
    x = backends_base.sample(SHAPE, seed=1)
    with torch.no_grad():
        expected = model(x)
    path = str(tmp_path / f'backbone{BACKENDS[backend].suffix}')
    result = export_model(model, backend, SHAPE, path, seed=1)
    assert result.ok and osp.exists(path) and result.size > 10_000
    assert result.output_shapes == [list(t.shape) for t in expected]
    info = json.loads((tmp_path / 'backbone.json').read_text())
    assert info['backend'] == backend and info['input']['shape'] == [1, 3, *SHAPE]
    if backend == 'coreml':  # no runtime on Linux: the saved program was checked
        assert not result.ran and result.max_error is None
        assert result.details['max_rank'] <= 5 and 'conv' in result.details['ops']
        return
    got = BACKENDS[backend].run(path, x)
    assert len(got) == len(expected) == 5
    for ref, out in zip(expected, got):
        out = np.asarray(out).reshape(ref.shape)
        assert np.abs(out - ref.numpy()).max() < 1e-4, backend
    assert result.max_error < 1e-4


@pytest.mark.parametrize('config', ['configs/cls/edgeformer/edgeformer-s_8xb128_in1k.py',
                                    'configs/cls/emo/emo-1m_8xb256_in1k.py'])
def test_random_models_keep_the_feature_scale(config):
    """The random models of tools/deployment/export_matrix.py (tests/helpers/random_weights.py)
    keep every stage at RMS of order 1: a 1e-4 check on features of RMS 382 (the random
    EdgeFormer-S before its BN statistics were calibrated) compares float noise of the reference
    itself, and which runtime 'fails' then depends on the CPU."""
    backbone = load_script('tests/helpers/random_weights.py').random_model(
        osp.join(ROOT, config)).backbone
    backbone.out_indices = (0, 1, 2, 3, 4)  # (the classifier's: the last level only)
    x = backends_base.sample((224, 224), seed=1)
    with torch.no_grad():
        feats = backbone(x)
    rms = [float(f.pow(2).mean().sqrt()) for f in feats]
    assert len(rms) == 5 and all(0.1 < r < 10 for r in rms), rms


def test_coreml_rejects_rank_6(tmp_path):
    """Core ML takes tensors of rank <= 5 (coremltools rewrites rank-6 reshape / transpose
    chains, not other ops on them): such a graph is an error naming the backend."""

    class Rank6(torch.nn.Module):
        def forward(self, x):
            b, c, h, w = x.shape
            weight = torch.arange(4.).reshape(1, 1, 2, 1, 2, 1)
            return (x.reshape(b, c, 2, h // 2, 2, w // 2) * weight).sum(dim=(2, 4))

    with pytest.raises(UnsupportedModel, match="backend 'coreml' could not convert Rank6 "
                       r'\(model\): .*rank <= 5'):
        export_model(Rank6(), 'coreml', (32, 32), str(tmp_path / 'r6.mlpackage'))


def test_mismatch_is_reported(tmp_path, monkeypatch):
    backend = get_backend('onnx')
    load = backend.load

    def off_by_1e_3(self, path):
        infer = load(path)
        return lambda x: [o + 1e-3 for o in infer(x)]

    monkeypatch.setattr(type(backend), 'load', off_by_1e_3)
    result = export_model(small_backbone('EMO'), 'onnx', SHAPE, str(tmp_path / 'm.onnx'))
    assert not result.ok and 1e-3 * 0.99 < result.max_error < 2e-3


def test_bad_inputs(tmp_path, monkeypatch):
    model = small_backbone('EMO')
    with pytest.raises(ValueError, match="unknown backend 'tflite'; valid backends: onnx, "
                       'executorch, litert, ncnn, mnn, openvino, coreml'):
        export_model(model, 'tflite', SHAPE, str(tmp_path / 'm.tflite'))
    with pytest.raises(ValueError, match=r'shape must be two integers H W, each >= 32'):
        export_model(model, 'onnx', (16, 64), str(tmp_path / 'm.onnx'))
    with pytest.raises(ValueError, match=r'writes a \.pte artefact'):
        export_model(model, 'executorch', SHAPE, str(tmp_path / 'm.onnx'))
    with pytest.raises(ValueError, match='part must be one of model, backbone'):
        export_model(model, 'onnx', SHAPE, str(tmp_path / 'm.onnx'), part='neck')
    with pytest.raises(ValueError, match='part=backbone: EMO has no .backbone'):
        export_model(model, 'onnx', SHAPE, str(tmp_path / 'm.onnx'), part='backbone')
    from emo_mm.apis import build_model_from_cfg
    mask_rcnn = build_model_from_cfg(
        osp.join(ROOT, 'configs/det/mask_rcnn/mask-rcnn_emo2-1m_fpn_4xb4-1x_coco.py'))
    with pytest.raises(UnsupportedModel, match='MaskRCNN is a two-stage detector: .* Export its '
                       r'backbone \(part=backbone\), or the whole detector to ONNX'):
        export_model(mask_rcnn, 'onnx', SHAPE, str(tmp_path / 'm.onnx'))
    monkeypatch.setattr(get_backend('litert'), 'packages', (('no_such_module_x', 'litert-torch'), ))
    with pytest.raises(BackendUnavailable, match="backend 'litert' needs the package litert-torch "
                       r"\(module 'no_such_module_x'\).*make install-mobile"):
        export_model(model, 'litert', SHAPE, str(tmp_path / 'm.tflite'))


def _small_classifier_config(tmp_path):
    config = tmp_path / 'emo2_small.py'
    arch = dict(EMOv2.arch_zoo['1m'], depths=[1, 1, 2, 2], _delete_=True)
    config.write_text(f"_base_ = {osp.join(ROOT, 'configs/cls/emo2/emo2-1m_8xb128_in1k.py')!r}\n"
                      f'model = dict(backbone=dict(arch={arch!r}, window_size=2))\n')
    return str(config)


def test_cli(tmp_path, capsys):
    """Train-form and deploy-form checkpoints (``meta.deploy``), classifier and backbone; exit
    status 0 and the printed check; the argument errors (exit status 2)."""
    tool = load_script('tools/deployment/export.py')
    config = _small_classifier_config(tmp_path)
    model = load_script('tests/helpers/random_weights.py').random_model(config)
    ckpt = str(tmp_path / 'train.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    deploy = str(tmp_path / 'deploy.pth')
    load_script('tools/model_converters/reparameterize_model.py').reparameterize(config, ckpt,
                                                                                  deploy)
    work = str(tmp_path / 'out')
    assert tool.main([config, ckpt, '--backend', 'onnx', '--shape', '64', '96',
                      '--work-dir', work]) == 0
    text = capsys.readouterr().out
    assert osp.isfile(osp.join(work, 'emo2_small.onnx')) and 'outputs: 1x1000' in text
    assert "'mean': [123.675, 116.28, 103.53]" in text
    assert 'onnx runtime vs PyTorch (deploy form): max abs error' in text and ': OK' in text
    # what an app does with it: no PyTorch, the input spec from the .json
    import mmcv
    image = str(tmp_path / 'noise.png')
    mmcv.imwrite(np.random.RandomState(0).randint(0, 256, (50, 70, 3), np.uint8), image)
    run = load_script('tools/deployment/run_exported.py')
    assert run.main([osp.join(work, 'emo2_small.onnx'), image, '--topk', '3']) == 0
    text = capsys.readouterr().out
    assert 'onnx: emo2_small.onnx on noise.png (input 1x3x64x96)' in text
    assert '  3. class ' in text and '  4. ' not in text
    assert tool.main([config, deploy, '--backend', 'ncnn', '--shape', '64', '96', '--part',
                      'backbone', '--work-dir', work]) == 0
    text = capsys.readouterr().out
    for name in ('emo2_small_backbone.ncnn.param', 'emo2_small_backbone.ncnn.bin',
                 'emo2_small_backbone.json'):
        assert osp.isfile(osp.join(work, name)), name
    assert '2 files' in text and ': OK' in text
    # the deploy-form checkpoint gives the same network
    session_out = []
    for ckpt_path in (ckpt, deploy):
        m, _ = tool.load_model(config, ckpt_path)
        with torch.no_grad():
            session_out.append(m(torch.ones(1, 3, 64, 64), mode='tensor'))
    torch.testing.assert_close(session_out[0], session_out[1], rtol=1e-4, atol=1e-4)

    assert tool.main([config, ckpt, '--backend', 'onnx', '--shape', '16', '96']) == 2
    assert 'shape must be two integers H W, each >= 32' in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        tool.main([config, ckpt, '--backend', 'tensorrt', '--shape', '64', '64'])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'tensorrt'" in err and all(name in err for name in BACKENDS)
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        tool.main([config, str(tmp_path / 'nope.pth'), '--backend', 'onnx', '--shape', '64', '64'])
