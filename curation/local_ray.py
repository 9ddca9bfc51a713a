"""Start a Ray for this machine alone: every Ray server listens on the loopback interface only.

A local Ray's GCS, raylet, object manager and workers accept connections from anyone who
reaches their ports, with no authentication (unless ``RAY_AUTH_MODE=token``), and by default
Ray binds them to the machine's network address: anyone on the same network could run code
through them. Ray binds them to the node's address, and a node started on 127.0.0.1 listens on
127.0.0.1 only; but ``ray.init`` rewrites a loopback node address into the machine's network
address unless Ray clusters are switched off (``ray._private.services.get_node_ip_address``
reads ``ray_constants.ENABLE_RAY_CLUSTER``, Ray 2.58). So the switch is turned off for the
start and the result checked: a Ray that came up on another address is shut down again.
Joining a Ray on 127.0.0.1 from another process (``--ray-address 127.0.0.1:PORT``, as the tests
do) needs the same switch, or ``ray.init`` would dial the machine's network address, where
nothing listens (``connect_ray``). A multi-node cluster is joined with ``--ray-address`` instead
(README, "Security").
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Iterator

LOOPBACK = "127.0.0.1"


class LocalRayError(RuntimeError):
    """A local Ray could not be started on the loopback interface."""


@contextlib.contextmanager
def _loopback_node_address() -> Iterator[None]:
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP, ``[::1]`` or ``localhost``) is this machine's loopback interface."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # Python 3.11 does not count an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as loopback.
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def init_local_ray(num_cpus: int | None = None, **kwargs) -> str:  # noqa: ANN003 - ray.init's options
    """``ray.init`` a new local Ray bound to 127.0.0.1, dashboard off; returns its GCS address.

    ``kwargs`` go to ``ray.init`` (``object_store_memory``, ...).
    """
    import ray

    options = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "configure_logging": False,
        **kwargs,
    }
    with _loopback_node_address():
        ray.init(num_cpus=num_cpus, _node_ip_address=LOOPBACK, **options)
    address = ray.get_runtime_context().gcs_address
    if not is_loopback(address.rsplit(":", 1)[0]):
        ray.shutdown()
        raise LocalRayError(
            f"the local Ray came up on {address}, not on {LOOPBACK} (another Ray version?); start one "
            "with token authentication (`RAY_AUTH_MODE=token ray start --head`) and pass --ray-address"
        )
    return address


def connect_ray(address: str) -> None:
    """``ray.init(address=...)`` a running Ray; a loopback one (also found through ``auto`` or
    ``RAY_ADDRESS``) is dialled on the loopback interface it listens on."""
    import ray
    from ray._private import services

    raw = services.get_ray_address_from_environment(address, None) or address
    host = raw.split("://", 1)[-1].rsplit(":", 1)[0]
    loopback = is_loopback(host)
    options = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": False}
    if loopback:
        with _loopback_node_address():
            # No node address: the driver joins whichever node runs here (a `ray start
            # --node-ip-address 127.0.0.1` node registers under the network address).
            ray.init(address=address, **options)
    else:
        ray.init(address=address, **options)
