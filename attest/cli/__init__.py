"""The ``attest`` command: one module per verb group, one error boundary in :mod:`.main`."""
