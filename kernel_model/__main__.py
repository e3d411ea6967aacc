"""``python -m kernel_model``: the ``nexora`` command."""
from .cli import main

raise SystemExit(main())
