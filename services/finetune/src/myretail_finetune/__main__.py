"""``python -m myretail_finetune`` is the ``myretail-finetune`` command."""

from myretail_finetune.cli import main

raise SystemExit(main())
