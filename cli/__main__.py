"""``python -m cli`` runs the same app as the ``xmodal`` console script."""

from cli import main

main()
