"""Official checkpoint conversion, the converter CLI and checked pretrained loading."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

import emo_mm  # noqa: F401
from emo_mm.apis import build_model_from_cfg
from emo_mm.io import CheckpointError
from emo_mm.models.converters import (convert_mmpretrain_to_official, convert_official_to_mmpretrain,
                                      detect_variant)
from emo_mm.models.pretrained import load_pretrained
from emo_mm.models import EMO, EMOv2
from emo_mm.testing import load_script

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)
ARCHS = ['emo_1m', 'emo_2m', 'emo_5m', 'emo_6m', 'emo2_1m', 'emo2_2m', 'emo2_5m', 'emo2_20m']
CLS_CONFIGS = {a: f'configs/cls/{"emo2" if a.startswith("emo2") else "emo"}/'
                  f'{a.replace("_", "-")}_8xb{128 if a.startswith("emo2") else 256}_in1k.py' for a in ARCHS}
CONVERTER = osp.join(ROOT, 'tools', 'model_converters', 'emo_to_mmpretrain.py')


official_weights = load_script(osp.join(HERE, 'data', 'reference', 'official_weights.py'))


def _same(a, b):
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize('arch', ARCHS)
def test_detect_variant_and_round_trip(arch):
    official = official_weights.make_state_dict(arch)
    version, name = detect_variant(official)
    assert (version, name) == ('EMOv2' if arch.startswith('emo2') else 'EMO', arch.split('_')[1])
    converted = convert_official_to_mmpretrain(official)
    assert detect_variant(converted) == (version, name)
    assert all(k.startswith(('backbone.', 'head.fc.')) for k in converted)
    assert _same(convert_mmpretrain_to_official(converted), official)


@pytest.mark.parametrize('wrap', ['flat', 'net', 'net_E', 'state_dict', 'model', 'module'])
def test_wrapper_forms(wrap):
    official = official_weights.make_state_dict('emo2_1m')
    expected = convert_official_to_mmpretrain(official)
    if wrap == 'module':
        ckpt = {'module.' + k: v for k, v in official.items()}
    elif wrap == 'flat':
        ckpt = official
    else:
        ckpt = {wrap: official, 'epoch': 3}
    assert _same(convert_official_to_mmpretrain(ckpt), expected)


def test_ema_weights_preferred():
    official = official_weights.make_state_dict('emo_1m')
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in official.items()}
    ckpt = {'net': official, 'net_E': ema, 'optimizer': {}}
    assert _same(convert_official_to_mmpretrain(ckpt), convert_official_to_mmpretrain(ema))
    assert _same(convert_official_to_mmpretrain(ckpt, prefer_ema=False),
                 convert_official_to_mmpretrain(official))


def test_idempotent_and_backbone_only():
    converted = convert_official_to_mmpretrain(official_weights.make_state_dict('emo_2m'))
    assert _same(convert_official_to_mmpretrain(converted), converted)
    assert _same(convert_official_to_mmpretrain({'state_dict': converted, 'meta': {}}), converted)
    backbone = convert_official_to_mmpretrain(converted, backbone_only=True)
    assert set(converted) - set(backbone) == {'head.fc.weight', 'head.fc.bias', 'backbone.norm.weight',
                                              'backbone.norm.bias'}


def test_not_an_emo_checkpoint():
    with pytest.raises(CheckpointError, match='Not an EMO / EMOv2 checkpoint'):
        convert_official_to_mmpretrain({'conv1.weight': torch.zeros(64, 3, 7, 7), 'fc.bias': torch.zeros(10)})
    with pytest.raises(CheckpointError, match='holds no tensors'):
        convert_official_to_mmpretrain({'epoch': 1})


def test_unknown_variant():
    official = official_weights.make_state_dict('emo_2m')
    truncated = {k: v for k, v in official.items() if not k.startswith('stage3.8.')}
    with pytest.raises(CheckpointError, match=r'Unknown EMO variant: depths \[3, 3, 8, 3\]'):
        convert_official_to_mmpretrain(truncated)


@pytest.mark.parametrize('arch', ARCHS)
def test_converted_file_loads_strictly_into_classifier_config(arch, tmp_path):
    src, dst = tmp_path / 'official.pth', tmp_path / 'mm.pth'
    torch.save({'net_E': official_weights.make_state_dict(arch)}, src)
    converter = load_script(CONVERTER)
    meta = converter.convert_file(str(src), str(dst))
    assert meta['arch'] == arch.split('_')[1]
    model = build_model_from_cfg(Config.fromfile(osp.join(ROOT, CLS_CONFIGS[arch])))
    load_checkpoint(model, str(dst), map_location='cpu', strict=True, logger='silent')
    saved = torch.load(dst, weights_only=True)
    assert set(saved) == {'state_dict', 'meta'}
    assert torch.equal(model.head.fc.weight, saved['state_dict']['head.fc.weight'])


def test_cli_and_idempotent_file(tmp_path):
    src = tmp_path / 'net.pth'
    torch.save(official_weights.make_state_dict('emo2_1m'), src)
    for args in ([str(src), str(tmp_path / 'a.pth')], [str(tmp_path / 'a.pth'), str(tmp_path / 'b.pth')],
                 [str(src), str(tmp_path / 'bb.pth'), '--backbone-only']):
        out = subprocess.run([sys.executable, CONVERTER, *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    a = torch.load(tmp_path / 'a.pth', weights_only=True)['state_dict']
    b = torch.load(tmp_path / 'b.pth', weights_only=True)['state_dict']
    assert _same(a, b)
    bad = subprocess.run([sys.executable, CONVERTER, str(tmp_path / 'missing.pth'), str(tmp_path / 'x.pth')],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and 'missing.pth' in bad.stderr and not (tmp_path / 'x.pth').exists()


@pytest.mark.parametrize('source', ['classifier', 'backbone_only', 'official'])
def test_load_pretrained_forms(source, tmp_path):
    official = official_weights.make_state_dict('emo2_1m')
    converted = convert_official_to_mmpretrain(official)
    payload = {'classifier': {'state_dict': converted, 'meta': {}},
               'backbone_only': {'state_dict': convert_official_to_mmpretrain(official, backbone_only=True)},
               'official': official}[source]
    path = tmp_path / 'w.pth'
    torch.save(payload, path)
    model = EMOv2(arch='1m', window_size=10, init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                                              prefix='backbone.'))
    model.init_weights()
    assert torch.equal(model.stage4[2].mixer.qk.conv.weight, official['stage4.2.eops.0.qk.conv.weight'])


@pytest.mark.parametrize('arch_cls', [EMO, EMOv2])
def test_out_norms_start_fresh_and_normalise_each_level(arch_cls, tmp_path):
    """``out_norms=True`` adds one LayerNorm2d per returned level. ImageNet checkpoints lack
    them: loading keeps them as initialised (and says so) while every other key must still match;
    a checkpoint that has them (a finetuned detector's backbone) loads them."""
    arch = '1m'
    official = official_weights.make_state_dict(('emo_' if arch_cls is EMO else 'emo2_') + arch)
    path = tmp_path / 'w.pth'
    torch.save({'state_dict': convert_official_to_mmpretrain(official)}, path)
    model = arch_cls(arch=arch, out_indices=(3, 4), out_norms=True)
    assert model.fresh_keys() == ('out_norm3.weight', 'out_norm3.bias', 'out_norm4.weight',
                                  'out_norm4.bias')
    load_pretrained(model, str(path), prefix='backbone.')
    assert torch.equal(model.out_norm4.weight, torch.ones(model.out_channels[4]))
    plain = arch_cls(arch=arch, out_indices=(3, 4))
    load_pretrained(plain, str(path), prefix='backbone.')
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        normed, raw = model.eval()(x), plain.eval()(x)
    for a, b in zip(normed, raw):
        mean = b.mean(1, keepdim=True)
        ref = (b - mean) / (b.var(1, unbiased=False, keepdim=True) + 1e-6).sqrt()
        torch.testing.assert_close(a, ref, atol=1e-4, rtol=1e-4)
        assert a.std(1).mean() == pytest.approx(1, abs=0.01)
    # a checkpoint with the norms loads them; other missing keys are still errors
    with torch.no_grad():
        model.out_norm3.weight.fill_(2.0)
    torch.save({'state_dict': {'backbone.' + k: v for k, v in model.state_dict().items()}}, path)
    again = arch_cls(arch=arch, out_indices=(3, 4), out_norms=True)
    load_pretrained(again, str(path), prefix='backbone.')
    assert torch.equal(again.out_norm3.weight, model.out_norm3.weight)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith('stage4.')}
    torch.save({'state_dict': {'backbone.' + k: v for k, v in state.items()}}, path)
    with pytest.raises(CheckpointError, match='missing keys'):
        load_pretrained(arch_cls(arch=arch, out_indices=(3, 4), out_norms=True), str(path),
                        prefix='backbone.')


