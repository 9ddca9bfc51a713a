"""The one error type the ``worldfm`` command line and the recipe print without a traceback."""


class UserError(Exception):
    """A problem with the user's input or environment; printed without a traceback."""
