"""The project's s3prl upstreams, one folder each in s3prl's shape (hubconf.py, expert.py).

Every public function of `<folder>/hubconf.py` becomes an `s3prl.hub` entry, so
`run_downstream.py -u <function>` and the benchmark accept it
(see upstream_distill.s3prl_bridge.hub).
"""
