"""The demo head builder (writes ``emoface/morphable/assets/demo_head.npz``) and its preview (not shipped)."""
