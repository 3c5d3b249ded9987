"""EmoFace-3D: the library (morphable models, data format, model, training, metrics, rendering).

``emoface`` never imports ``pipeline``; dataset construction lives there.
"""

__version__ = "0.1.0"
