"""The benchmark command's modes, one entry function each: ``score`` (the default), ``distill_only``,
``tables_only`` and ``compare``; ``cli.py`` picks one from the flags."""
