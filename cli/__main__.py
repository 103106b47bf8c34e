"""``python -m cli`` runs the same app as the ``xmodal`` console script."""

from cli.app import main

main()
