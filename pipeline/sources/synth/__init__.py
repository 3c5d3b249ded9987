"""The generated RAVDESS-shaped corpus (``build-dataset synth``): eSpeak NG speech, a photo face
driven by the demo head, ground truth per clip. Entry point: :func:`.corpus.generate_corpus`;
see docs/synth.md."""
