"""Shared by every suite: tests/ itself is on sys.path (pytest puts a rootdir conftest's
directory there), so helpers used by more than one suite live beside this file."""

# The loopback registries of the spec.updates tests: fixtures oci, pypi, npm.
pytest_plugins = ["registrykit"]
