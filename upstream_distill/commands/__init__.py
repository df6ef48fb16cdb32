"""Command lines that span the library's rooms (the top floor, beside ``benchmark/``).

    pretrain.py     run_pretrain.py: a method of pretrain/ through the one runner
    pipeline.py     a method of several runs (pipeline.yaml: stages, a pruning ladder)

The other two entry points live with what they drive: ``run_downstream.py`` in
``s3prl_bridge/run_downstream.py`` (s3prl's runner) and ``run_benchmark.py`` in
``benchmark/cli.py``.
"""
