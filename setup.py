"""emo_mm: EMO / EMOv2 backbones for mmpretrain, mmdet and mmsegmentation."""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_requirements(name):
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(os.path.join(HERE, 'requirements', f'{name}.txt')) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


def read_version():
    with open(os.path.join(HERE, 'emo_mm', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='emo_mm',
    version=read_version(),
    description='EMO and EMOv2 lightweight backbones for mmpretrain, mmdet and mmsegmentation',
    long_description=open(os.path.join(HERE, 'README.md')).read() if os.path.exists(
        os.path.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['emo_mm', 'emo_mm.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('torch') + read_requirements('mmcv') + read_requirements('runtime'),
    extras_require={
        'tests': read_requirements('tests'),
        'export': read_requirements('export'),
        'all': read_requirements('tests') + read_requirements('export'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
