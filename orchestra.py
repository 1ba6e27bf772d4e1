#!/usr/bin/env python3
"""Orchestra's entry point from a clone: ``python orchestra.py`` starts the hub; ``--help`` lists the
commands.

It exists beside the ``orchestra/`` package because the project's required layout is a hub that runs
from a clone, with no install step: Python puts a script's own directory on sys.path, so ``import
orchestra`` here finds the package next to this file (a package directory wins over a module of the
same name). All it does is call :func:`orchestra.cli.main`, which the installed ``orchestra`` command
(pyproject's ``[project.scripts]``) calls too.
"""

import sys

from orchestra.cli import main

if __name__ == "__main__":
    sys.exit(main())
