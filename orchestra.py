#!/usr/bin/env python3
"""Orchestra's entry point: ``python orchestra.py`` starts the hub; ``--help`` lists the commands."""

import sys

from orchestra.cli import main

if __name__ == "__main__":
    sys.exit(main())
