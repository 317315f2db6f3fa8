"""``python -m fields COMMAND ...``: the ``fields`` command without its installed launcher."""
import sys

from fields.cli import main

sys.exit(main())
