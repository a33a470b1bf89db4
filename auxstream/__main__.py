from auxstream.cli import main

raise SystemExit(main())
