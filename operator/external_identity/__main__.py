import sys

from external_identity.cli.main import main

sys.exit(main())
