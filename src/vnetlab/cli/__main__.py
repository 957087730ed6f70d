"""``python -m vnetlab.cli``: the same as the ``vnetlab`` command."""

import sys

from vnetlab.cli import main

sys.exit(main())
