from pipeline.cli.launch import main

raise SystemExit(main())
