"""The OpenMMLab entry points (docs/entry_points.md):

* model names: mmpretrain's ``list_models`` / ``get_model`` / ``init_model`` /
  ``inference_model`` / ``ImageClassificationInferencer``, mmdet's ``DetInferencer`` and mmseg's
  ``MMSegInferencer`` with emo_mm names (:mod:`emo_mm.hub`);
* mim: ``mim run / train / test emo_mm ...`` from another directory, bare config names and a
  2-process CPU run, on a wheel install (``.mim`` copies); the editable-install layout
  (``tools/misc/link_mim.py``);
* mmpretrain's, mmdet's and mmseg's own ``tools/train.py`` / ``test.py`` (from their installed
  ``.mim``) on our toy configs, unchanged, giving the same run as ours and ``mim train``;
* ``tools/image_demo.py`` on a photograph that matplotlib installs.

The tool runs use toy data made here (``tools/dataset_converters/make_toy_data.py``, a few tiny
images) and one or two iterations.
"""
import os
import os.path as osp
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emo_mm import hub
from emo_mm.testing import isolated_default_scope, load_script

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 600
TOY = dict(cls_size=32, cls_train_per_class=2, cls_val_per_class=1, det_size=64, det_train=4,
           det_val=2, seg_size=64, seg_train=4, seg_val=2)


def no_workers(split):
    return [f'{split}_dataloader.num_workers=0', f'{split}_dataloader.persistent_workers=False']


#: train without validation (the test runs evaluate), in the main process
TRAIN_ONLY = ['val_cfg=None', 'val_dataloader=None', 'val_evaluator=None'] + no_workers('train')
random_model = load_script('tests/helpers/random_weights.py').random_model


def run(cmd, cwd, **env):
    """Run ``cmd``; fail with the output's tail unless it exits 0. ``PYTHONPATH`` starts with
    this checkout unless given."""
    full_env = {k: v for k, v in os.environ.items() if k != 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'}
    full_env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get('PYTHONPATH', '')) if p)
    full_env.update(OMP_NUM_THREADS='1', **env)
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{cmd} exited {proc.returncode}:\n{output[-5000:]}'
    return output


@pytest.fixture(autouse=True)
def default_scope():
    """Each test starts with no default scope, whatever the tests before it set."""
    with isolated_default_scope():
        yield


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    load_script('tools/dataset_converters/make_toy_data.py').make_toy_data(
        str(root), verbose=False, **TOY)
    return root


@pytest.fixture(scope='module')
def photo():
    import matplotlib.cbook
    return matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False)


# ---------------------------------------------------------------------------------------------
# Model names
# ---------------------------------------------------------------------------------------------
def test_import_emo_mm_imports_no_framework_api():
    out = run([sys.executable, '-c', 'import sys, emo_mm; print("RESULT", sorted(m for m in '
               'sys.modules if m.split(".")[0] in ("mmpretrain", "mmdet", "mmseg", "mmdeploy") '
               'or m == "mmengine.infer.infer"))'], cwd=REPO)
    assert 'RESULT []\n' in out


def test_every_classifier_of_the_metafiles_is_listed_by_mmpretrain():
    from mmengine.fileio import load
    from mmpretrain import list_models
    from mmpretrain.apis import ImageClassificationInferencer
    expected = sorted(m['Name'] for f in sorted(REPO.glob('configs/cls/*/metafile.yml'))
                      for m in load(str(f))['Models'])
    assert hub.model_names('mmpretrain') == expected
    emo = [name for name in expected if name.startswith('emo')]
    assert len(emo) == 8 and list_models('*emo*') == emo
    assert set(expected) <= set(list_models())
    # every entry names the task, so inference_model and the inferencer accept it
    assert set(expected) <= set(ImageClassificationInferencer.list_models())
    for name in expected:
        assert Path(hub.find_model(name, 'mmpretrain')).is_file()
    assert hub.find_model('ssdlite_emo2-1m_8xb24-600e_coco', 'mmpretrain') is None


@pytest.fixture(scope='module')
def cls_checkpoint(tmp_path_factory):
    """A checkpoint of ``emo2-1m_8xb128_in1k`` with random weights, and its model."""
    from mmpretrain import get_model
    model = get_model('emo2-1m_8xb128_in1k', pretrained=False)
    for param in model.parameters():
        param.data.normal_(0, 0.02)
    path = tmp_path_factory.mktemp('cls') / 'emo2-1m.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path), model


