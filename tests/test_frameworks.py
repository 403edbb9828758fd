"""emo_mm.frameworks: the one place that knows mmpretrain / mmdet / mmseg."""
import pytest
from mmengine.config import Config

from emo_mm.frameworks import FRAMEWORKS, framework_of, get_adapter


def test_framework_of_names_the_valid_scopes():
    assert framework_of(Config(dict(default_scope='mmdet'))) == 'mmdet'
    for scope in (None, 'mmdet3d'):
        with pytest.raises(ValueError, match="default_scope=.*'mmpretrain', 'mmdet', 'mmseg'"):
            framework_of(Config(dict(default_scope=scope)))


def test_every_framework_has_an_adapter():
    assert [get_adapter(name).name for name in FRAMEWORKS] == list(FRAMEWORKS)
    with pytest.raises(ValueError, match="Unknown framework 'mmocr'; valid: mmpretrain, mmdet, mmseg"):
        get_adapter('mmocr')


def test_input_shapes():
    ssd = Config(dict(default_scope='mmdet', input_size=512, model=dict(bbox_head=dict(type='SSDHead'))))
    retina = Config(dict(default_scope='mmdet', model=dict(bbox_head=dict(type='RetinaHead'))))
    assert get_adapter(ssd).input_shape(ssd) == (512, 512)
    assert get_adapter(retina).input_shape(retina) == (800, 1333)
    cls = Config(dict(default_scope='mmpretrain', model=dict()))
    assert get_adapter(cls).input_shape(cls) == (224, 224)


def test_output_flag_per_framework(tmp_path):
    seg = Config(dict(default_scope='mmseg', test_evaluator=dict(type='IoUMetric')))
    get_adapter(seg).set_output(seg, str(tmp_path))
    assert seg.test_evaluator['output_dir'] == str(tmp_path) and seg.test_evaluator['keep_results']
    assert get_adapter('mmseg').result_dumper(str(tmp_path)) is None
    for name in ('mmdet', 'mmpretrain'):
        with pytest.raises(ValueError, match=f'--out must be a .pkl or .pickle file for {name}'):
            get_adapter(name).set_output(Config(), 'preds.json')
