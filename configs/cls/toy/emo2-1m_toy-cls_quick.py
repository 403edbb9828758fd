# The quick run of the demo (`python tools/demo.py --quick`, the test suite's end-to-end run):
# the toy classifier (emo2-1m_toy-cls.py) with the full run's schedule (36 epochs of batch 32,
# three warm-up epochs) on the quick toy set (100 train + 20 val images per class, half the full
# set: emo_mm.demo.tasks.QUICK_DATA), so 576 iterations instead of 1152. It shows that the
# pipeline learns, not the quality bar of the full run.
# Why 100 images per class: with 24 (our earlier quick set) the classifier memorised its 120
# training images instead of learning the shapes (seed 2, 600 iterations of batch 32: top-1
# 94.2 on its own training images with `tools/test.py ... --cfg-options
# test_dataloader.dataset.split=train`, 20.0 = chance on val; longer warm-ups and schedules of
# up to 768 iterations on those images did not help: single runs in a scratch dir, 2026-12-07).
# With 100 per class: the quick runs per seed in the README ("The demo").
_base_ = './emo2-1m_toy-cls.py'
