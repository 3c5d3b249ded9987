"""The EmoFace model: audio encoders, FaceFormer-style decoders, Mesh Attention with SpiralConv3D."""
