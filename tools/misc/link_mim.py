"""Link ``<site-packages>/emo_mm/.mim/{configs,tools,model-index.yml}`` to this checkout after an
editable install (``make install`` runs it after ``pip install -e .``).

mim 0.3.9 (``mim train / test / run emo_mm ...``) finds a package's tools and configs in
``<location of its distribution>/emo_mm/.mim``. For a PEP 660 editable install that location is
site-packages, where no ``emo_mm`` folder exists; this script makes one that holds only the
``.mim`` links (the package itself is still imported from the checkout, see setup.py). It links
``emo_mm/.mim`` in the checkout too (git-ignored), which mim uses when the checkout comes first on
``sys.path`` (``python -m mim`` run from the checkout, ``PYTHONPATH``). A wheel install ships
copies instead and needs nothing here.

    python tools/misc/link_mim.py [--site-dir DIR]

``--site-dir`` is the folder holding the ``emo_mm-*.dist-info`` of the editable install
(default: the one the running interpreter finds).
"""
import argparse
import json
import os
import os.path as osp
import re
import sys
from importlib import metadata
from urllib.parse import unquote, urlparse

CHECKOUT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def editable_checkout(dist) -> str:
    """The checkout of an editable install of ``dist`` (from its ``direct_url.json``), or ''."""
    info = json.loads(dist.read_text('direct_url.json') or '{}')
    if not info.get('dir_info', {}).get('editable'):
        return ''
    return osp.realpath(unquote(urlparse(info['url']).path))


def _link(mim: str, target_root: str) -> None:
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        link = osp.join(mim, name)
        if osp.islink(link) or osp.isfile(link):
            os.remove(link)
        os.symlink(osp.join(target_root, name), link)


def link_mim(site_dir=None) -> str:
    """Create the links for the editable install found in ``site_dir`` (default: the running
    interpreter's) and in the checkout; returns the site-packages ``.mim`` folder.

    Raises:
        RuntimeError: emo_mm is not installed there, or not editable from this checkout.
    """
    dists = metadata.distributions(path=[site_dir]) if site_dir else metadata.distributions()
    dist = next((d for d in dists
                 if re.sub(r'[-_.]+', '_', d.metadata['Name']).lower() == 'emo_mm'), None)
    if dist is None:
        raise RuntimeError(f'emo_mm is not installed in {site_dir or sys.path}')
    in_repo = osp.join(CHECKOUT, 'emo_mm', '.mim')
    if osp.realpath(str(dist.locate_file(''))) == osp.realpath(CHECKOUT):
        _link(in_repo, osp.join('..', '..'))  # a legacy `setup.py develop` install: located here
        return in_repo
    checkout = editable_checkout(dist)
    if checkout != osp.realpath(CHECKOUT):
        raise RuntimeError(f'emo_mm in {dist.locate_file("")} is not an editable install of '
                           f'{CHECKOUT} (it is {checkout or "a regular install"}): nothing to link')
    package = osp.join(str(dist.locate_file('')), 'emo_mm')
    if osp.isfile(osp.join(package, '__init__.py')):
        raise RuntimeError(f'{package} holds a regular install of emo_mm: not touching it')
    mim = osp.join(package, '.mim')
    _link(mim, CHECKOUT)
    _link(in_repo, osp.join('..', '..'))
    return mim


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--site-dir', help='folder of the editable install (default: found)')
    args = parser.parse_args(argv)
    print(f'[install] mim files: {link_mim(args.site_dir)} -> {CHECKOUT}')


if __name__ == '__main__':
    main()
