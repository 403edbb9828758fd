"""Tests of :mod:`emo_mm.compat`: every upstream break is reproduced with its shim disabled and
shown fixed with it on (numbers as in ``docs/upstream_issues.md``)."""
import contextlib
import json
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from torch.utils.data import Dataset

from emo_mm import compat
from emo_mm.compat.shim import dist_version
from emo_mm.io import CHECKPOINT_SAFE_GLOBALS, UnsafeCheckpointError

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CUDA = torch.cuda.is_available()


def run_python(code, cwd=REPO, timeout=300):
    """Run ``code`` in a fresh interpreter (this venv) and return the completed process."""
    env = {k: v for k, v in os.environ.items() if k != 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'}
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_import_keeps_frameworks_unimported_and_hooks_ssd_head():
    """``import emo_mm`` applies all shims this stack needs, imports no framework, and patches
    ``SSDHead`` as soon as mmdet imports it (the post-import hook)."""
    proc = run_python("""
        import json, sys
        import emo_mm
        frameworks = sorted(m for m in sys.modules if m.split('.')[0] in
                            ('mmdet', 'mmseg', 'mmpretrain'))
        active = emo_mm.compat.active_shims()
        from mmdet.models.dense_heads.ssd_head import SSDHead
        print(json.dumps(dict(frameworks=frameworks, active=active,
                              has_loss_cls='loss_cls' in vars(SSDHead),
                              loss_cls=repr(getattr(SSDHead, 'loss_cls', 'missing')))))
    """)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['frameworks'] == []
    # The pinned stack (torch 2.14, mmdet 3.3.0, mmengine 0.10.7) needs all five; mmdeploy
    # 1.3.1 (an optional extra) needs its own.
    expected = ['checkpoint', 'ssd_head', 'dist_cpu', 'safe_loading']
    if dist_version('mmdeploy'):
        expected.append('mmdeploy_export')
    expected.append('inferencer_names')
    assert result['active'] == expected
    assert result['has_loss_cls'] and result['loss_cls'] == 'None'


def test_apply_is_idempotent():
    from mmengine.dist import utils as dist_utils
    before = (len(torch.serialization.get_safe_globals()), list(sys.meta_path),
              dist_utils._init_dist_pytorch)
    assert compat.apply() == compat.active_shims()
    compat.apply()
    after = (len(torch.serialization.get_safe_globals()), list(sys.meta_path),
             dist_utils._init_dist_pytorch)
    assert after == before
    # every launcher is wrapped once, around mmengine's own function
    for launcher in ('_init_dist_pytorch', '_init_dist_slurm', '_init_dist_mpi'):
        wrapped = getattr(dist_utils, launcher).__wrapped__
        assert wrapped.__module__ == 'mmengine.dist.utils' and not hasattr(wrapped, '__wrapped__')


def test_disabled_rejects_unknown_shim_names():
    with pytest.raises(ValueError, match=r"Unknown shim\(s\) \['ssd'\].*'ssd_head'"):
        with compat.disabled('ssd'):
            pass


def test_disabled_restores_the_active_shims():
    active = compat.active_shims()
    with compat.disabled():
        assert compat.active_shims() == []
    assert compat.active_shims() == active


# ---------------------------------------------------------------------------------------------
# Break 1: weights-only loading of mmengine checkpoints.
# ---------------------------------------------------------------------------------------------
class ToyDataset(Dataset):
    """Eight random 2-d points with a regression target."""
    METAINFO = dict(classes=('x', ))

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.data = torch.randn(8, 2, generator=generator)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return dict(inputs=self.data[index], data_samples=self.data[index].sum())


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs)).squeeze(1)
        if mode == 'loss':
            return dict(loss=(out - torch.stack(data_samples)).pow(2).mean())
        return out


def toy_runner(work_dir, max_iters, name, **kwargs):
    """A real mmengine Runner (the code path of all three frameworks) on the toy task."""
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        **kwargs)


@pytest.fixture(scope='module')
def toy_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('toy_run')
    toy_runner(work_dir, 2, 'toy_train').train()
    return str(work_dir / 'iter_2.pth')


@contextlib.contextmanager
def stock_mmengine_loading():
    """Neither the ``checkpoint`` shim nor the ``safe_loading`` shim (which allow-lists the
    same globals for the files it loads): the upstream behaviour."""
    with compat.disabled('checkpoint', 'safe_loading'):
        yield


def test_checkpoint_load_fails_without_shim(toy_checkpoint):
    with stock_mmengine_loading():
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            load_checkpoint(ToyModel(), toy_checkpoint)
        with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
            CheckpointLoader.load_checkpoint(toy_checkpoint)


