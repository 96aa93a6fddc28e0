"""``python -m validation.compare_phonopy [options] [files]``: see the package docstring."""

import sys

from validation.compare_phonopy.cli import main

if __name__ == "__main__":
    sys.exit(main())
