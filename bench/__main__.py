"""`python -m bench [--only 1,3] [--scale 0.1] [--markdown PATH]`: run, print the table."""

from bench.run import main

raise SystemExit(main())
