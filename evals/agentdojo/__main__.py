import sys

from evals.agentdojo.report import main

sys.exit(main())
