# SSDLite with an EMOv2-1M backbone at a 512x512 input. As in the official EMOv2 "512" runs, only
# the input size changes: the anchor generator keeps its 320 settings (strides up to 320, sizes
# up to 320; docs/official_recipes.md §4.2, §6.14).
_base_ = './ssdlite_emo2-1m_8xb24-600e_coco.py'

input_size = 512
train_pipeline = [
    dict(step, scale=(input_size, input_size)) if step['type'] == 'Resize' else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(step, scale=(input_size, input_size)) if step['type'] == 'Resize' else step
    for step in _base_.test_pipeline
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