def test_checkpoint_loads_and_resumes_with_shim(toy_checkpoint, tmp_path):
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ
    model = ToyModel()
    checkpoint = load_checkpoint(model, toy_checkpoint)
    assert checkpoint['meta']['iter'] == 2
    assert torch.equal(model.linear.weight, checkpoint['state_dict']['linear.weight'])
    history = checkpoint['message_hub']['log_scalars']['train/loss']
    assert type(history).__name__ == 'HistoryBuffer' and history.data[0].dtype == np.float64

    runner = toy_runner(tmp_path, 3, 'toy_resume', load_from=toy_checkpoint, resume=True)
    runner.train()
    assert runner.iter == 3
    assert len(runner.message_hub.get_scalar('train/loss').data[0]) == 3  # 2 resumed + 1 new


class Evil:
    """Pickles to ``os.system(command)``: loading it must never run the command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


@pytest.fixture(params=['global', 'object_array'])
def evil_checkpoint(request, tmp_path):
    """A checkpoint that runs ``touch <marker>`` when unpickled without weights_only."""
    marker = tmp_path / 'pwned'
    payload = Evil(f'touch {marker}')
    if request.param == 'object_array':  # smuggled through an allowed numpy array
        payload = np.array([payload], dtype=object)
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=dict(), meta=dict(payload=payload)), path)
    return str(path), marker


def test_crafted_checkpoint_is_refused_through_mmengine(evil_checkpoint, tmp_path):
    path, marker = evil_checkpoint
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        load_checkpoint(ToyModel(), path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    runner = toy_runner(tmp_path / 'resume', 3, f'evil_{tmp_path.name}', load_from=path,
                        resume=True)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        runner.train()
    assert not marker.exists()


def test_mmengine_loader_runs_code_without_safe_loading_shim(evil_checkpoint, monkeypatch):
    """Break 7: mmengine's loader calls ``torch.load`` without ``weights_only``, so the torch
    opt-out variable (a common "fix" for break 1) lets a crafted checkpoint run code."""
    path, marker = evil_checkpoint
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with compat.disabled('safe_loading'):
        try:
            CheckpointLoader.load_checkpoint(path, map_location='cpu')
        except Exception:  # the object array may fail after its payload ran
            pass
        assert marker.exists(), 'the payload did not run: is break 7 fixed upstream?'
    marker.unlink()
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert not marker.exists()


@pytest.mark.parametrize('legacy_module', ['numpy.core.multiarray', 'numpy._core.multiarray'])
def test_checkpoint_pickled_under_numpy1_loads(legacy_module):
    """numpy 1.x pickles ``numpy.core.multiarray._reconstruct``; numpy 2 ``numpy._core...``."""
    import io
    buffer = io.BytesIO()
    obj = dict(array=np.arange(3, dtype=np.float32), scalar=np.float64(0.5))
    # the legacy format writes protocol-2 GLOBALs as plain text lines, easy to rename
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    current = np.zeros(0).__reduce__()[0].__module__.encode()
    data = data.replace(current + b'\n', legacy_module.encode() + b'\n')
    assert data.count(legacy_module.encode() + b'\n') == 2  # _reconstruct and scalar
    loaded = torch.load(io.BytesIO(data), weights_only=True)
    assert loaded['array'].tolist() == [0., 1., 2.] and loaded['scalar'] == 0.5
    with compat.disabled('checkpoint'):
        with pytest.raises(pickle.UnpicklingError):
            torch.load(io.BytesIO(data), weights_only=True)


def test_safe_loading_keeps_the_shim_allow_list(toy_checkpoint):
    """torch's ``safe_globals`` context removes its entries on exit even when they were
    allow-listed before; emo_mm's per-file loading must not strip the shim's list."""
    before = len(torch.serialization.get_safe_globals())
    assert before >= len(CHECKPOINT_SAFE_GLOBALS)
    load_checkpoint(ToyModel(), toy_checkpoint)
    assert len(torch.serialization.get_safe_globals()) == before
    with compat.disabled('checkpoint'):
        assert len(torch.serialization.get_safe_globals()) == before - len(
            CHECKPOINT_SAFE_GLOBALS)
        load_checkpoint(ToyModel(), toy_checkpoint)  # allow-listed for this load only
        assert len(torch.serialization.get_safe_globals()) == before - len(
            CHECKPOINT_SAFE_GLOBALS)
    assert len(torch.serialization.get_safe_globals()) == before


def test_safe_globals_are_only_mmengine_and_numeric_numpy():
    names = {
        entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'
        for entry in CHECKPOINT_SAFE_GLOBALS
    }
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    # getattr is allowed only as a stand-in limited to HistoryBuffer's statistics methods
    getattr_entries = [e for e in CHECKPOINT_SAFE_GLOBALS
                       if isinstance(e, tuple) and e[1] == 'builtins.getattr']
    assert len(getattr_entries) == 1 and getattr_entries[0][0] is not getattr
    stand_in = getattr_entries[0][0]
    from mmengine.logging import HistoryBuffer
    assert stand_in(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in ((HistoryBuffer, 'update'), (os, 'system'), (HistoryBuffer, '__init__')):
        with pytest.raises(pickle.UnpicklingError, match='not allowed'):
            stand_in(obj, name)
    assert {'numpy.ndarray', 'numpy.dtype', 'numpy.dtypes.Float64DType',
            'numpy._core.multiarray._reconstruct', 'numpy.core.multiarray.scalar'} <= names
    others = {n for n in names if not n.startswith(('numpy.', 'mmengine.logging.'))}
    assert others == {'builtins.getattr'}
    for refused in ('ObjectDType', 'VoidDType', 'StrDType', 'BytesDType', 'DateTime64DType'):
        assert f'numpy.dtypes.{refused}' not in names


# ---------------------------------------------------------------------------------------------
# Break 2: SSD inference (mmdet <= 3.3.0).
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def ssdlite():
    """The stock mmdet SSDLite (MobileNetV2, COCO) config's model, in eval mode."""
    from mmdet.registry import MODELS
    from mmengine.hub import get_config
    from mmengine.registry import DefaultScope
    cfg = get_config('mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py')
    # an untrained head scores every class about 1/81, below the stock threshold of 0.02
    cfg.model.test_cfg.score_thr = 0.
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    return model.eval()


