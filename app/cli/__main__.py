"""``python -m app.cli``: the ``worldfm`` command (as under ``accelerate launch -m app.cli``)."""

import sys

from app.cli import main

sys.exit(main())
