"""Tooling of the repository, outside the shipped packages (the wheel ships ``emoface`` and ``pipeline`` only).

- ``tools.demo_head``: builds the demo head asset (``emoface/morphable/assets/demo_head.npz``) and previews it;
- ``tools.testing``: fixtures and models for tests and benchmarks.
"""
