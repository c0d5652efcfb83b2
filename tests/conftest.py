"""Shared by every suite: tests/ itself is on sys.path (pytest puts a rootdir conftest's
directory there), so helpers used by more than one suite live beside this file."""

from hypothesis import HealthCheck, settings

# The loopback registries of the spec.updates tests: fixtures oci, pypi, npm.
pytest_plugins = ["registrykit"]

# Property tests check behaviour, not speed: on a loaded CI machine one example descheduled
# past Hypothesis' default 200 ms deadline (or slow generation) fails a run as "flaky".
settings.register_profile("mcpops", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mcpops")
