import sys

from labelgen.cli._main import main

sys.exit(main())
