"""Toy shapes data (emo_mm.toy_data, tools/dataset_converters/make_toy_data.py): the three layouts
are read by the stock mmpretrain / mmdet / mmseg datasets, annotations agree with the pixels,
generation is deterministic and unchanged, complete generations are reused and ``--force``
regenerates."""
import filecmp
import hashlib
import json
import os
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emo_mm.testing import load_script
from emo_mm.toy_data import generate, make_toy_data
from emo_mm.toy_data.scene import GENERATOR_VERSION, SCENES, image_rng, render_scene

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'tools' / 'dataset_converters' / 'make_toy_data.py'


tool = load_script(SCRIPT)
CLASSES = ('circle', 'cross', 'square', 'star', 'triangle')
SMALL = dict(cls_train_per_class=6, cls_val_per_class=3, det_train=16, det_val=8, seg_train=8,
             seg_val=6)


def _scope(name):
    """Register ``name``'s modules and resolve config types in its scope (as configs do)."""
    import importlib

    from mmengine.registry import DefaultScope
    importlib.import_module(f'{name}.utils').register_all_modules(init_default_scope=False)
    return DefaultScope.overwrite_default_scope(name)


def _tree(root):
    """Relative paths of every file below ``root``."""
    return sorted(osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp('toy')
    res = make_toy_data(str(out), seed=3, verbose=False, **SMALL)
    assert all(r['generated'] for r in res.values())
    return out


# --------------------------------------------------------------------------- classification
def test_cls_layout_files(toy):
    root = toy / 'cls'
    assert (root / 'meta' / 'classes.txt').read_text().split() == list(CLASSES)
    for split, n in (('train', 6), ('val', 3)):
        assert sorted(os.listdir(root / split)) == list(CLASSES)
        lines = (root / 'meta' / f'{split}.txt').read_text().splitlines()
        assert len(lines) == n * len(CLASSES)
        for line in lines:
            rel, label = line.rsplit(' ', 1)
            # the label is the class of the folder the image is in
            assert CLASSES[int(label)] == rel.split('/')[0]
            img = Image.open(root / split / rel)
            assert img.mode == 'RGB' and img.size == (64, 64)


def test_cls_read_by_mmpretrain(toy):
    from mmpretrain.datasets import CustomDataset, ImageNet
    with _scope('mmpretrain'):
        _check_cls_datasets(str(toy / 'cls'), CustomDataset, ImageNet)


def _check_cls_datasets(root, CustomDataset, ImageNet):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', scale=48),
                dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                dict(type='PackInputs')]
    # 1) ImageNet with split= uses meta/<split>.txt; classes given explicitly
    ds = ImageNet(data_root=root, split='train', metainfo=dict(classes=CLASSES),
                  pipeline=pipeline)
    assert len(ds) == 6 * len(CLASSES) and ds.CLASSES == CLASSES
    assert ds.ann_file.endswith(osp.join('meta', 'train.txt'))
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 48, 48)
    assert sample['data_samples'].gt_label.item() == ds.get_data_info(0)['gt_label']
    labels = [ds.get_data_info(i)['gt_label'] for i in range(len(ds))]
    assert np.bincount(labels).tolist() == [6] * len(CLASSES)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert osp.basename(osp.dirname(info['img_path'])) == CLASSES[info['gt_label']]
    # 2) folder mode (no annotation file): classes = sorted sub-folders, same labels
    folder = CustomDataset(data_root=root, data_prefix='val', pipeline=pipeline)
    assert folder.CLASSES == CLASSES
    listed = CustomDataset(data_root=root, data_prefix='val', ann_file='meta/val.txt',
                           classes=osp.join(root, 'meta', 'classes.txt'), pipeline=pipeline)
    assert listed.CLASSES == CLASSES
    as_set = lambda d: sorted((osp.normpath(d.get_data_info(i)['img_path']),  # noqa: E731
                               d.get_data_info(i)['gt_label']) for i in range(len(d)))
    assert as_set(folder) == as_set(listed) and len(folder) == 3 * len(CLASSES)


