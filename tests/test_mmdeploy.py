"""mmdeploy: SSDLite-EMOv2-1M and SegFormer-EMOv2-1M in deploy form (BNs folded) through
mmdeploy's ``torch2onnx`` and its onnxruntime backend (``tools/deployment/mmdeploy_onnx.py``),
with outputs equal to PyTorch's; and the mmdeploy shim of :mod:`emo_mm.compat_deploy`.

The models have random weights with random backbone BN statistics (so that folding changes the
weights), drawn so that the features keep their scale through the layers, and, for the detector,
random classification biases (so that boxes of distinct scores pass the score threshold). The input is noise: on a photograph's flat regions a
random model gives many boxes of equal score, and which of them survive the top-k is arbitrary.
"""
import importlib.util

import pytest
import torch

from emo_mm.testing import load_script

pytestmark = pytest.mark.skipif(importlib.util.find_spec('mmdeploy') is None,
                                reason='mmdeploy is not installed (make install-deploy)')

DEPLOY = 'configs/deploy/{}_onnxruntime_static.py'
MODELS = {
    'detection': 'configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py',
    'segmentation': 'configs/seg/segformer/segformer_emo2-1m_4xb8-160k_ade20k-512x512.py',
}


@pytest.fixture(scope='module')
def noise_image(tmp_path_factory):
    import mmcv
    import numpy as np
    path = str(tmp_path_factory.mktemp('img') / 'noise.png')
    mmcv.imwrite(np.random.RandomState(0).randint(0, 256, (240, 320, 3), np.uint8), path)
    return path


def random_checkpoint(config, path):
    """A checkpoint of ``config``'s model: random weights, BN statistics and head biases."""
    from mmengine.config import Config

    from emo_mm.apis import build_model_from_cfg
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    model = build_model_from_cfg(cfg)
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():  # variance-preserving: PyTorch's default init makes the
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):  # deep features vanish
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity='relu',
                                          generator=generator)
    for name, param in model.backbone.named_parameters():
        if name.endswith('ls.gamma'):  # EMOv2's LayerScale starts at 1e-6 (also without skip)
            param.data.uniform_(0.5, 1.5, generator=generator)
    for module in model.backbone.modules():  # (random statistics in the heads kill features)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.2, generator=generator)
            module.running_var.uniform_(0.5, 2, generator=generator)
            module.weight.data.uniform_(0.5, 1.5, generator=generator)
            module.bias.data.normal_(0, 0.2, generator=generator)
    head = getattr(model, 'bbox_head', None)
    if head is not None:
        for branch in head.cls_convs:
            last = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            last.bias.data.normal_(0, 1, generator=generator)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


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

    from emo_mm import compat_deploy

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

    assert compat_deploy.needed()
    args = (torch.rand(1, 3, 8, 8), )
    export(Model(), args, str(tmp_path / 'ok'), backend='onnxruntime', optimize=False)
    ops = [node.op_type for node in onnx.load(str(tmp_path / 'ok.onnx')).graph.node]
    assert 'Double' in ops  # the symbolic was used: the TorchScript exporter ran

    calls = []
    monkeypatch.setattr(torch.onnx, 'export', lambda *a, **kw: calls.append(kw))
    export(Model(), args, str(tmp_path / 'a'), backend='onnxruntime', optimize=False)
    with compat_deploy.disabled():
        export(Model(), args, str(tmp_path / 'b'), backend='onnxruntime', optimize=False)
    assert [kw.get('dynamo', 'default (True)') for kw in calls] == [False, 'default (True)']
