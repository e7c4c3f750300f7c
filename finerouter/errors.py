"""Exceptions with messages meant for the person running FineRouter."""


class FineRouterError(Exception):
    """Base class: every error FineRouter raises on purpose."""


class DataError(FineRouterError):
    """A routing table or a source file is malformed, empty or inconsistent."""


class ConfigError(FineRouterError):
    """A configuration value is invalid."""


class MissingDependencyError(FineRouterError):
    """An optional package is needed for the configured backend."""

    def __init__(self, package: str, purpose: str, install: str) -> None:
        super().__init__(f"{purpose} needs the package '{package}', which is not installed. Install it with: {install}")
        self.package = package


class InvalidRequestError(FineRouterError):
    """A routing request is invalid: an empty prompt, an unknown model, a cost bound no model meets."""


class ResourceShortfallError(FineRouterError):
    """The Ray cluster has too few free resources for the work asked of it (found by the preflight, before waiting)."""