# --------------------------------------------------------------------------- detection
def _grow(mask, iterations, erode=False):
    """4-neighbour binary dilation (or erosion) with numpy only; outside the image is False
    (dilation does not grow from the border, erosion eats into it)."""
    m = mask.copy()
    for _ in range(iterations):
        p = np.pad(m, 1, constant_values=False)
        nbrs = (p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:])
        for n in nbrs:
            m = (m & n) if erode else (m | n)
    return m


def _hull_area(points):
    """Area of the convex hull of integer 2-D points (monotone chain)."""
    pts = sorted(set(map(tuple, points.tolist())))

    def half(seq):
        out = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1]) -
                                     (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out

    hull = np.array(half(pts)[:-1] + half(pts[::-1])[:-1], float)
    x, y = hull[:, 0], hull[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def _shape_of(mask):
    """Name the shape of an unoccluded object mask from two rotation-invariant measures:
    fill = area / area of the circle around the centroid through the farthest pixel corner,
    solidity = area / convex hull area (low for the concave star and cross)."""
    ys, xs = np.nonzero(mask)
    corners = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)])
    r = np.sqrt(((corners - [xs.mean() + 0.5, ys.mean() + 0.5])**2).sum(1)).max()
    fill, solidity = len(xs) / (np.pi * r * r), len(xs) / _hull_area(corners)
    if solidity < 0.8:
        return 'star' if fill < 0.51 else 'cross'
    return 'circle' if fill > 0.8 else 'square' if fill > 0.5 else 'triangle'


def _ring_contrast(img, mask):
    """RGB distance between the mean colour well inside ``mask`` and just outside it."""
    inner = _grow(mask, 2, erode=True)
    ring = _grow(mask, 4) & ~_grow(mask, 1)
    if inner.sum() < 10 or ring.sum() < 10:
        return None
    return float(np.linalg.norm(img[inner].mean(0) - img[ring].mean(0)))


def _corners(xywh):
    x, y, w, h = xywh
    return [x, y, x + w, y + h]


