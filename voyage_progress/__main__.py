from voyage_progress.cli import main

raise SystemExit(main())
