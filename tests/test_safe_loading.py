"""Safe checkpoint loading: a crafted checkpoint that references an arbitrary callable is
refused, with a message naming the file and the callable, by every entry point (tools/test.py,
--resume, load_from, init_cfg Pretrained, the converters, the inference helpers); real
checkpoints still load; the explicit opt-out for trusted legacy files works."""
import argparse
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModule
from mmengine.runner import CheckpointLoader, load_checkpoint

import emo_mm  # noqa: F401
from emo_mm.io import (TRUST_ENV, CheckpointError, UnsafeCheckpointError, load_checkpoint_file,
                       sanitize_checkpoint, trust_checkpoints)
from emo_mm.models import EMOv2
from emo_mm.testing import load_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'tests', 'data', 'configs')


def _load_tool(*parts):
    return load_script(osp.join('tools', *parts))


class Evil:
    """Unpickles to ``os.system(command)``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


class EvilGetattr:
    """Unpickles to ``getattr(HistoryBuffer, '__init__')``: mmengine checkpoints need a
    ``getattr``, but only for HistoryBuffer's statistics methods."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


@pytest.fixture
def evil(tmp_path):
    """A classifier-looking checkpoint (valid EMOv2-1M weights) that runs ``touch <marker>``
    when unpickled without weights_only."""
    marker = tmp_path / 'pwned'
    weights = {f'backbone.{k}': v for k, v in EMOv2(arch='1m').state_dict().items()}
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=weights, meta=dict(note=Evil(f'touch {marker}'))), path)
    yield str(path)
    assert not marker.exists(), 'the payload ran'


def _refused(err, path, what='posix.system'):
    message = str(err.value)
    assert isinstance(err.value, (UnsafeCheckpointError, pickle.UnpicklingError))
    assert path in message and what in message and TRUST_ENV in message, message


@pytest.fixture(scope='module')
def toy_cls(tmp_path_factory):
    """Tiny classification data for the tools (2 classes of 32x32 images)."""
    root = tmp_path_factory.mktemp('toy')
    toy = _load_tool('dataset_converters', 'make_toy_data.py')
    toy.make_toy_data(str(root), seed=0, tasks=('cls', ), classes=('circle', 'square'),
                      cls_size=32, cls_train_per_class=2, cls_val_per_class=2, verbose=False)
    return str(root / 'cls')


@pytest.fixture
def tool_env(toy_cls, monkeypatch):
    monkeypatch.setenv('EMO_MM_TEST_DATA', toy_cls)
    return osp.join(CONFIGS, 'tiny_cls.py')


# --------------------------------------------------------------------------------------------
# Every entry point refuses the crafted checkpoint.
# --------------------------------------------------------------------------------------------
def test_tools_test_refuses(evil, tool_env, tmp_path):
    test_tool = _load_tool('test.py')
    with pytest.raises(UnsafeCheckpointError) as err:
        test_tool.main([tool_env, evil, '--work-dir', str(tmp_path / 'work')])
    _refused(err, evil)


@pytest.mark.parametrize('how', ['--resume', 'load_from'])
def test_tools_train_refuses(evil, tool_env, tmp_path, how):
    train_tool = _load_tool('train.py')
    args = ['--resume', evil] if how == '--resume' else ['--cfg-options', f'load_from={evil}']
    with pytest.raises(UnsafeCheckpointError) as err:
        train_tool.main([tool_env, '--work-dir', str(tmp_path / 'work'), *args])
    _refused(err, evil)


def test_emo_init_cfg_pretrained_refuses(evil):
    model = EMOv2(arch='1m', init_cfg=dict(type='Pretrained', checkpoint=evil,
                                           prefix='backbone.'))
    with pytest.raises(UnsafeCheckpointError) as err:
        model.init_weights()
    _refused(err, evil)


class Neck(BaseModule):

    def __init__(self, init_cfg):
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(3, 3, 1)


@pytest.mark.parametrize('prefix', [None, 'backbone.'])
def test_mmengine_init_cfg_pretrained_refuses(evil, prefix):
    """Any other module's ``init_cfg`` Pretrained goes through mmengine's loader."""
    module = Neck(init_cfg=dict(type='Pretrained', checkpoint=evil, prefix=prefix))
    with pytest.raises(UnsafeCheckpointError) as err:
        module.init_weights()
    _refused(err, evil)


def test_converters_refuse(evil, tmp_path):
    converter = _load_tool('model_converters', 'emo_to_mmpretrain.py')
    with pytest.raises(UnsafeCheckpointError) as err:
        converter.main([evil, str(tmp_path / 'out.pth')])
    _refused(err, evil)
    reparameterize = _load_tool('model_converters', 'reparameterize_model.py')
    with pytest.raises(UnsafeCheckpointError) as err:
        reparameterize.main([osp.join(CONFIGS, 'tiny_cls.py'), evil, str(tmp_path / 'd.pth')])
    _refused(err, evil)
    assert not osp.exists(tmp_path / 'out.pth') and not osp.exists(tmp_path / 'd.pth')