@pytest.mark.parametrize('split', ['train', 'val'])
def test_det_read_by_pycocotools_and_mmdet(toy, split):
    from mmdet.datasets import CocoDataset
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    root = toy / 'det'
    ann_file = root / 'annotations' / f'instances_{split}2017.json'
    coco = COCO(str(ann_file))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    n_img = SMALL[f'det_{split}']
    assert len(coco.getImgIds()) == n_img
    assert sorted(os.listdir(root / f'{split}2017')) == sorted(
        im['file_name'] for im in coco.loadImgs(coco.getImgIds()))
    kinds, shapes_ok = set(), []
    for ann in coco.loadAnns(coco.getAnnIds()):
        im = coco.loadImgs(ann['image_id'])[0]
        mask = coco.annToMask(ann).astype(bool)
        assert mask.shape == (im['height'], im['width'])
        ys, xs = np.nonzero(mask)
        tight = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
        if isinstance(ann['segmentation'], dict):  # RLE: exactly the annotated pixels
            kinds.add('rle')
            assert mask.sum() == ann['area']
            assert mask_utils.area(coco.annToRLE(ann)) == ann['area']
            np.testing.assert_array_equal(ann['bbox'], tight)
        else:  # polygon: box = vertex extent, area = polygon area (COCO convention) ...
            kinds.add('polygon')
            (poly, ) = ann['segmentation']
            xs, ys = np.array(poly[0::2]), np.array(poly[1::2])
            np.testing.assert_allclose(
                ann['bbox'], [xs.min(), ys.min(), np.ptp(xs), np.ptp(ys)], atol=0.011)
            # ... and pycocotools' rasterisation agrees up to edge pixels (sharp star tips)
            assert abs(mask.sum() - ann['area']) <= 0.06 * ann['area']
            np.testing.assert_allclose(_corners(ann['bbox']), _corners(tight), atol=2.0)
            # unoccluded: the mask has the shape its category says
            shapes_ok.append(_shape_of(mask) == CLASSES[ann['category_id'] - 1])
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= im['width'] and y + h <= im['height']
        assert ann['area'] >= 30 and ann['iscrowd'] == 0
    assert kinds == {'rle', 'polygon'}, 'mixed masks: both kinds expected in 16/8 images'
    assert np.mean(shapes_ok) >= 0.9, shapes_ok

    with _scope('mmdet'):
        ds = CocoDataset(
            data_root=str(root), ann_file=f'annotations/instances_{split}2017.json',
            data_prefix=dict(img=f'{split}2017/'), metainfo=dict(classes=CLASSES),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', with_bbox=True, with_mask=True)])
        samples = [ds[i] for i in range(len(ds))]
    assert len(ds) == n_img
    n_inst, contrasts = 0, []
    for r in samples:
        img, boxes, masks = r['img'], r['gt_bboxes'].numpy(), r['gt_masks'].masks.astype(bool)
        assert img.shape == (128, 128, 3)
        assert len(boxes) == len(masks) == len(r['gt_bboxes_labels']) >= 1
        assert not r['gt_ignore_flags'].any()
        assert set(r['gt_bboxes_labels'].tolist()) <= set(range(len(CLASSES)))
        for inst, box, m in zip(r['instances'], boxes, masks):
            ys, xs = np.nonzero(m)
            tol = 0 if isinstance(inst['mask'], dict) else 2.0  # RLE: exact, polygon: edges
            np.testing.assert_allclose(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1],
                                       atol=tol)
            c = _ring_contrast(img.astype(np.float32), m)
            if c is not None:
                contrasts.append(c)
        n_inst += len(boxes)
    assert n_inst == len(coco.getAnnIds())
    # the masks sit on the objects in the pixels: object vs surroundings differ clearly
    assert np.median(contrasts) > 40 and np.mean(np.array(contrasts) > 15) > 0.9


def test_det_rle_only(tmp_path):
    make_toy_data(str(tmp_path), seed=1, tasks=['det'], det_train=3, det_val=4,
                      mask_format='rle', verbose=False)
    data = json.loads((tmp_path / 'det' / 'annotations' / 'instances_val2017.json').read_text())
    assert data['annotations'] and all(
        isinstance(a['segmentation'], dict) for a in data['annotations'])
    assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])


# --------------------------------------------------------------------------- segmentation
@pytest.mark.parametrize('split,sub', [('train', 'training'), ('val', 'validation')])
def test_seg_read_by_mmseg(toy, split, sub):
    from mmseg.datasets import ADE20KDataset, BaseSegDataset
    root = toy / 'seg'
    seg_classes = ('background', ) + CLASSES
    assert (root / 'classes.txt').read_text().split() == list(seg_classes)
    n = SMALL[f'seg_{split}']
    stems = sorted(f[:-4] for f in os.listdir(root / 'images' / sub))
    assert len(stems) == n
    assert stems == sorted(f[:-4] for f in os.listdir(root / 'annotations' / sub))
    for stem in stems:
        raw = np.array(Image.open(root / 'annotations' / sub / f'{stem}.png'))
        assert raw.dtype == np.uint8 and raw.ndim == 2
        # 0 = "other" (unused), 1 = background, 2.. = shapes
        assert raw.min() >= 1 and raw.max() <= len(CLASSES) + 1

    kw = dict(data_root=str(root),
              data_prefix=dict(img_path=f'images/{sub}', seg_map_path=f'annotations/{sub}'),
              pipeline=[dict(type='LoadImageFromFile'),
                        dict(type='LoadAnnotations')])  # reduce_zero_label from the dataset
    with _scope('mmseg'):
        ds = BaseSegDataset(img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
                            metainfo=dict(classes=seg_classes), **kw)
        samples = [ds[i] for i in range(len(ds))]
        # the stock ADE20KDataset (150 classes, same reduce_zero_label) reads the layout too
        ade = ADE20KDataset(**kw)
        ade_first = ade[0]
    assert len(ds) == n and ds.metainfo['classes'] == seg_classes
    assert len(ade) == n and ade_first['gt_seg_map'].max() < 150
    np.testing.assert_array_equal(ade_first['gt_seg_map'], samples[0]['gt_seg_map'])
    seen = np.zeros(len(seg_classes), int)
    for r in samples:
        img, gt = r['img'].astype(np.float32), r['gt_seg_map']
        assert img.shape == (128, 128, 3) and gt.shape == (128, 128)
        values = np.unique(gt)
        assert values.min() == 0 and values.max() < len(seg_classes), values
        assert len(values) >= 2  # background + at least one shape
        seen += np.bincount(gt.ravel(), minlength=len(seg_classes)) > 0
        c = _ring_contrast(img, gt > 0)
        assert c is None or c > 10
    assert seen[0] == n


