"""The emo_mm registry scope, plain-name registration and import hygiene."""
import subprocess
import sys

import pytest
import torch.nn as nn
from mmengine.registry import MODELS as ROOT_MODELS

import emo_mm  # noqa: F401
from emo_mm.models import EMO, EMOv2, registration
from emo_mm.registry import MODELS


def test_import_does_not_pull_frameworks():
    code = ('import sys, emo_mm; heavy = [m for m in ("mmdet", "mmseg") if m in sys.modules]; '
            'print(heavy); assert not heavy')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize('framework', ['mmpretrain', 'mmdet', 'mmseg'])
@pytest.mark.parametrize('name,cls', [('EMO', EMO), ('EMOv2', EMOv2)])
def test_scoped_and_plain_names_resolve_in_every_framework(framework, name, cls):
    registry = __import__(f'{framework}.registry', fromlist=['MODELS']).MODELS
    assert registry.get(f'emo_mm.{name}') is cls
    assert registry.get(name) is cls
    assert isinstance(registry.build(dict(type=name, arch='1m')), cls)


def test_custom_imports_config_resolves_plain_type(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("default_scope = 'mmdet'\n"
                   "custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)\n"
                   "model = dict(type='EMOv2', arch='1m', out_indices=(3, 4))\n")
    code = ('from mmengine.config import Config; from mmengine.registry import init_default_scope; '
            f'cfg = Config.fromfile({str(cfg)!r}); init_default_scope("mmdet"); '
            'from mmdet.registry import MODELS; m = MODELS.build(cfg.model); print(type(m).__module__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0 and 'emo_mm.models.backbones.emo2' in out.stdout, out.stderr


def test_clash_with_a_framework_model_is_an_error(monkeypatch):
    class Impostor(nn.Module):
        pass

    fake = type(sys)('fakefw.registry')
    fake.MODELS = type('R', (), {'import_from_location': lambda self: None,
                                 'module_dict': {'EMOv2': Impostor}})()
    monkeypatch.setitem(sys.modules, 'fakefw.registry', fake)
    monkeypatch.setattr(registration, 'FRAMEWORKS', registration.FRAMEWORKS + ('fakefw', ))
    monkeypatch.delitem(ROOT_MODELS.module_dict, 'EMOv2')
    with pytest.raises(KeyError, match="fakefw registers its own 'EMOv2'.*emo_mm.EMOv2"):
        registration.register_in_root(['EMOv2'])


def test_clash_in_root_is_an_error(monkeypatch):
    class Other(nn.Module):
        pass

    monkeypatch.setitem(ROOT_MODELS.module_dict, 'EMO', Other)
    with pytest.raises(KeyError, match="Cannot register emo_mm model 'EMO'"):
        registration.register_in_root(['EMO'])


def test_registration_is_idempotent():
    registration.register_in_root(['EMO', 'EMOv2'])
    assert ROOT_MODELS.get('EMO') is EMO and MODELS.get('EMOv2') is EMOv2
