"""Adapters to AWS: the only package that imports boto3/botocore.

Each adapter module declares the IAM actions it calls in a module-level ``PERMISSIONS`` tuple
and translates botocore errors into :mod:`keyrotate.domain.errors` where they cross into our
code.
"""
