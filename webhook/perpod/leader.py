"""Edge: leader election for the per-pod controller on a ``coordination.k8s.io/v1`` Lease, so two
replicas can run and exactly one acts.

The algorithm is client-go's (tools/leaderelection): a candidate takes the Lease when nobody holds
it or when the holder's record has not changed for ``lease_seconds`` *as this candidate observed
it* (local monotonic time, so clocks that disagree between nodes do not matter); the leader renews
every ``retry_seconds`` and gives up leading when it could not renew for ``renew_deadline_seconds``
(below the lease duration, so it stops before anyone else may start); on stop it releases the Lease
(empty holder), so a successor need not wait out the lease. Every write carries the
resourceVersion read, so two candidates cannot both win.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

log = logging.getLogger(__name__)

LEASE_NAME = "stsmesh-per-pod-controller"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        identity: str,
        *,
        name: str = LEASE_NAME,
        lease_seconds: float = 15.0,
        renew_deadline_seconds: float = 10.0,
        retry_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not retry_seconds < renew_deadline_seconds < lease_seconds:
            raise ValueError("leader election needs retry < renew deadline < lease duration")
        self.coordination = client.CoordinationV1Api(api)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_seconds, self.renew_deadline, self.retry = lease_seconds, renew_deadline_seconds, retry_seconds
        self.clock = clock
        self._observed: tuple[str, str] | None = None
        """The holder and renewTime last seen, and (below) when this candidate saw them change."""
        self._observed_at = 0.0
        self.leading = False

    def run(self, stop: threading.Event, lead: Callable[[threading.Event], None]) -> None:
        """Until ``stop``: wait to be leader, then ``lead(lost)`` in a thread, ``lost`` being set
        when leadership is lost or ``stop`` is; stand again after a loss. Releases on stop."""
        while not stop.is_set():
            if not self._try(acquire=True):
                stop.wait(self.retry)
                continue
            log.info("%s leads (Lease %s/%s)", self.identity, self.namespace, self.name)
            self.leading = True
            lost = threading.Event()
            worker = threading.Thread(target=lead, args=(lost,), name="per-pod-leader", daemon=True)
            worker.start()
            renewed = self.clock()
            while not stop.wait(self.retry):
                if self._try(acquire=False):
                    renewed = self.clock()
                elif self.clock() - renewed > self.renew_deadline:
                    log.warning("%s could not renew the Lease for %.0f s: no longer leading", self.identity,
                                self.renew_deadline)  # fmt: skip
                    break
            lost.set()
            worker.join(timeout=30)
            self.leading = False
            if stop.is_set():
                self._release()

    def _try(self, *, acquire: bool) -> bool:
        """One attempt to take (or keep) the Lease; False on any refusal or error."""
        try:
            lease = self._read()
            now = _now()
            if lease is None:
                if not acquire:
                    return False
                body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace},
                        "spec": self._spec(now, now, transitions=0)}  # fmt: skip
                self.coordination.create_namespaced_lease(self.namespace, cast(Any, body), _preload_content=False)
                return True
            spec = lease.get("spec") or {}
            holder = str(spec.get("holderIdentity") or "")
            record = (holder, str(spec.get("renewTime") or ""))
            if record != self._observed:
                self._observed, self._observed_at = record, self.clock()
            duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
            expired = self.clock() - self._observed_at > duration
            if holder and holder != self.identity and not expired:
                return False
            if holder != self.identity and not acquire:
                return False
            transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
            acquired = spec.get("acquireTime") if holder == self.identity else now
            lease["spec"] = self._spec(str(acquired or now), now, transitions)
            self.coordination.replace_namespaced_lease(self.name, self.namespace, cast(Any, lease),
                                                       _preload_content=False)  # fmt: skip
            self._observed, self._observed_at = (self.identity, now), self.clock()
            return True
        except ApiException as exc:
            if exc.status not in (409, 404):  # 409/404: another candidate moved first
                log.warning("Lease %s/%s: %s %s", self.namespace, self.name, exc.status, exc.reason)
            return False
        except (Urllib3Error, OSError) as exc:
            log.warning("Lease %s/%s: the API server is unreachable (%s)", self.namespace, self.name,
                        type(exc).__name__)  # fmt: skip
            return False

    def _spec(self, acquired: str, renewed: str, transitions: int) -> dict[str, Any]:
        return {"holderIdentity": self.identity, "leaseDurationSeconds": max(1, round(self.lease_seconds)),
                "acquireTime": acquired, "renewTime": renewed, "leaseTransitions": transitions}  # fmt: skip

    def _read(self) -> dict[str, Any] | None:
        try:
            response: Any = self.coordination.read_namespaced_lease(self.name, self.namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(response.data)
        return data

    def _release(self) -> None:
        """Hand the Lease back (client-go's ReleaseOnCancel): an empty holder, one-second duration."""
        try:
            lease = self._read()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"].update(holderIdentity="", leaseDurationSeconds=1, renewTime=_now())
            self.coordination.replace_namespaced_lease(self.name, self.namespace, cast(Any, lease),
                                                       _preload_content=False)  # fmt: skip
            log.info("%s released the Lease", self.identity)
        except (ApiException, Urllib3Error, OSError) as exc:
            log.warning("could not release the Lease (%s): the next leader waits it out", type(exc).__name__)