def test_overlapping_objects_contrast_with_each_other():
    """Where one object covers part of another the edge between them is visible: the two
    objects differ in colour as an object differs from its background, so the labels can be
    read off the pixels. (Version 2 checked the colour only against the mean of what lay
    beneath; with that rule the least contrast in these scenes was 15.)"""
    contrasts = []
    for i in range(150):
        rng = image_rng(0, 'seg', 'train', i)
        img, insts = render_scene(rng, 128, ['circle', 'square', 'star', 'cross', 'triangle'],
                                  SCENES['seg'])
        img = img.astype(np.float32)
        for a, top in enumerate(insts):
            for below in insts[:a]:
                if (_grow(top['mask'], 1) & _grow(below['mask'], 1)).sum() < 20:
                    continue  # not touching
                # mean colours away from the (anti-aliased) edges
                inner_top = _grow(top['mask'], 2, erode=True)
                inner_below = _grow(below['mask'], 2, erode=True)
                if inner_top.sum() < 20 or inner_below.sum() < 20:
                    continue
                contrasts.append(float(np.linalg.norm(img[inner_top].mean(0)
                                                      - img[inner_below].mean(0))))
    assert len(contrasts) >= 300, len(contrasts)
    assert min(contrasts) > 60, sorted(contrasts)[:10]


def test_seg_labels_name_the_right_shapes(tmp_path):
    """One object per image (no occlusion): its label is the class its geometry says."""
    make_toy_data(str(tmp_path), tasks=['seg'], seg_train=40, seg_val=1, seg_max_objects=1,
                      verbose=False)
    ann_dir = tmp_path / 'seg' / 'annotations' / 'training'
    hits, seen = [], set()
    for name in sorted(os.listdir(ann_dir)):
        raw = np.array(Image.open(ann_dir / name))
        (value, ) = set(np.unique(raw)) - {1}
        shape = CLASSES[value - 2]
        seen.add(shape)
        hits.append(_shape_of(raw == value) == shape)
    assert seen == set(CLASSES) and np.mean(hits) >= 0.95, hits


def test_seg_reduce_zero_label_convention(toy):
    """PNG value v becomes training label v - 1 (value 0 would be ignored as 255)."""
    from mmseg.datasets.transforms import LoadAnnotations
    path = toy / 'seg' / 'annotations' / 'training' / 'toy_train_00000001.png'
    raw = np.array(Image.open(path))
    out = LoadAnnotations()(dict(seg_map_path=str(path), reduce_zero_label=True, seg_fields=[]))
    np.testing.assert_array_equal(out['gt_seg_map'], raw.astype(np.int64) - 1)