def test_get_model_init_model_and_inferencer_load_local_weights(cls_checkpoint):
    from mmpretrain import ImageClassificationInferencer, get_model, inference_model, init_model
    path, reference = cls_checkpoint
    image = np.random.RandomState(0).randint(0, 256, (64, 80, 3), np.uint8)
    model = get_model('emo2-1m_8xb128_in1k', pretrained=path)
    assert type(model.backbone).__name__ == 'EMOv2'
    torch.testing.assert_close(model.state_dict(), reference.state_dict())
    torch.testing.assert_close(init_model('emo2-1m_8xb128_in1k', path).state_dict(),
                               reference.state_dict())
    result = inference_model(model, image)  # picks the inferencer from the model's task
    assert isinstance(result['pred_class'], str)  # an ImageNet class name
    inferencer = ImageClassificationInferencer('EMO2-1M_8xb128_in1k', pretrained=path)
    np.testing.assert_allclose(inferencer(image)[0]['pred_scores'], result['pred_scores'],
                               rtol=1e-5, atol=1e-6)


def test_a_name_without_weights_gives_random_weights_with_a_warning():
    from mmpretrain import ImageClassificationInferencer, get_model
    with pytest.warns(UserWarning, match='Unable to find pre-defined checkpoint'):
        get_model('emo-1m_8xb256_in1k', pretrained=True)
    with pytest.warns(UserWarning, match='Unable to find pre-defined checkpoint'):
        ImageClassificationInferencer('emo-1m_8xb256_in1k')  # pretrained=True by default
    with pytest.raises(ValueError, match='Failed to find model "emo-3m"'):
        get_model('emo-3m')


@pytest.mark.parametrize('framework, name', [
    ('mmdet', 'ssdlite_emo2-1m_8xb24-600e_coco'),
    ('mmseg', 'segformer_emo2-1m_4xb8-160k_ade20k-512x512'),
])
def test_det_and_seg_inferencers_accept_emo_mm_names(framework, name, tmp_path):
    if framework == 'mmdet':
        from mmdet.apis import DetInferencer as Inferencer
    else:
        from mmseg.apis import MMSegInferencer as Inferencer
    config = hub.find_model(name, framework)
    assert name in hub.model_names(framework)
    model = random_model(config)
    path = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    image = np.random.RandomState(0).randint(0, 256, (96, 128, 3), np.uint8)
    inferencer = Inferencer(name, weights=str(path), device='cpu')
    assert inferencer.cfg.filename == config
    torch.testing.assert_close(inferencer.model.state_dict(), model.state_dict())
    assert len(inferencer(image)['predictions']) > 0
    with pytest.warns(UserWarning, match='randomly initialized model'):
        Inferencer(name, device='cpu')
    with pytest.raises(ValueError, match=f'Cannot find model: no-such-model in {framework}'):
        Inferencer('no-such-model', device='cpu')


# ---------------------------------------------------------------------------------------------
# mim
# ---------------------------------------------------------------------------------------------
def mim_command():
    script = Path(sys.executable).with_name('mim')
    return [script] if script.is_file() else [sys.executable, '-m', 'mim']


@pytest.fixture(scope='module')
def wheel_site(tmp_path_factory):
    """This checkout installed from a wheel (``pip install --target``): ``.mim`` copies."""
    site = tmp_path_factory.mktemp('wheel_site')
    run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation',
         '--no-compile', '--disable-pip-version-check', '--target', site, REPO], cwd=REPO)
    return site


def test_wheel_ships_configs_tools_and_model_index(wheel_site):
    mim = wheel_site / 'emo_mm' / '.mim'
    for name in ('model-index.yml', 'configs/cls/toy/emo2-1m_toy-cls.py',
                 'configs/deploy/detection_onnxruntime_static.py', 'tools/train.py',
                 'tools/test.py', 'tools/dist_train.sh', 'tools/analysis_tools/get_flops.py'):
        assert (mim / name).is_file() and not (mim / name).is_symlink(), name
    assert not list(mim.rglob('__pycache__'))  # (the install does not byte-compile here)
    # the names resolve to the shipped configs
    out = run([sys.executable, '-c', 'import emo_mm.hub as h; '
               'print("RESULT", h.find_model("emo2-5m_8xb128_in1k", "mmpretrain"))'],
              cwd=wheel_site, PYTHONPATH=str(wheel_site))
    assert f'RESULT {mim / "configs/cls/emo2/emo2-5m_8xb128_in1k.py"}\n' in out