def ssd_inputs(size=96):
    from mmdet.structures import DetDataSample
    image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8)
    sample = DetDataSample(
        metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1., 1.)))
    return dict(inputs=[image], data_samples=[sample])


def test_ssd_predict_fails_without_shim(ssdlite):
    with compat.disabled('ssd_head'):
        assert not hasattr(type(ssdlite.bbox_head), 'loss_cls')
        with torch.no_grad(), pytest.raises(AttributeError, match="no attribute 'loss_cls'"):
            ssdlite.test_step(ssd_inputs())


def test_ssd_predict_works_with_shim(ssdlite):
    with torch.no_grad():
        results = ssdlite.test_step(ssd_inputs())
    instances = results[0].pred_instances
    assert instances.bboxes.shape[1] == 4
    assert len(instances.bboxes) == len(instances.scores) == len(instances.labels) > 0
    # softmax over 80 classes + background: scores are probabilities of foreground classes
    assert float(instances.scores.max()) <= 1 and int(instances.labels.max()) < 80


# ---------------------------------------------------------------------------------------------
# Break 3: distributed runs without CUDA.
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(CUDA, reason='reproduces a failure that only happens without CUDA')
def test_cpu_launcher_and_ddp_fail_without_shim_and_work_with_it():
    proc = run_python(f"""
        import json, os
        os.environ.update(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                          MASTER_PORT='{free_port()}')
        import torch
        import torch.distributed as dist
        from mmengine.dist import init_dist
        from mmengine.model import MMDistributedDataParallel
        from emo_mm import compat
        result = {{}}
        with compat.disabled('dist_cpu'):
            try:
                init_dist('pytorch', backend='gloo')
            except Exception as e:
                result['without_shim'] = f'{{type(e).__name__}}: {{e}}'
        init_dist('pytorch', backend='gloo')
        result['with_shim'] = [dist.get_backend(), dist.get_world_size()]
        try:
            MMDistributedDataParallel(module=torch.nn.Linear(2, 2), device_ids=[0])
        except Exception as e:
            result['ddp_device_ids'] = f'{{type(e).__name__}}: {{e}}'
        ddp = MMDistributedDataParallel(module=torch.nn.Linear(2, 2), device_ids=None)
        result['ddp_none'] = ddp(torch.ones(1, 2)).shape[1]
        dist.destroy_process_group()
        print(json.dumps(result))
    """)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['without_shim'].startswith('RuntimeError')
    assert 'NVIDIA' in result['without_shim'] or 'CUDA' in result['without_shim']
    assert result['with_shim'] == ['gloo', 1]
    assert 'device_ids' in result['ddp_device_ids']
    assert result['ddp_none'] == 2


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


def dist_cfg(launcher='pytorch', **kwargs):
    return Config(
        dict(launcher=launcher, env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)),
             **kwargs))


