import sys

from phonjax.cli import main

sys.exit(main())
