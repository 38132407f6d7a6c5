"""Machinery, not API: what the package runs on, which no user should import.

- :mod:`attest._internal.memo`: bounded caches found again by identity;
- :mod:`attest._internal.lazy`: a package's names imported on first use (PEP 562);
- :mod:`attest._internal.wirevalues`: timestamps and trusted model instances (compiled);
- :mod:`attest._internal.sightings`: the in-memory state's common replay-and-chain record (compiled);
- :mod:`attest._internal.native`: which modules are compiled, and loading them only when current.

Machinery that belongs to one subpackage stays there in a ``_``-prefixed module, so that the
subpackage is initialised before it: the audit's worker processes are
:mod:`attest.audit._parallel` (a module here importing ``attest.audit.analytics`` would import
``attest.audit`` first, which imports the workers: a cycle that kills a spawned worker).

Anything here may change in any release; the documented API is README's "The Python API".
"""
