"""emo_mm: EMO, EMOv2 and EdgeFormer backbones for mmpretrain, mmdet and mmsegmentation.

As OpenMMLab packages do, the package carries ``configs/``, ``tools/`` and ``model-index.yml``
in ``emo_mm/.mim/``, where ``mim train / test / run emo_mm ...`` and emo_mm's model names
(:mod:`emo_mm.hub`) find them:

* a wheel / ``pip install .`` gets copies (put into the build folder, the source tree is left
  alone);
* an editable install (``pip install -e .``, ``make install``) gets symlinks to the checkout,
  made by ``tools/misc/link_mim.py`` after the install (``make install`` runs it), so edits show
  at once. They go to ``<site-packages>/emo_mm/.mim``: mim (0.3.9, the last release) looks for
  ``<location of the distribution>/emo_mm/.mim``, and the location of a PEP 660 editable
  install is site-packages, not the checkout.
"""
import os
import os.path as osp
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


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
    mode: see the module docstring)."""

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


setup(
    name='emo_mm',
    version=read_version(),
    description='EMO, EMOv2 and EdgeFormer lightweight backbones for mmpretrain, mmdet and '
    'mmsegmentation',
    long_description=open(osp.join(HERE, 'README.md')).read() if osp.exists(
        osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['emo_mm', 'emo_mm.*']),
    python_requires='>=3.9',
    install_requires=(read_requirements('torch') + read_requirements('mmcv') + read_requirements('runtime')
                      + read_requirements('mim')),
    extras_require={
        'tests': read_requirements('tests'),
        'export': read_requirements('export'),
        'all': read_requirements('tests') + read_requirements('export'),
    },
    # {'': '.'}: an editable install puts the checkout on sys.path (a static .pth, as
    # `setup.py develop` did) instead of an import hook, so that the .mim links of
    # tools/misc/link_mim.py can sit in site-packages/emo_mm without hiding the package.
    package_dir={'': '.'},
    cmdclass={'build_py': BuildPyWithMim},
    license='Apache-2.0',
    zip_safe=False,
)
