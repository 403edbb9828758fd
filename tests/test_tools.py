"""Tests of ``tools/{train,test}.py``, the dist / slurm scripts and :mod:`emo_mm.cli`.

The slow tests run the real tools in subprocesses on the toy shapes data
(``tools/dataset_converters/make_toy_data.py``, a few tiny images per split): a 2-process CPU
``dist_train.sh`` classification run resumed with ``--resume`` and tested with ``dist_test.sh``,
and single-process mmdet (SSDLite) and mmseg (semantic FPN with SyncBN) train + test runs. Their
checkpoints are then loaded weights-only to check the checkpoint allow-list of
:mod:`emo_mm.compat`.
"""
import argparse
import os
import os.path as osp
import pickle
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from emo_mm import compat
from emo_mm.io import CHECKPOINT_SAFE_GLOBALS
from emo_mm.testing import load_script
from emo_mm.cli import (adapt_cfg_to_machine, apply_test_args, apply_train_args, load_config,
                        revert_sync_bn)
from emo_mm.frameworks import framework_of

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'tests' / 'data' / 'configs'
TOY = dict(
    classes=('circle', 'square'), cls_size=32, cls_train_per_class=8, cls_val_per_class=4,
    det_size=64, det_train=4, det_val=4, seg_size=64, seg_train=4, seg_val=2)
