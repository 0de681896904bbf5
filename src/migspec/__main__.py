from migspec.cli import main

raise SystemExit(main())