def test_missing_pretrained_file_is_an_error(tmp_path):
    model = EMO(arch='1m', init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'emo_1m_in1k.pth'),
                                         prefix='backbone.'))
    with pytest.raises(FileNotFoundError, match='emo_1m_in1k.pth.*\n.*emo_to_mmpretrain.py'):
        model.init_weights()


def test_pretrained_mismatches_listed_key_by_key(tmp_path):
    converted = convert_official_to_mmpretrain(official_weights.make_state_dict('emo2_1m'))
    path = tmp_path / 'w.pth'
    torch.save({'state_dict': converted}, path)
    model = EMOv2(arch='2m')  # wrong arch: shapes and depths differ
    with pytest.raises(CheckpointError) as err:
        load_pretrained(model, str(path), prefix='backbone.')
    assert 'shape mismatches' in str(err.value) and 'stage3.0.proj.conv.weight' in str(err.value)
    assert 'missing keys' in str(err.value) and 'stage1.2.' in str(err.value)
    with pytest.raises(CheckpointError, match="No key .* starts with prefix 'student.'"):
        load_pretrained(EMOv2(arch='1m'), str(path), prefix='student.')


def test_corrupt_checkpoint_names_the_file(tmp_path):
    path = tmp_path / 'broken.pth'
    torch.save({'state_dict': convert_official_to_mmpretrain(official_weights.make_state_dict('emo_1m'))}, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='broken.pth'):
        load_pretrained(EMO(arch='1m'), str(path))