@pytest.mark.slow
def test_mim_run_train_and_test_from_another_directory(wheel_site, tmp_path):
    env = dict(PYTHONPATH=str(wheel_site), EMO_MM_TOY_DATA=str(tmp_path / 'toy'))
    shipped = wheel_site / 'emo_mm' / '.mim'
    out = run(mim_command() + ['run', 'emo_mm', 'make_toy_data', '--out', tmp_path / 'toy',
                               '--tasks', 'cls', '--cls-size', '32', '--cls-train-per-class', '2',
                               '--cls-val-per-class', '1'], cwd=tmp_path, **env)
    assert f'Use the script {shipped / "tools/dataset_converters/make_toy_data.py"}' in out
    assert len(list((tmp_path / 'toy' / 'cls' / 'train').rglob('*.png'))) == 10

    work_dir = tmp_path / 'work'
    config = 'emo2-1m_toy-cls.py'  # a bare name: mim finds it in emo_mm/.mim/configs
    out = run(mim_command() + ['train', 'emo_mm', config, '--launcher', 'pytorch', '--gpus', '2',
                               '--work-dir', work_dir, '--cfg-options', 'train_cfg.max_epochs=1',
                               *TRAIN_ONLY], cwd=tmp_path, **env)
    assert f'will use {shipped / "configs/cls/toy" / config} instead' in out
    assert 'torch.distributed.launch --nproc_per_node=2' in out
    assert out.count('distributed run on CPU with backend "gloo"') == 2  # both ranks
    assert 'Training finished successfully' in out and (work_dir / 'epoch_1.pth').is_file()

    out = run(mim_command() + ['test', 'emo_mm', config, '--checkpoint', work_dir / 'epoch_1.pth',
                               '--work-dir', tmp_path / 'test', '--cfg-options',
                               *no_workers('test')], cwd=tmp_path, **env)
    assert re.search(r'Epoch\(test\) \[1/1\]\s+accuracy/top1: [\d.]+', out)
    assert 'Testing finished successfully' in out


def test_editable_install_links_mim_files_to_the_checkout(tmp_path, wheel_site):
    """``pip install -e .`` + ``tools/misc/link_mim.py`` (what ``make install`` does), into a
    throwaway prefix; mim must then find this checkout's tools and configs."""
    run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation',
         '--disable-pip-version-check', '--prefix', tmp_path, '-e', REPO], cwd=REPO)
    site = next(tmp_path.glob('lib/python*/site-packages'))
    pth = next(site.glob('__editable__.emo_mm-*.pth'))
    assert pth.read_text().strip() == str(REPO)  # a static path, no import hook
    load_script('tools/misc/link_mim.py').link_mim(str(site))
    # mim (and mmengine) locate emo_mm from its distribution's location: site-packages
    out = run([sys.executable, '-S', '-c', f'import site; site.addsitedir({str(site)!r}); '
               f'[site.addsitedir(p) for p in {sys.path!r}]; '
               'import mim.utils, emo_mm, os.path as osp; '
               'root = mim.utils.get_installed_path("emo_mm"); '
               'print("RESULT", root, osp.realpath(osp.join(root, ".mim", "tools", "train.py")), '
               'osp.realpath(osp.join(root, ".mim", "configs")), emo_mm.__file__)'],
              cwd=tmp_path, PYTHONPATH='')
    root, train, configs, package = re.search(r'^RESULT (.*)$', out, re.M).group(1).split()
    assert root == str(site / 'emo_mm')
    assert (train, configs) == (str(REPO / 'tools' / 'train.py'), str(REPO / 'configs'))
    assert package == str(REPO / 'emo_mm' / '__init__.py')  # the package still imports
    # the checkout's own emo_mm/.mim, for when the checkout comes first on sys.path
    assert (REPO / 'emo_mm' / '.mim' / 'tools').resolve() == REPO / 'tools'
    with pytest.raises(RuntimeError, match='not an editable install of .* a regular install'):
        load_script('tools/misc/link_mim.py').link_mim(str(wheel_site))


# ---------------------------------------------------------------------------------------------
# The frameworks' own tools/train.py and test.py
# ---------------------------------------------------------------------------------------------
UPSTREAM = {
    'mmpretrain': ('configs/cls/toy/emo2-1m_toy-cls.py',
                   ['train_cfg.max_epochs=1', 'train_dataloader.batch_size=3'], 'epoch_1.pth',
                   r'accuracy/top1: [\d.]+'),
    'mmdet': ('configs/det/toy/ssdlite_emo2-1m_toy-det.py',
              ['train_cfg.max_epochs=1', 'train_dataloader.batch_size=2'], 'epoch_1.pth',
              r'coco/bbox_mAP: [-\d.]+'),
    'mmseg': ('configs/seg/toy/segformer_emo2-1m_toy-seg.py',
              ['train_cfg.max_iters=3', 'train_dataloader.batch_size=2'], 'iter_3.pth',
              r'mIoU: ([\d.]+|nan)'),
}
#: every iteration's loss in the log, no pretrained backbone
LOSS_LOG = ['default_hooks.logger.interval=1', 'log_processor.window_size=1',
            'model.backbone.init_cfg=None']


