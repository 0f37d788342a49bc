"""`python -m oncall_dojo.cli` runs the `dojo` command."""

import sys

from oncall_dojo.cli.parser import main

sys.exit(main())