@pytest.mark.parametrize('arch', ['emo_1m', 'emo2_1m'])
def test_reparameterize_tool_output_loads_into_the_deploy_config(arch, tmp_path):
    """tools/model_converters/reparameterize_model.py: a converted classifier checkpoint, folded,
    loads strictly into the same config with ``model.backbone.deploy=True`` and predicts the same
    logits as the train form in eval mode."""
    src, dst = tmp_path / 'cls.pth', tmp_path / 'deploy.pth'
    official = official_weights.make_state_dict(arch)
    # non-trivial BN statistics, so that folding them is visible
    for k, v in official.items():
        if k.endswith('running_var'):
            official[k] = v.uniform_(0.5, 2.0)
        elif k.endswith('running_mean'):
            official[k] = v.uniform_(-0.5, 0.5)
    torch.save(dict(state_dict=convert_official_to_mmpretrain(official)), src)
    config = osp.join(ROOT, CLS_CONFIGS[arch])
    load_script('tools/model_converters/reparameterize_model.py').main(
        [config, str(src), str(dst)])

    train_form = build_model_from_cfg(Config.fromfile(config))
    load_checkpoint(train_form, str(src), map_location='cpu', strict=True)
    cfg = Config.fromfile(config)
    cfg.model.backbone.deploy = True
    deploy_form = build_model_from_cfg(cfg)
    load_checkpoint(deploy_form, str(dst), map_location='cpu', strict=True)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                   for m in deploy_form.backbone.modules())
    x = official_weights.make_input(2, 96, 80, 1)
    with torch.no_grad():
        expected = train_form.eval()(x, mode='tensor')
        got = deploy_form.eval()(x, mode='tensor')
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_reparameterize_tool_output_loads_into_an_edgeformer_deploy_config(tmp_path):
    """The same for EdgeFormer (``EdgeFormer(deploy=True)``; its ParC pre-norms stay BNs)."""
    config = osp.join(ROOT, 'configs/cls/edgeformer/edgeformer-xs_8xb128_in1k.py')
    torch.manual_seed(0)
    train_form = build_model_from_cfg(Config.fromfile(config))
    for m in train_form.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.uniform_(-0.5, 0.5)
    src, dst = tmp_path / 'cls.pth', tmp_path / 'deploy.pth'
    torch.save(dict(state_dict=train_form.state_dict()), src)
    load_script('tools/model_converters/reparameterize_model.py').main(
        [config, str(src), str(dst)])
    cfg = Config.fromfile(config)
    cfg.model.backbone.deploy = True
    deploy_form = build_model_from_cfg(cfg)
    load_checkpoint(deploy_form, str(dst), map_location='cpu', strict=True)
    assert deploy_form.backbone.deploy
    assert 'backbone.stage0.0.norm.weight' not in torch.load(dst, weights_only=True)['state_dict']
    x = official_weights.make_input(2, 96, 80, 1)
    with torch.no_grad():
        expected = train_form.eval()(x, mode='tensor')
        got = deploy_form.eval()(x, mode='tensor')
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())