def _losses(out):
    """The logged loss terms of every training iteration: ``['loss: 1.6094 ...', ...]``."""
    return [' '.join(re.findall(r'\b(loss\w*: [-\d.e+na]+)', line))
            for line in out.splitlines() if re.search(r'(Epoch|Iter)\(train\)', line)]


@pytest.mark.slow
@pytest.mark.parametrize('framework', list(UPSTREAM))
def test_every_train_entry_point_gives_the_same_run(framework, toy_data, tmp_path):
    """The config is the whole run: our tools/train.py, the framework's own tools/train.py
    (from its installed ``.mim``) and, for the classifier, ``mim train`` with either package
    log the same losses at every iteration (the run's random streams and hooks are the
    config's, nothing is added by a tool). The framework's tools/test.py then evaluates the
    checkpoint."""
    import importlib
    tools = Path(importlib.import_module(framework).__file__).parent / '.mim' / 'tools'
    config, options, checkpoint, metric = UPSTREAM[framework]
    options = [*options, *LOSS_LOG, *TRAIN_ONLY]
    env = dict(EMO_MM_TOY_DATA=str(toy_data))
    commands = {
        'ours': [sys.executable, REPO / 'tools' / 'train.py'],
        'upstream': [sys.executable, tools / 'train.py'],
    }
    if framework == 'mmpretrain':
        commands['mim emo_mm'] = mim_command() + ['train', 'emo_mm']
        commands['mim mmpretrain'] = mim_command() + ['train', 'mmpretrain']
    losses = {}
    for name, command in commands.items():
        work_dir = tmp_path / name.replace(' ', '_')
        out = run([*command, REPO / config, '--work-dir', work_dir, '--cfg-options', *options],
                  cwd=tmp_path, **env)
        assert re.search(r'Saving checkpoint at \d+ (epochs|iterations)', out), out[-2000:]
        losses[name] = _losses(out)
    assert len(losses['ours']) >= 2 and all(losses['ours']), losses
    for name in commands:
        assert losses[name] == losses['ours'], (name, losses)

    work_dir = tmp_path / 'upstream'
    out = run([sys.executable, tools / 'test.py', REPO / config, work_dir / checkpoint,
               '--work-dir', tmp_path / 'test', '--cfg-options', *options, *no_workers('test')],
              cwd=tmp_path, **env)
    assert re.search(metric, out), out[-2000:]


# ---------------------------------------------------------------------------------------------
# tools/image_demo.py
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('model', [
    'emo2-1m_8xb128_in1k',  # a name
    'configs/det/ssdlite/ssdlite_emo2-1m_8xb24-600e_coco.py',
    'segformer_emo2-1m_4xb8-160k_ade20k-512x512',
])
def test_image_demo_draws_the_predictions_on_a_photograph(model, photo, tmp_path, capsys):
    from PIL import Image
    config, framework = load_script('tools/image_demo.py').resolve_model(model)
    weights = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=random_model(config).state_dict(), meta=dict()), weights)
    demo = load_script('tools/image_demo.py')
    pictures = demo.main([photo, model, '--weights', str(weights), '--out-dir', str(tmp_path),
                          '--pred-score-thr', '0.2'])
    assert pictures == [str(tmp_path / 'vis' / ('grace_hopper.png' if framework == 'mmpretrain'
                                                 else 'grace_hopper.jpg'))]
    original = np.asarray(Image.open(photo).convert('RGB'), np.int16)
    drawn = np.asarray(Image.open(pictures[0]).convert('RGB'), np.int16)
    assert drawn.shape == original.shape  # 600 x 512, the photograph's size
    changed = (np.abs(drawn - original).max(axis=2) > 40).mean()
    assert changed > {'mmpretrain': 0.005, 'mmdet': 0.005, 'mmseg': 0.1}[framework]
    # the inferencer's progress bar may end without a newline, before our line
    out = capsys.readouterr().out
    line = next(line for line in reversed(out.splitlines()) if f'-> {pictures[0]}' in line)
    line = line[line.index(f'{photo}: '):]
    if framework == 'mmdet':
        assert int(re.search(r': (\d+) boxes with score >= 0.2', line).group(1)) > 0


def test_image_demo_rejects_unknown_models_and_missing_files(photo, tmp_path):
    demo = load_script('tools/image_demo.py')
    with pytest.raises(ValueError, match="'emo-3m' is neither a config file nor an emo_mm model "
                       'name. Valid names: .*emo2-1m_8xb128_in1k'):
        demo.main([photo, 'emo-3m'])
    with pytest.raises(SystemExit):
        demo.main([str(tmp_path / 'missing.jpg'), 'emo2-1m_8xb128_in1k'])


def test_hub_examples_run():
    import doctest

    from emo_mm.testing import single_thread
    with single_thread():
        result = doctest.testmod(hub, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
