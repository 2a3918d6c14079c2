"""Region names and their partitions, from botocore's bundled endpoint data (no network call).

A region name is "known" when botocore lists it in ``endpoints.json`` or ``partitions.json``
for any partition (aws, aws-cn, aws-us-gov, and the isolated ones). The ``*-global``
pseudo-regions are not regions a person can deploy to and are left out.

It only reads the data files botocore ships (no client, no call), so configuration can reject
``us-esat-1`` before any AWS call.

    >>> partition_for_region("us-gov-west-1")
    'aws-us-gov'
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from botocore.exceptions import DataNotFoundError
from botocore.loaders import create_loader

from keyrotate.domain.errors import InputError


@cache
def _partition_data() -> tuple[dict[str, str], tuple[tuple[str, re.Pattern[str]], ...]]:
    """(region -> partition, ((partition, region regex), ...)) from both botocore data files."""
    loader = create_loader()
    region_partition: dict[str, str] = {}
    patterns: list[tuple[str, re.Pattern[str]]] = []
    endpoints: dict[str, Any] = loader.load_data("endpoints")
    for partition in endpoints["partitions"]:
        name = partition["partition"]
        for region in partition.get("regions", {}):
            region_partition.setdefault(region, name)
        if partition.get("regionRegex"):
            patterns.append((name, re.compile(partition["regionRegex"])))
    try:
        partitions: dict[str, Any] = loader.load_data("partitions")
    except DataNotFoundError:  # older botocore has no partitions.json; endpoints suffice
        partitions = {"partitions": []}
    for partition in partitions["partitions"]:
        for region in partition.get("regions", {}):
            if not region.endswith("-global"):
                region_partition.setdefault(region, partition["id"])
    return region_partition, tuple(patterns)


def known_regions() -> frozenset[str]:
    """Every region name botocore knows, across all partitions."""
    return frozenset(_partition_data()[0])


def is_known_region(region: str) -> bool:
    return region in _partition_data()[0]


def partition_for_region(region: str) -> str:
    """The partition ('aws', 'aws-cn', 'aws-us-gov', ...) a region belongs to.

    A region newer than the installed botocore still maps by the partition's region pattern,
    so ARNs can be built for it; an unrecognisable name is an :class:`InputError`.
    """
    by_region, patterns = _partition_data()
    if region in by_region:
        return by_region[region]
    for partition, pattern in patterns:
        if pattern.fullmatch(region):
            return partition
    raise InputError("region", region, "use an AWS region name such as 'us-east-1'")
