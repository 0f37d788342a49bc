"""`python -m oncall_dojo` runs the `dojo` command."""

import sys

from oncall_dojo.cli import main

sys.exit(main())
