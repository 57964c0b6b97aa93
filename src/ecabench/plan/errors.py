"""The planning errors: a config or study file that cannot be planned."""


class PlanError(ValueError):
    """A config or study file that cannot be planned; the message names the offending key."""


class TuneError(PlanError):
    """A tuning study or tuning storage that cannot be planned or opened; the message names the key."""