# --------------------------------------------------------------------------- determinism / reuse
def _assert_same_tree(a, b):
    assert _tree(a) == _tree(b)
    match, mismatch, errors = filecmp.cmpfiles(a, b, _tree(a), shallow=False)
    assert not mismatch and not errors


def test_same_seed_byte_identical(toy, tmp_path):
    make_toy_data(str(tmp_path), seed=3, verbose=False, **SMALL)
    for task in ('cls', 'det', 'seg'):
        _assert_same_tree(str(toy / task), str(tmp_path / task))


def _digest(root):
    """sha256 of every file below ``root`` (name and content); images by their decoded pixels,
    so that the digest does not depend on the zlib / libjpeg build that Pillow bundles."""
    h = hashlib.sha256()
    for rel in _tree(root):
        h.update(rel.encode() + b'\0')
        if rel.endswith(('.png', '.jpg')):
            img = Image.open(osp.join(root, rel))
            h.update(f'{img.mode} {img.size}'.encode())
            h.update(np.asarray(img).tobytes())
        else:
            h.update(Path(root, rel).read_bytes())
    return h.hexdigest()


# the digest of the ``toy`` fixture's files, recorded from the generator of version 3
DIGEST_V3 = 'b497ad667dff69127c679d2507fa52cf142fd41d3f4190c0134103d9dfd7ddfc'


def test_generation_is_unchanged(toy):
    """The toy data (and with it the demo's results) change only with the generator version: a
    change of the data must bump ``GENERATOR_VERSION`` (stale data sets are then regenerated)
    and record the new digest here."""
    assert GENERATOR_VERSION == 3
    assert _digest(str(toy)) == DIGEST_V3


def test_different_seed_differs(toy, tmp_path):
    make_toy_data(str(tmp_path), seed=4, verbose=False, **SMALL)
    for task in ('cls', 'det', 'seg'):
        a, b = toy / task, tmp_path / task
        files = [f for f in _tree(a) if f.endswith(('.png', '.jpg'))]
        assert _tree(a) == _tree(b)  # same layout and names ...
        same = [f for f in files if (a / f).read_bytes() == (b / f).read_bytes()]
        assert not same, f'{task}: identical images for seeds 3 and 4: {same[:3]}'
    for split in ('train', 'val'):
        rel = Path('det', 'annotations', f'instances_{split}2017.json')
        assert (toy / rel).read_bytes() != (tmp_path / rel).read_bytes()
    # the image lists only depend on the layout
    train_txt = Path('cls', 'meta', 'train.txt')
    assert (toy / train_txt).read_bytes() == (tmp_path / train_txt).read_bytes()


def test_more_images_keep_existing_ones(toy, tmp_path):
    """Every image has its own random stream: a larger set extends a smaller one."""
    more = dict(SMALL, seg_train=SMALL['seg_train'] + 3)
    make_toy_data(str(tmp_path), seed=3, tasks=['seg'], verbose=False, **more)
    for f in _tree(toy / 'seg' / 'images'):
        assert (toy / 'seg/images' / f).read_bytes() == (tmp_path / 'seg/images' / f).read_bytes()
    assert len(os.listdir(tmp_path / 'seg/images/training')) == SMALL['seg_train'] + 3


def _mtimes(root):
    return {f: os.stat(osp.join(root, f)).st_mtime_ns for f in _tree(root)}


