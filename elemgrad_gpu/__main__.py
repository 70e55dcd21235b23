"""``python -m elemgrad_gpu`` is the ``elemgrad`` command (bare: the demonstration)."""
import sys

from elemgrad_gpu.cli.main import main

sys.exit(main())