@pytest.mark.parametrize('config', ['tiny_cls.py', 'tiny_det.py', 'tiny_seg.py'])
def test_inference_helper_refuses(evil, config):
    from emo_mm.apis import init_model
    with pytest.raises(UnsafeCheckpointError) as err:
        init_model(osp.join(CONFIGS, config), evil)
    _refused(err, evil)


def test_inference_helper_loads_and_predicts(tmp_path):
    from emo_mm.apis import inference, init_model
    config = osp.join(CONFIGS, 'tiny_cls.py')
    first = init_model(config)
    path = tmp_path / 'cls.pth'
    torch.save(dict(state_dict=first.state_dict(), meta=dict(dataset_meta=dict(
        classes=('circle', 'square')))), path)
    model = init_model(config, str(path))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                   model.state_dict().values()))
    result = inference(model, np.zeros((40, 40, 3), np.uint8))
    assert result['pred_class'] in ('circle', 'square') and 0 <= result['pred_score'] <= 1


def test_frameworks_own_loaders_refuse(evil):
    """mmengine's load_checkpoint / CheckpointLoader, used by every framework's init_model."""
    for load in (lambda: load_checkpoint(nn.Linear(1, 1), evil),
                 lambda: CheckpointLoader.load_checkpoint(evil)):
        with pytest.raises(UnsafeCheckpointError) as err:
            load()
        _refused(err, evil)


# --------------------------------------------------------------------------------------------
# What is allowed, what is not, and the opt-out.
# --------------------------------------------------------------------------------------------
def test_free_getattr_is_refused(tmp_path):
    path = str(tmp_path / 'getattr.pth')
    torch.save(dict(state_dict={}, x=EvilGetattr()), path)
    for load in (lambda: load_checkpoint_file(path), lambda: CheckpointLoader.load_checkpoint(path)):
        with pytest.raises(UnsafeCheckpointError) as err:
            load()
        _refused(err, path, "getattr(<class 'mmengine.logging.history_buffer.HistoryBuffer'>, "
                            "'__init__')")


def test_object_array_is_refused(tmp_path):
    path = str(tmp_path / 'object.pth')
    torch.save(dict(x=np.array([Evil('true')], dtype=object)), path)
    with pytest.raises(UnsafeCheckpointError, match='object.pth'):
        load_checkpoint_file(path)


def test_torch_opt_out_variable_does_not_disable_the_protection(evil, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    for load in (lambda: load_checkpoint_file(evil), lambda: CheckpointLoader.load_checkpoint(evil)):
        with pytest.raises(UnsafeCheckpointError):
            load()
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'  # restored
    assert 'TORCH_FORCE_WEIGHTS_ONLY_LOAD' not in os.environ


@pytest.fixture
def legacy(tmp_path):
    """A trusted legacy checkpoint: weights plus an ``argparse.Namespace`` (not allow-listed)."""
    path = tmp_path / 'legacy' / 'epoch_3.pth'
    path.parent.mkdir()
    torch.save(dict(state_dict=dict(w=torch.ones(2)), meta=dict(
        args=argparse.Namespace(lr=0.1), epoch=np.int64(3), history=np.arange(3.))), path)
    return str(path)


def test_legacy_file_is_refused_by_default(legacy):
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(legacy)
    _refused(err, legacy, 'argparse.Namespace')


@pytest.mark.parametrize('how', ['env_file', 'env_folder', 'context'])
def test_trusted_legacy_file_loads(legacy, monkeypatch, how):
    if how == 'context':
        with trust_checkpoints(legacy):
            loaded = CheckpointLoader.load_checkpoint(legacy)
        with pytest.raises(UnsafeCheckpointError):  # only inside the block
            load_checkpoint_file(legacy)
    else:
        entry = legacy if how == 'env_file' else osp.dirname(legacy)
        monkeypatch.setenv(TRUST_ENV, os.pathsep.join(['/elsewhere/a.pth', entry]))
        loaded = load_checkpoint_file(legacy)
        assert CheckpointLoader.load_checkpoint(legacy)['meta']['args'].lr == 0.1
    assert loaded['meta']['args'].lr == 0.1


def test_sanitize_makes_a_safe_file(legacy, tmp_path):
    safe = str(tmp_path / 'safe.pth')
    assert sanitize_checkpoint(legacy, safe) == ['meta.args (argparse.Namespace)']
    loaded = load_checkpoint_file(safe)  # weights-only, not trusted
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
    assert loaded['meta']['epoch'] == 3 and loaded['meta']['history'].tolist() == [0., 1., 2.]


@pytest.mark.parametrize('damage', ['missing', 'truncated', 'empty', 'garbage'])
def test_damaged_files_are_named(tmp_path, damage):
    path = tmp_path / f'{damage}.pth'
    if damage != 'missing':
        torch.save(dict(state_dict=dict(w=torch.zeros(10**4))), path)
        data = path.read_bytes()
        path.write_bytes({'truncated': data[:len(data) // 2], 'empty': b'',
                          'garbage': bytes(range(256)) * 4}[damage])
    expected = FileNotFoundError if damage == 'missing' else CheckpointError
    for load in (lambda: load_checkpoint_file(str(path)),
                 lambda: load_checkpoint(nn.Linear(1, 1), str(path))):
        with pytest.raises(expected, match=f'{damage}.pth'):
            load()
