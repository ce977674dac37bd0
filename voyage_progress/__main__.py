from voyage_progress._cli import main

raise SystemExit(main())
