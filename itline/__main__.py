import sys

from itline.cli import main

sys.exit(main())