def test_adapt_cfg_for_cpu_distributed(no_cuda):
    cfg = dist_cfg()
    assert compat.adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', device_ids=None)

    cfg = dist_cfg(model_wrapper_cfg=dict(
        type='MMDistributedDataParallel', find_unused_parameters=True))
    compat.adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', find_unused_parameters=True, device_ids=None)

    # not a DistributedDataParallel: device_ids is not an argument of it
    cfg = dist_cfg(model_wrapper_cfg=dict(type='MMFullyShardedDataParallel'))
    compat.adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(type='MMFullyShardedDataParallel')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_adapt_cfg_for_cpu_distributed_leaves_other_runs_alone(monkeypatch):
    cfg = dist_cfg(launcher='none')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert not compat.adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.to_dict() == dist_cfg(launcher='none').to_dict()
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = dist_cfg()
    assert not compat.adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.to_dict() == dist_cfg().to_dict()


# ---------------------------------------------------------------------------------------------
# Break 11: mmengine's inferencers know only their own scope's model names.
# ---------------------------------------------------------------------------------------------
def test_inferencer_name_lookup_fails_without_shim_and_works_with_it():
    """mmengine's BaseInferencer finds a name only in the scope package's model index: without
    the shim an emo_mm detector name is 'not found'; with it, its config is found (the model
    is then built by DetInferencer: tests/test_entry_points.py)."""
    from mmengine.infer.infer import BaseInferencer

    class Probe:  # what _load_model_from_metafile reads of the inferencer
        scope = 'mmdet'

    name = 'ssdlite_emo2-1m_8xb24-600e_coco'
    with compat.disabled('inferencer_names'):
        with pytest.raises(ValueError, match=f'Cannot find model: {name} in mmdet'):
            BaseInferencer._load_model_from_metafile(Probe(), name)
    cfg, weights = BaseInferencer._load_model_from_metafile(Probe(), name)
    assert cfg.filename.endswith(f'configs/det/ssdlite/{name}.py') and weights is None
    with pytest.raises(ValueError, match='Cannot find model: no-such-model in mmdet'):
        BaseInferencer._load_model_from_metafile(Probe(), 'no-such-model')


# ---------------------------------------------------------------------------------------------
# A private name in use: unsetting mmengine's default scope.
# ---------------------------------------------------------------------------------------------
def test_no_default_scope_unsets_and_restores_the_scope(monkeypatch):
    from mmengine.registry import DefaultScope

    from emo_mm.compat.default_scope import no_default_scope
    DefaultScope.get_instance('emo_mm_test_scope', scope_name='mmdet')
    assert DefaultScope.get_current_instance().scope_name == 'mmdet'
    with no_default_scope():
        assert DefaultScope.get_current_instance() is None
        DefaultScope.get_instance('emo_mm_inside', scope_name='mmseg')
    assert DefaultScope.get_current_instance().scope_name == 'mmdet'
    assert not DefaultScope.check_instance_created('emo_mm_inside')
    monkeypatch.setattr(DefaultScope, '_instance_dict', None)  # as if mmengine dropped it
    with pytest.raises(RuntimeError, match=r'DefaultScope._instance_dict \(private\) is gone'):
        with no_default_scope():
            pass


# ---------------------------------------------------------------------------------------------
# Break 5: the mmsegmentation wheel's top-level ``tests`` package.
# ---------------------------------------------------------------------------------------------
def upstream_tests_package():
    """Directory of the top-level ``tests`` package that the installed mmsegmentation wheel
    ships, or ``None``."""
    import importlib.metadata
    files = importlib.metadata.distribution('mmsegmentation').files or []
    for file in files:
        if file.parts[:2] == ('tests', '__init__.py'):
            return osp.dirname(osp.abspath(file.locate()))
    return None


def test_mmseg_tests_package_shadows_import_tests_but_not_our_suite():
    upstream = upstream_tests_package()
    assert upstream is not None, 'mmsegmentation 1.2.2 ships a top-level tests package'
    assert osp.isfile(osp.join(upstream, '__init__.py'))
    assert upstream != osp.join(REPO, 'tests') and 'site-packages' in upstream

    # From the repository root, `import tests` resolves to mmseg's package: a regular package
    # wins over our plain folder (a namespace portion).
    proc = run_python('import tests; print(tests.__file__)', cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert osp.dirname(proc.stdout.strip()) == upstream

    # Our suite is unaffected: no __init__.py, and this very module was imported from our
    # folder, not as a submodule of mmseg's package.
    ours = osp.join(REPO, 'tests')
    assert not osp.exists(osp.join(ours, '__init__.py'))
    assert osp.dirname(osp.abspath(__file__)) == ours
    module = sys.modules[__name__]
    assert osp.abspath(module.__file__) == osp.abspath(__file__)
    for name, loaded in list(sys.modules.items()):
        if name == 'tests' or name.startswith('tests.'):
            assert not (getattr(loaded, '__file__', None) or '').startswith(upstream + os.sep), (
                f'{name} was imported from mmseg\'s tests package')

