"""Adapters to AWS: the only package that imports boto3/botocore.

Each adapter module declares the IAM actions it calls in a module-level ``PERMISSIONS`` tuple
and translates botocore errors into :mod:`keyrotate.domain.errors` where they cross into our
code.
"""

from keyrotate.logredact import pin_wire_loggers

# The SDK's wire loggers write request and response bodies (new secret access keys among
# them) at DEBUG. Held at INFO wherever this package is used, whoever set up logging: the CLI,
# the Lambda handlers, the demo or a test (keyrotate.logredact).
pin_wire_loggers()
