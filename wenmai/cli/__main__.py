"""`python -m wenmai.cli ...` runs the `wenmai` command."""
import sys

from wenmai.cli import main

sys.exit(main())