def test_skip_when_complete_and_force(tmp_path, capsys):
    args = ['--out', str(tmp_path), '--seed', '5', '--tasks', 'cls', 'seg',
            '--cls-train-per-class', '2', '--cls-val-per-class', '1', '--seg-train', '2',
            '--seg-val', '1']
    assert tool.main(args) == 0
    assert sorted(os.listdir(tmp_path)) == ['cls', 'seg']
    before = _mtimes(tmp_path)
    capsys.readouterr()
    assert tool.main(args) == 0  # complete with the same settings: nothing rewritten
    assert capsys.readouterr().out.count('skipping') == 2
    assert _mtimes(tmp_path) == before

    res = make_toy_data(str(tmp_path), seed=5, tasks=['cls'], force=True, verbose=False,
                            cls_train_per_class=2, cls_val_per_class=1)
    assert res['cls']['generated']
    after = _mtimes(tmp_path)
    assert all(after[f] != before[f] for f in before if f.startswith('cls'))
    assert all(after[f] == before[f] for f in before if f.startswith('seg'))

    assert tool.main(args + ['--force', '--quiet']) == 0  # --force from the command line
    assert all(_mtimes(tmp_path)[f] != after[f] for f in after)


def test_generations_into_one_folder_take_turns(tmp_path):
    """Two generations into one folder (two `make demo` runs started together in one checkout)
    used to write into each other's task folders (one failed: FileNotFoundError on the other's
    ``.partial`` marker). Now the second waits for the first's lock, then reuses its data."""
    import fcntl
    import subprocess
    import sys
    import time
    kw = dict(tasks=['cls'], cls_train_per_class=2, cls_val_per_class=1)
    code = (f'from emo_mm.toy_data import make_toy_data\n'
            f'print(make_toy_data({str(tmp_path)!r}, **{kw!r})["cls"]["generated"])')
    fd = os.open(str(tmp_path), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a generation in progress (this process)
    try:
        child = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
        time.sleep(5)
        assert child.poll() is None  # it waits
        assert os.listdir(tmp_path) == []  # and has written nothing
    finally:
        os.close(fd)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    assert 'another process is generating here; waiting for it' in out and out.endswith('True\n')
    assert sorted(os.listdir(tmp_path)) == ['cls']  # no lock file left behind
    assert not make_toy_data(str(tmp_path), verbose=False, **kw)['cls']['generated']


def test_incomplete_or_changed_is_regenerated(tmp_path):
    kw = dict(tasks=['cls'], cls_train_per_class=2, cls_val_per_class=1, verbose=False)
    make_toy_data(str(tmp_path), seed=0, **kw)
    victim = tmp_path / 'cls' / 'train' / 'star' / 'star_00001.png'
    original = victim.read_bytes()
    victim.unlink()  # a damaged set is not "complete"
    assert make_toy_data(str(tmp_path), seed=0, **kw)['cls']['generated']
    assert victim.read_bytes() == original
    # other settings: regenerated to match them, nothing left over from the old set
    kw['cls_train_per_class'] = 1
    assert make_toy_data(str(tmp_path), seed=0, **kw)['cls']['generated']
    assert not victim.exists()
    assert len((tmp_path / 'cls' / 'meta' / 'train.txt').read_text().splitlines()) == 5
    assert not make_toy_data(str(tmp_path), seed=0, **kw)['cls']['generated']


def test_changed_scene_settings_are_regenerated(tmp_path, monkeypatch):
    """Object sizes live in ``SCENES``, not in the options: changing them must not reuse data."""
    kw = dict(tasks=['seg'], seg_train=1, seg_val=1, verbose=False)
    assert make_toy_data(str(tmp_path), seed=0, **kw)['seg']['generated']
    assert not make_toy_data(str(tmp_path), seed=0, **kw)['seg']['generated']
    scene = dict(SCENES)
    scene['seg'] = dict(scene['seg'], radius=(0.2, 0.3))
    monkeypatch.setattr(generate, 'SCENES', scene)
    assert make_toy_data(str(tmp_path), seed=0, **kw)['seg']['generated']
    assert not make_toy_data(str(tmp_path), seed=0, **kw)['seg']['generated']


def test_foreign_directory_is_not_overwritten(tmp_path, capsys):
    (tmp_path / 'det').mkdir()
    (tmp_path / 'det' / 'mine.txt').write_text('precious')
    with pytest.raises(FileExistsError, match='--force'):
        make_toy_data(str(tmp_path), tasks=['det'], det_train=1, det_val=1, verbose=False)
    assert tool.main(['--out', str(tmp_path), '--tasks', 'det', '--det-train', '1',
                     '--det-val', '1']) == 2
    assert 'not written by this tool' in capsys.readouterr().err
    assert (tmp_path / 'det' / 'mine.txt').read_text() == 'precious'
    assert tool.main(['--out', str(tmp_path), '--tasks', 'det', '--det-train', '1',
                     '--det-val', '1', '--force', '--quiet']) == 0
    assert not (tmp_path / 'det' / 'mine.txt').exists()


@pytest.mark.parametrize('kwargs,match', [
    (dict(seed=-1), 'seed'),
    (dict(seed=1.5), 'seed'),
    (dict(tasks=['cls', 'keypoints']), 'tasks'),
    (dict(tasks=[]), 'tasks'),
    (dict(classes=['circle', 'hexagon']), 'hexagon'),
    (dict(classes=['circle']), 'at least 2'),
    (dict(classes=['circle', 'circle']), 'at least 2'),
    (dict(cls_size=16), 'cls_size'),
    (dict(det_train=0), 'det_train'),
    (dict(seg_max_objects=2.5), 'seg_max_objects'),
    (dict(mask_format='bitmap'), 'mask_format'),
    (dict(clutter=1.5), 'clutter'),
    (dict(clutter='busy'), 'clutter'),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_toy_data(str(tmp_path), verbose=False, **kwargs)
    assert not os.listdir(tmp_path)  # nothing written before the arguments are checked


def test_bad_arguments_cli(tmp_path, capsys):
    with pytest.raises(TypeError, match='det_count'):
        make_toy_data(str(tmp_path), det_count=3)
    with pytest.raises(SystemExit):
        tool.main(['--out', str(tmp_path), '--classes', 'hexagon'])
    assert tool.main(['--out', str(tmp_path), '--det-size', '8']) == 2
    assert 'det_size must be >= 32' in capsys.readouterr().err
    assert not os.listdir(tmp_path)


def test_class_subset_in_alphabetical_order(tmp_path):
    make_toy_data(str(tmp_path), classes=['triangle', 'circle', 'star'], tasks=['cls', 'det'],
                      cls_train_per_class=1, cls_val_per_class=1, det_train=2, det_val=2,
                      verbose=False)
    names = ['circle', 'star', 'triangle']
    assert (tmp_path / 'cls' / 'meta' / 'classes.txt').read_text().split() == names
    assert sorted(os.listdir(tmp_path / 'cls' / 'train')) == names
    cats = json.loads((tmp_path / 'det/annotations/instances_train2017.json').read_text())
    assert [(c['id'], c['name']) for c in cats['categories']] == list(enumerate(names, 1))
    assert {a['category_id'] for a in cats['annotations']} <= {1, 2, 3}


def test_clutter_controls_background_detail(tmp_path):
    """clutter=0 gives smooth backgrounds, clutter=1 busy ones (more high-frequency energy)."""
    def detail(clutter):
        out = tmp_path / f'c{clutter}'
        make_toy_data(str(out), tasks=['seg'], seg_train=6, seg_val=1, clutter=clutter,
                          verbose=False)
        values = []
        for stem in sorted(os.listdir(out / 'seg/images/training')):
            img = np.asarray(Image.open(out / 'seg/images/training' / stem), np.float32)
            label = np.asarray(Image.open(out / 'seg/annotations/training' /
                                          stem.replace('.jpg', '.png')))
            bg = _grow(label == 1, 2, erode=True)[1:, :]  # background away from objects
            diff = np.abs(np.diff(img, axis=0)).sum(-1)  # vertical gradient magnitude
            values.append(diff[bg].mean())
        return np.mean(values)

    smooth, busy = detail(0), detail(1)
    assert busy > 2 * smooth, (smooth, busy)
