"""``python -m kg_recsys.cli``: the ``kgrec`` command, for launchers that start a module
(``torchrun -m kg_recsys.cli train ...``)."""
import sys

from kg_recsys.cli import main

sys.exit(main())
