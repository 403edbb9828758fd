"""mmdeploy: SSDLite-EMOv2-1M and SegFormer-EMOv2-1M in deploy form (BNs folded) through
mmdeploy's ``torch2onnx`` and its onnxruntime backend (``tools/deployment/mmdeploy_onnx.py``),
with outputs equal to PyTorch's; and the ``mmdeploy_export`` shim of :mod:`emo_mm.compat`.

The models have random weights (``tests/helpers/random_weights.py``). The input is noise: on a
photograph's flat regions a random model gives many boxes of equal score, and which of them
survive the top-k is arbitrary.
"""
import importlib.util

import pytest
import torch

from emo_mm.testing import isolated_default_scope, load_script

random_checkpoint = load_script('tests/helpers/random_weights.py').random_checkpoint

pytestmark = pytest.mark.skipif(importlib.util.find_spec('mmdeploy') is None,
                                reason='mmdeploy is not installed (make install-deploy)')

DEPLOY = 'configs/deploy/{}_onnxruntime_static.py'
MODELS = {
    'detection': 'configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py',
    'segmentation': 'configs/seg/segformer/segformer_emo2-1m_4xb8-160k_ade20k-512x512.py',
}


@pytest.fixture(autouse=True)
def default_scope():
    """mmdeploy's export sets mmengine's process-wide default scope (to mmdet / mmseg)."""
    with isolated_default_scope():
        yield


@pytest.fixture(scope='module')
def noise_image(tmp_path_factory):
    import mmcv
    import numpy as np
    path = str(tmp_path_factory.mktemp('img') / 'noise.png')
    mmcv.imwrite(np.random.RandomState(0).randint(0, 256, (240, 320, 3), np.uint8), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize('task', ['detection', 'segmentation'])
def test_deploy_form_through_mmdeploy_onnxruntime_matches_pytorch(task, noise_image, tmp_path):
    config = MODELS[task]
    reparameterize = load_script('tools/model_converters/reparameterize_model.py').reparameterize
    deploy_ckpt = str(tmp_path / 'deploy.pth')
    reparameterize(config, random_checkpoint(config, tmp_path / 'model.pth'), deploy_ckpt)
    tool = load_script('tools/deployment/mmdeploy_onnx.py')
    diffs = tool.main([DEPLOY.format(task), config, deploy_ckpt, noise_image,
                       '--work-dir', str(tmp_path / 'onnx')])
    assert (tmp_path / 'onnx' / 'end2end.onnx').is_file()
    if task == 'detection':
        assert diffs['boxes'] >= 10  # enough boxes for the comparison to mean something
    else:
        assert diffs['pixels'] == 512 * 683  # at the test pipeline's size (short side 512)


def test_shim_makes_mmdeploy_use_the_torchscript_exporter(tmp_path, monkeypatch):
    """mmdeploy's export calls ``torch.onnx.export`` without ``dynamo=``: on torch >= 2.9 that
    is the torch.export-based exporter, which ignores the symbolics of mmdeploy's custom ops
    (SSDLite then fails: ``TorchExportError ... data is not allocated yet``). With the shim the
    TorchScript exporter runs and uses them."""
    import onnx
    from mmdeploy.apis.onnx import export

    from emo_mm import compat

    class CustomOp(torch.autograd.Function):  # an ONNX custom op, as mmdeploy's NMS

        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def symbolic(g, x):
            return g.op('mmdeploy::Double', x)

    class Model(torch.nn.Module):

        def forward(self, x):
            return CustomOp.apply(x) + 1

    assert 'mmdeploy_export' in compat.active_shims()
    args = (torch.rand(1, 3, 8, 8), )
    export(Model(), args, str(tmp_path / 'ok'), backend='onnxruntime', optimize=False)
    ops = [node.op_type for node in onnx.load(str(tmp_path / 'ok.onnx')).graph.node]
    assert 'Double' in ops  # the symbolic was used: the TorchScript exporter ran

    calls = []
    monkeypatch.setattr(torch.onnx, 'export', lambda *a, **kw: calls.append(kw))
    export(Model(), args, str(tmp_path / 'a'), backend='onnxruntime', optimize=False)
    with compat.disabled('mmdeploy_export'):
        export(Model(), args, str(tmp_path / 'b'), backend='onnxruntime', optimize=False)
    assert [kw.get('dynamo', 'default (True)') for kw in calls] == [False, 'default (True)']
