"""keyrotate: rotate AWS IAM user access keys across an AWS Organization.

The public surface is small: the pure lifecycle engine in :mod:`keyrotate.domain`, the
validated configuration in :mod:`keyrotate.config`, and the ``keyrotate`` command line.
"""

__version__ = "0.1.0"
