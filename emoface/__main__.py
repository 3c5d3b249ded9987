"""``python -m emoface ...`` (also what ``torchrun -m emoface train ...`` runs)."""

from emoface.cli import main

main()
