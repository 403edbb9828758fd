"""emo_mm: EMO and EMOv2 backbones for mmpretrain, mmdet and mmsegmentation.

As OpenMMLab packages do, the package carries ``configs/``, ``tools/`` and ``model-index.yml``
in ``emo_mm/.mim/``, where ``mim train / test / run emo_mm ...``, mmengine's ``emo_mm::`` config
paths and emo_mm's model names (:mod:`emo_mm.hub`) find them:

* a wheel / ``pip install .`` gets copies (put into the build folder, the source tree is left
  alone);
* an editable install (``pip install -e .``) gets symlinks ``emo_mm/.mim/* -> ../../*`` in the
  source tree, so edits show at once. mim and mmengine locate a package by its distribution's
  location (``pkg_resources``), which for a PEP 660 editable install is site-packages, not the
  source tree; the editable wheel therefore also installs an ``.egg-link`` to the source tree,
  found before the ``.dist-info`` (names sort first), as ``setup.py develop`` used to provide.
"""
import os
import os.path as osp
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')
#: Sorts before ``emo_mm-<version>.dist-info`` (``+`` < ``-``), so pkg_resources takes it.
EGG_LINK = 'emo_mm+develop.egg-link'


def read_requirements(name):
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


def read_version():
    with open(osp.join(HERE, 'emo_mm', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def _remove(path):
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


class BuildPyWithMim(build_py):
    """``build_py`` that copies the mim files into ``<build_lib>/emo_mm/.mim`` (not in editable
    mode, where the symlinks of :class:`EditableWheelWithMim` serve)."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = osp.join(self.build_lib, 'emo_mm', '.mim')
        os.makedirs(target, exist_ok=True)
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(target, name)
            _remove(dst)
            if osp.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            else:
                shutil.copyfile(src, dst)


class _AddEggLink:
    """An editable-wheel strategy that also writes :data:`EGG_LINK` (pointing at the source
    tree) into the wheel; everything else is delegated to setuptools' own strategy."""

    def __init__(self, strategy, project_dir):
        self.strategy, self.project_dir = strategy, project_dir

    def __call__(self, wheel, files, mapping):
        self.strategy(wheel, files, mapping)
        wheel.writestr(EGG_LINK, self.project_dir + '\n')

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc):
        return self.strategy.__exit__(*exc)


class EditableWheelWithMim(editable_wheel):
    """``editable_wheel`` that links ``emo_mm/.mim/{configs,tools,model-index.yml}`` to the
    source tree and adds the :data:`EGG_LINK` for mim / mmengine (see the module docstring)."""

    def run(self):
        mim = osp.join(HERE, 'emo_mm', '.mim')
        os.makedirs(mim, exist_ok=True)
        for name in MIM_FILES:
            link = osp.join(mim, name)
            _remove(link)
            os.symlink(osp.join('..', '..', name), link)
        super().run()

    def _select_strategy(self, *args, **kwargs):
        return _AddEggLink(super()._select_strategy(*args, **kwargs), HERE)


setup(
    name='emo_mm',
    version=read_version(),
    description='EMO and EMOv2 lightweight backbones for mmpretrain, mmdet and mmsegmentation',
    long_description=open(osp.join(HERE, 'README.md')).read() if osp.exists(
        osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['emo_mm', 'emo_mm.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('torch') + read_requirements('mmcv') + read_requirements('runtime'),
    extras_require={
        'tests': read_requirements('tests'),
        'export': read_requirements('export'),
        'deploy': read_requirements('deploy'),
        'all': read_requirements('tests') + read_requirements('export'),
    },
    cmdclass={'build_py': BuildPyWithMim, 'editable_wheel': EditableWheelWithMim},
    license='Apache-2.0',
    zip_safe=False,
)
