"""Training: the only stage that imports Keras at module level.

The Keras objective of one trial (``objective``), its callbacks (``callbacks``), the one
model-building path shared with the winner's re-training (``build``), the model checked
against the data before any trial (``contract``), per-trial TensorBoard logs
(``tensorboard``) and the winner re-trained, tested and saved (``retrain``).
"""
