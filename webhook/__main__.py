"""`python -m webhook`: the same entry point as the `stsmesh` console command."""

from webhook.cli.main import main

raise SystemExit(main())
