from pipeline.launch.launcher import main

raise SystemExit(main())
