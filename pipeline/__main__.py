from pipeline.cli.commands import main

raise SystemExit(main())
