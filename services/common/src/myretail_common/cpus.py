"""How many CPUs this process may really use: its affinity, capped by a cgroup CPU quota.

``os.cpu_count()`` (and torch's default thread count) is the node's: in a pod limited to
2 CPUs on a 16-core node, 16 threads would share 2 CPUs' worth of time and be throttled.
Kubernetes turns ``resources.limits.cpu`` into the cgroup's quota (``cpu.max`` in cgroup
v2, ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in v1), which is read here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on at once: at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The cgroup's CPU limit in CPUs (1.5 for a 1500m limit), or None when unlimited."""
    v2 = _read(cgroup_root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return _ratio(quota, period)
    v1_quota = _read(cgroup_root / "cpu" / "cpu.cfs_quota_us")
    v1_period = _read(cgroup_root / "cpu" / "cpu.cfs_period_us")
    if v1_quota is not None and v1_period is not None:
        return _ratio(v1_quota, v1_period)
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    if quota_us <= 0 or period_us <= 0:  # v1 writes -1 for no limit
        return None
    return quota_us / period_us


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
