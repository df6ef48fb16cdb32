"""The ground floor: what every room of the package may import, importing none of them.

    paths.py             the shipped configs and teacher, and where work goes (checkout or installed)
    errors.py            the user-facing error types (ConfigError, DataError, ...)
    yaml_config.py       YAML in: _inherit, presets, -o overrides, placeholders, typed sections
    provenance.py        the one digest rule of input files and caches
    torchaudio_import.py ``import torchaudio`` on every install, patching nothing
    atomic_files.py      files that appear whole or not at all (a temporary per process, one rename)
    locks.py             one process at a time in a folder or cache (``flock``, freed when its holder dies)
    faults.py            named kill points for the fault-injection tests (inert unless asked for)

Importing any of these has no side effect on torch, torchaudio or other
modules; the s3prl shims live in the bridge (``s3prl_bridge/compat/``).
"""
