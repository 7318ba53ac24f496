"""`python -m oci_promote.action`: what action.yml's Promote step runs."""

from __future__ import annotations

import sys

from .main import main

sys.exit(main())