TIMEOUT = 600


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run(cmd, data_root=None, **env):
    """Run ``cmd`` from the repository root; fail with the output's tail unless it exits 0."""
    full_env = {k: v for k, v in os.environ.items() if k != 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'}
    full_env.update(OMP_NUM_THREADS='1', **env)  # 1 thread per process: no oversubscription
    if data_root is not None:
        full_env['EMO_MM_TEST_DATA'] = str(data_root)
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{cmd} exited {proc.returncode}:\n{output[-5000:]}'
    return output


def tool(name, *args, data_root=None):
    return run([sys.executable, REPO / 'tools' / name, *args], data_root=data_root)


def args_for(config, **kwargs):
    """The namespace the tools' parser would produce (defaults of the shared flags)."""
    defaults = dict(config=str(config), work_dir=None, cfg_options=None, launcher='none',
                    local_rank=0)
    return argparse.Namespace(**{**defaults, **kwargs})


# ---------------------------------------------------------------------------------------------
# Framework detection, config handling (fast, in-process).
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('config, framework', [('tiny_cls.py', 'mmpretrain'),
                                               ('tiny_det.py', 'mmdet'),
                                               ('tiny_seg.py', 'mmseg')])
def test_framework_is_detected_from_default_scope(config, framework):
    cfg = load_config(args_for(CONFIGS / config))
    assert framework_of(cfg) == framework
    assert cfg.work_dir == osp.join('./work_dirs', osp.splitext(config)[0])
    assert cfg.launcher == 'none'


@pytest.mark.parametrize('scope_line', ["default_scope = 'mmocr'\n", ''])
def test_unknown_or_missing_scope_is_rejected_naming_the_valid_ones(tmp_path, scope_line):
    config = tmp_path / 'other.py'
    config.write_text(scope_line + 'model = dict(type="Foo")\n')
    expected = r"default_scope=('mmocr'|None).*Valid scopes are 'mmpretrain', 'mmdet', 'mmseg'"
    with pytest.raises(ValueError, match=expected):
        load_config(args_for(config))
    train = load_script('tools/train.py')
    with pytest.raises(ValueError, match=expected):
        train.main([str(config)])


def test_cfg_options_and_work_dir_are_applied(tmp_path):
    args = args_for(
        CONFIGS / 'tiny_cls.py', work_dir=str(tmp_path), launcher='pytorch',
        cfg_options={'train_cfg.max_iters': 7})
    cfg = load_config(args)
    assert (cfg.work_dir, cfg.launcher, cfg.train_cfg.max_iters) == (str(tmp_path), 'pytorch', 7)
    # scope set from the command line counts too
    args = args_for(CONFIGS / 'tiny_cls.py', cfg_options={'default_scope': 'mmdet'})
    assert framework_of(load_config(args)) == 'mmdet'


def sync_bn_cfg(**kwargs):
    return Config(dict(
        model=dict(
            type='EncoderDecoder',
            backbone=dict(type='ResNet', norm_cfg=dict(type='SyncBN', requires_grad=True)),
            neck=dict(type='FPN', norm_cfg=dict(type='GN', num_groups=8)),
            decode_head=[
                dict(type='FCNHead', norm_cfg=dict(type='MMSyncBN', stats_mode='N', group=None)),
                dict(type='FCNHead', norm_cfg=dict(type='BN')),
            ]),
        **kwargs))


def test_revert_sync_bn_turns_every_sync_bn_into_bn():
    cfg = sync_bn_cfg()
    changed = revert_sync_bn(cfg)
    assert changed == ['model.backbone.norm_cfg', 'model.decode_head[0].norm_cfg']
    assert cfg.model.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert cfg.model.decode_head[0].norm_cfg == dict(type='BN')  # MMSyncBN-only args dropped
    assert cfg.model.neck.norm_cfg == dict(type='GN', num_groups=8)
    assert cfg.model.decode_head[1].norm_cfg == dict(type='BN')
    assert revert_sync_bn(cfg) == []


@pytest.mark.parametrize('launcher, cuda, reverted, gloo', [
    ('none', False, True, False),  # single process on CPU
    ('none', True, True, False),  # single process on GPU: no process group to sync over
    ('pytorch', False, True, True),  # distributed on CPU: SyncBN cannot sync CPU tensors
    ('pytorch', True, False, False),  # distributed on GPUs: SyncBN stays
])
def test_adapt_cfg_to_machine(monkeypatch, launcher, cuda, reverted, gloo):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    cfg = sync_bn_cfg(
        launcher=launcher, sync_bn='torch', env_cfg=dict(dist_cfg=dict(backend='nccl')))
    adapt_cfg_to_machine(cfg)
    assert (cfg.model.backbone.norm_cfg.type == 'BN') == reverted
    assert (cfg.env_cfg.dist_cfg.backend == 'gloo') == gloo
    assert ('model_wrapper_cfg' in cfg) == gloo
    assert ('sync_bn' in cfg) == (not gloo)


def train_args(**kwargs):
    defaults = dict(resume=None, amp=False, auto_scale_lr=False, no_validate=False)
    return args_for(CONFIGS / 'tiny_cls.py', **{**defaults, **kwargs})


def test_train_args():
    cfg = load_config(train_args())
    apply_train_args(cfg, train_args(resume='auto', amp=True, auto_scale_lr=True,
                                     no_validate=True))
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.auto_scale_lr == dict(base_batch_size=8, enable=True)
    assert cfg.val_cfg is None and cfg.val_dataloader is None and cfg.val_evaluator is None
    # mmpretrain's dataloader defaults; no persistent workers without workers
    assert cfg.train_dataloader.collate_fn == dict(type='default_collate')
    assert 'persistent_workers' not in cfg.train_dataloader

    cfg = load_config(train_args())
    apply_train_args(cfg, train_args(resume='some/iter_4.pth'))
    assert cfg.resume is True and cfg.load_from == 'some/iter_4.pth'
    assert cfg.val_cfg == dict()


def test_train_args_compile():
    """--compile is opt-in: mmengine's Runner compiles the model when cfg.compile is set."""
    cfg = load_config(train_args())
    apply_train_args(cfg, train_args())
    assert not cfg.get('compile')
    apply_train_args(cfg, train_args(compile=True))
    assert cfg.compile is True
    assert load_script('tools/train.py').parse_train_args([str(CONFIGS / 'tiny_cls.py'),
                                                           '--compile']).compile


def test_train_args_errors():
    cfg = load_config(train_args())
    cfg.pop('auto_scale_lr')
    with pytest.raises(RuntimeError, match='auto_scale_lr.*base_batch_size'):
        apply_train_args(cfg, train_args(auto_scale_lr=True))
    cfg = load_config(train_args())
    cfg.optim_wrapper.type = 'ApexOptimWrapper'
    with pytest.raises(ValueError, match="--amp works only .*'ApexOptimWrapper'"):
        apply_train_args(cfg, train_args(amp=True))


def test_args(config, **kwargs):
    defaults = dict(checkpoint='ckpt.pth', out=None, show=False, show_dir=None, wait_time=2,
                    tta=False)
    return args_for(CONFIGS / config, **{**defaults, **kwargs})


test_args.__test__ = False  # a helper, not a test


@pytest.mark.parametrize('config, check', [
    ('tiny_cls.py', lambda cfg: cfg.default_hooks.visualization.enable
     and cfg.default_hooks.visualization.out_dir == 'vis'),
    ('tiny_det.py', lambda cfg: cfg.default_hooks.visualization.draw
     and cfg.default_hooks.visualization.test_out_dir == 'vis'),
    ('tiny_seg.py', lambda cfg: cfg.default_hooks.visualization.draw
     and cfg.visualizer.save_dir == 'vis'),
])
def test_show_dir_is_handled_per_framework(config, check):
    args = test_args(config, show_dir='vis')
    cfg = apply_test_args(load_config(args), args)
    assert cfg.load_from == 'ckpt.pth'
    assert check(cfg)


def test_show_dir_needs_a_visualization_hook():
    args = test_args('tiny_cls.py', show=True)
    cfg = load_config(args)
    del cfg.default_hooks['visualization']
    with pytest.raises(RuntimeError, match='VisualizationHook'):
        apply_test_args(cfg, args)


@pytest.mark.parametrize('config, tta_type, last_step', [
    ('tiny_cls.py', 'mmpretrain.AverageClsScoreTTA', 'TestTimeAug'),
    ('tiny_det.py', 'DetTTAModel', 'TestTimeAug'),
    ('tiny_seg.py', 'SegTTAModel', 'TestTimeAug'),  # from the stock config
])
def test_tta_wraps_the_model_and_pipeline(config, tta_type, last_step):
    args = test_args(config, tta=True)
    cfg = load_config(args)
    model_type = cfg.model.type
    apply_test_args(cfg, args)
    assert cfg.model.type == tta_type and cfg.model.module.type == model_type
    assert cfg.test_dataloader.dataset.pipeline[-1].type == last_step


def test_tta_for_mmseg_needs_tta_entries():
    args = test_args('tiny_seg.py', tta=True)
    cfg = load_config(args)
    cfg.pop('tta_pipeline')
    with pytest.raises(RuntimeError, match='--tta for mmseg needs tta_pipeline'):
        apply_test_args(cfg, args)


def test_out_must_be_a_pickle_for_cls_and_det():
    for config in ('tiny_cls.py', 'tiny_det.py'):
        args = test_args(config, out='results.json')
        with pytest.raises(ValueError, match='--out must be a .pkl or .pickle file'):
            apply_test_args(load_config(args), args)
    args = test_args('tiny_seg.py', out='pred_dir')
    cfg = apply_test_args(load_config(args), args)
    assert cfg.test_evaluator.output_dir == 'pred_dir' and cfg.test_evaluator.keep_results


# ---------------------------------------------------------------------------------------------
# Launch scripts: python selection and argument forwarding (fake python / srun).
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def fake_repo(tmp_path):
    """A copy of tools/*.sh in a repository whose .venv/bin/python, and an srun on PATH, only
    print their arguments."""
    (tmp_path / 'tools' / 'misc').mkdir(parents=True)
    for script in ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh',
                   'misc/launch.sh'):
        (tmp_path / 'tools' / script).write_text((REPO / 'tools' / script).read_text())
    bin_dir = tmp_path / 'bin'
    for fake in (tmp_path / '.venv' / 'bin' / 'python', bin_dir / 'srun'):
        fake.parent.mkdir(parents=True, exist_ok=True)
        fake.write_text(f'#!/bin/sh\necho "{fake.name}: $*"\n')
        fake.chmod(0o755)
    return tmp_path


