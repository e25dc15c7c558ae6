"""``python -m chainrule ...`` runs the command line, exactly as the ``chainrule`` script does."""

import sys

from chainrule.viz.cli import main

if __name__ == "__main__":
    sys.exit(main())