@pytest.mark.parametrize('script, args, expected', [
    ('dist_train.sh', ['c.py', '2', '--amp', '--cfg-options', 'a=1'],
     r'^python: -m torch.distributed.run --nnodes=1 --node_rank=0 --master_addr=127.0.0.1 '
     r'--nproc_per_node=2 --master_port=29511 \S+/tools/train.py c.py --launcher pytorch '
     r'--amp --cfg-options a=1$'),
    ('dist_test.sh', ['c.py', 'w.pth', '3', '--tta'],
     r'^python: .*--nproc_per_node=3 --master_port=29511 \S+/tools/test.py c.py w.pth '
     r'--launcher pytorch --tta$'),
    ('slurm_train.sh', ['part', 'job', 'c.py', 'wd', '--amp'],
     r'^srun: -p part --job-name=job --gres=gpu:8 --ntasks=8 .*\S+/\.venv/bin/python -u '
     r'\S+/tools/train.py c.py --work-dir=wd --launcher=slurm --amp$'),
    ('slurm_test.sh', ['part', 'job', 'c.py', 'w.pth', '--out', 'r.pkl'],
     r'^srun: .*\S+/\.venv/bin/python -u \S+/tools/test.py c.py w.pth --launcher=slurm '
     r'--out r.pkl$'),
])
def test_launch_scripts_use_the_repo_venv_and_forward_arguments(fake_repo, script, args,
                                                                expected):
    env = dict(os.environ, PATH=f'{fake_repo / "bin"}:{os.environ["PATH"]}', PORT='29511')
    env.pop('PYTHON', None)
    proc = subprocess.run(['bash', str(fake_repo / 'tools' / script), *args], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert re.match(expected, proc.stdout.strip()), proc.stdout


def _launch_threads(fake_repo, nproc, gpu, **env_vars):
    """OMP_NUM_THREADS that tools/dist_train.sh passes to torchrun, with a fake nvidia-smi that
    finds (``gpu``) or does not find a GPU."""
    python = fake_repo / '.venv' / 'bin' / 'python'
    python.write_text('#!/bin/sh\necho "threads=${OMP_NUM_THREADS:-unset}"\n')
    smi = fake_repo / 'bin' / 'nvidia-smi'
    smi.write_text(f'#!/bin/sh\nexit {0 if gpu else 9}\n')
    smi.chmod(0o755)
    env = dict(os.environ, PATH=f'{fake_repo / "bin"}:{os.environ["PATH"]}', **env_vars)
    for name in ('PYTHON', 'OMP_NUM_THREADS'):
        if name not in env_vars:
            env.pop(name, None)
    proc = subprocess.run(['bash', str(fake_repo / 'tools' / 'dist_train.sh'), 'c.py', str(nproc)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_cpu_launch_shares_the_cores_between_processes(fake_repo):
    """torchrun's default of one thread per process would leave cores idle on a CPU machine."""
    cores = len(os.sched_getaffinity(0))
    assert _launch_threads(fake_repo, 1, gpu=False) == f'threads={cores}'
    assert _launch_threads(fake_repo, 2 * cores, gpu=False) == 'threads=1'
    assert _launch_threads(fake_repo, 1, gpu=False, OMP_NUM_THREADS='3') == 'threads=3'
    assert _launch_threads(fake_repo, 1, gpu=True) == 'threads=unset'  # torchrun's default


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh',
                                    'slurm_test.sh'])
def test_launch_scripts_print_usage_without_arguments(script):
    proc = subprocess.run(['bash', str(REPO / 'tools' / script)], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and 'usage: bash' in proc.stderr


# ---------------------------------------------------------------------------------------------
# Real runs (slow): 2-process CPU training + resume, mmdet and mmseg train + test.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_toy_data = load_script('tools/dataset_converters/make_toy_data.py').make_toy_data
    make_toy_data(str(root), verbose=False, **TOY)
    return root


def dist_train(config, gpus, *args, data_root):
    return run(['bash', REPO / 'tools' / 'dist_train.sh', config, gpus, *args],
               data_root=data_root, PORT=str(free_port()))


@pytest.fixture(scope='module')
def cls_dist_run(toy_data, tmp_path_factory):
    """``dist_train.sh`` with 2 CPU processes (4 iterations, validation every 2), then the same
    command with ``--resume`` and 6 iterations."""
    work_dir = tmp_path_factory.mktemp('cls_dist')
    config = CONFIGS / 'tiny_cls.py'
    first = dist_train(config, 2, '--work-dir', work_dir, data_root=toy_data / 'cls')
    second = dist_train(config, 2, '--work-dir', work_dir, '--resume', '--cfg-options',
                        'train_cfg.max_iters=6', data_root=toy_data / 'cls')
    return work_dir, first, second


@pytest.mark.slow
def test_dist_train_runs_two_gloo_processes_with_validation(cls_dist_run):
    work_dir, first, _ = cls_dist_run
    # both ranks adapted the run to CPU, and the world size was 2
    assert first.count('distributed run on CPU with backend "gloo"') == 2
    assert re.search(r"dist_cfg=dict\(backend='gloo'\)", first)
    # 16 training images / (2 ranks x batch 4) = 2 iterations per epoch, 4 iterations in all
    assert 'Iter(train) [4/4]' in first and 'Iter(train) [5/' not in first
    assert len(re.findall(r'Iter\(val\) \[1/1\]\s+accuracy/top1: [\d.]+', first)) == 2
    for name in ('iter_2.pth', 'iter_4.pth', 'last_checkpoint'):
        assert (work_dir / name).exists()


@pytest.mark.slow
def test_resume_continues_from_the_saved_iteration(cls_dist_run):
    work_dir, first, second = cls_dist_run
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ  # weights_only protection on
    assert f'Auto resumed from the latest checkpoint {work_dir / "iter_4.pth"}' in second
    assert 'resumed epoch: 0, iter: 4' in second
    trained = [int(i) for i in re.findall(r'Iter\(train\) \[(\d+)/6\]', second)]
    assert sorted(set(trained)) == [5, 6]
    checkpoint = torch.load(work_dir / 'iter_6.pth', weights_only=True)
    assert checkpoint['meta']['iter'] == 6
    # the logged loss history holds the 4 resumed iterations and the 2 new ones
    loss_history = checkpoint['message_hub']['log_scalars']['train/loss']
    assert len(loss_history.data[0]) == 6
    # the optimizer state was resumed too: Adam's step count continued from 4
    steps = {float(s['step']) for s in checkpoint['optimizer']['state'].values()}
    assert steps == {6.0}


@pytest.mark.slow
def test_dist_test_evaluates_every_image_once(cls_dist_run, toy_data, tmp_path):
    work_dir, _, _ = cls_dist_run
    out = tmp_path / 'predictions.pkl'
    output = run(['bash', REPO / 'tools' / 'dist_test.sh', CONFIGS / 'tiny_cls.py',
                  work_dir / 'iter_6.pth', 2, '--work-dir', tmp_path, '--out', out],
                 data_root=toy_data / 'cls', PORT=str(free_port()))
    assert re.search(r'accuracy/top1: [\d.]+', output)
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    val_images = sorted(str(p) for p in (toy_data / 'cls' / 'val').rglob('*.png'))
    assert sorted(p['img_path'] for p in predictions) == val_images  # 8, gathered from 2 ranks
    assert all(p['pred_score'].shape == (2, ) for p in predictions)


@pytest.fixture(scope='module')
def det_run(toy_data, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('det')
    config = CONFIGS / 'tiny_det.py'
    train_log = tool('train.py', config, '--work-dir', work_dir, data_root=toy_data / 'det')
    out = work_dir / 'predictions.pkl'
    test_log = tool('test.py', config, work_dir / 'epoch_1.pth', '--work-dir', work_dir / 'test',
                    '--out', out, '--show-dir', 'painted', data_root=toy_data / 'det')
    return work_dir, train_log, test_log, out


@pytest.mark.slow
def test_mmdet_ssdlite_trains_validates_and_tests(det_run, toy_data):
    work_dir, train_log, test_log, out = det_run
    # SSD inference (validation and test) works: upstream break 2 is shimmed
    assert 'coco/bbox_mAP:' in train_log and 'coco/bbox_mAP:' in test_log
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == TOY['det_val']
    assert all(p['pred_instances']['bboxes'].shape[-1] == 4 for p in predictions)
    painted = list((work_dir / 'test').rglob('painted/*.jpg'))
    assert len(painted) == TOY['det_val']


@pytest.fixture(scope='module')
def seg_run(toy_data, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('seg')
    config = CONFIGS / 'tiny_seg.py'
    train_log = tool('train.py', config, '--work-dir', work_dir, data_root=toy_data / 'seg')
    test_log = tool('test.py', config, work_dir / 'iter_2.pth', '--work-dir', work_dir / 'test',
                    '--out', work_dir / 'pred', '--tta', data_root=toy_data / 'seg')
    return work_dir, train_log, test_log


@pytest.mark.slow
def test_mmseg_sync_bn_config_trains_and_tests_in_one_process(seg_run):
    work_dir, train_log, test_log = seg_run
    # the stock SyncBN norm config of the decode head became BN, and the log says where
    assert 'single-process run: reverted 1 SyncBN norm config(s) to BN: ' \
           'model.decode_head.norm_cfg' in train_log
    assert re.search(r'Iter\(val\) \[2/2\]\s+aAcc: [\d.]+\s+mIoU: [\d.]+', train_log)
    assert re.search(r'Iter\(test\) \[2/2\]\s+aAcc: [\d.]+\s+mIoU: [\d.]+', test_log)
    assert sorted(p.name for p in (work_dir / 'pred').iterdir()) == [
        'toy_val_00000001.png', 'toy_val_00000002.png']


# ---------------------------------------------------------------------------------------------
# Break 1, on real checkpoints of all three frameworks.
# ---------------------------------------------------------------------------------------------
def _entry_name(entry):
    return entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'


def globals_needed_to_load(path):
    """Load ``path`` weights-only with the shim off, allow-listing one more global (taken from
    :data:`emo_mm.io.CHECKPOINT_SAFE_GLOBALS`) after each refusal until it loads.

    Returns:
        list[str]: The globals that loading needed, in the order they were refused.
    """
    allowed = {_entry_name(entry): entry for entry in CHECKPOINT_SAFE_GLOBALS}
    needed = []
    with compat.disabled('checkpoint'):
        for _ in range(len(allowed) + 1):
            try:
                with torch.serialization.safe_globals([allowed[n] for n in needed]):
                    torch.load(path, weights_only=True)
                return needed
            except pickle.UnpicklingError as error:
                match = re.search(
                    r"GLOBAL (\S+) was not an allowed global|but got <class '([^']+)'>",
                    str(error))
                assert match, str(error)
                name = match.group(1) or match.group(2)
                if '.' not in name:  # torch names builtins without their module
                    name = f'builtins.{name}'
                assert name in allowed, f'{path} needs {name}, which is not allow-listed'
                assert name not in needed
                needed.append(name)
    raise AssertionError(f'{path} did not load')


@pytest.mark.slow
def test_checkpoints_of_all_frameworks_need_only_the_allow_list(cls_dist_run, det_run, seg_run):
    checkpoints = {
        'mmpretrain (resumed, DDP)': cls_dist_run[0] / 'iter_6.pth',
        'mmpretrain (best)': next(cls_dist_run[0].glob('best_*.pth')),
        'mmdet': det_run[0] / 'epoch_1.pth',
        'mmseg': seg_run[0] / 'iter_2.pth',
    }
    needed = {}
    for name, path in checkpoints.items():
        needed[name] = globals_needed_to_load(path)
        assert 'mmengine.logging.history_buffer.HistoryBuffer' in needed[name], name
        assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == [], name
        torch.load(path, weights_only=True)
    # what these runs pickle: the message hub's HistoryBuffers (float64 values, int64 counts,
    # statistics methods by name) and numpy scalars
    assert set().union(*needed.values()) == {
        'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr', 'numpy.ndarray',
        'numpy.dtype', 'numpy.dtypes.Float64DType', 'numpy.dtypes.Int64DType',
        'numpy._core.multiarray._reconstruct', 'numpy._core.multiarray.scalar'
    }


def test_feature_stats_reports_spread_drift_and_moved_weights(toy_data, tmp_path, monkeypatch,
                                                             capsys):
    """tools/analysis_tools/feature_stats.py on the toy classifier config: a checkpoint against
    itself has cosine 1 and moved 0; all weights x 1.1 moved exactly 10 %; the spread is the
    per-channel std over images and positions."""
    from emo_mm.apis import build_model_from_cfg
    tool = load_script('tools/analysis_tools/feature_stats.py')
    monkeypatch.setenv('EMO_MM_TOY_DATA', str(toy_data))
    config = str(REPO / 'configs' / 'cls' / 'toy' / 'emo2-1m_toy-cls.py')
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    state = build_model_from_cfg(cfg).state_dict()
    first, scaled = tmp_path / 'a.pth', tmp_path / 'b.pth'
    torch.save(dict(state_dict=state), first)
    torch.save(dict(state_dict={k: v * 1.1 if v.is_floating_point() else v
                                for k, v in state.items()}), scaled)
    assert tool.main([config, str(first), str(first), str(scaled), '--num-images', '6']) == 0
    rows = [line.split('|')[1:-1] for line in capsys.readouterr().out.splitlines()
            if line.startswith('| ') and 'checkpoint' not in line]
    rows = [[cell.strip() for cell in row] for row in rows]
    levels = len(cfg.model.backbone.out_indices)
    assert len(rows) == 3 * levels
    for same in rows[levels:2 * levels]:  # the first checkpoint again
        assert same[5] == '1.000' and same[6] == '0.00 %', same
    for moved in rows[2 * levels:]:
        assert moved[6] == '10.00 %', moved
    with pytest.raises(SystemExit):
        tool.parse_args([config, str(first), '--num-images', '1'])
    feats = torch.randn(4, 3, 5, 5)
    expected = feats.permute(1, 0, 2, 3).reshape(3, -1).std(dim=1).mean()
    assert tool.level_stats(feats)['spread'] == pytest.approx(float(expected))
