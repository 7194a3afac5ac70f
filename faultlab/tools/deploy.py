"""A fix that is an order of actions, not a setting: "drain, wait, then TERM" as Kubernetes says it.

In Kubernetes the pod leaves the Service's endpoints and gets SIGTERM at the same moment; the ingress
controller learns of the change later. A `preStop` hook runs before the TERM, so `sleep N` keeps the
pod serving while the proxies drop it, which is the lab's `drain` N seconds before its `signal`
(kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination). The grace period counts
the hook: it must cover the sleep and then the app's own graceful stop.
"""

from __future__ import annotations

import yaml

from faultlab.hops import Snippet
from faultlab.hops.base import DEPLOYMENT_FORMAT
from faultlab.model.plan import StepPlan

FORMAT = DEPLOYMENT_FORMAT
TITLE = "Deployment (apps/v1): preStop sleep before SIGTERM"
KUBERNETES_GRACE_S = 30  # terminationGracePeriodSeconds when a pod spec does not say


def drain_gaps(step: StepPlan) -> dict[str, float]:
    """Per hop: the story seconds between a replica's drain and the TERM it then gets, in this step."""
    gaps: dict[str, float] = {}
    for action in step.step.actions:
        if action.do != "signal" or action.sent_signal != "TERM":
            continue
        drains = [a.at for a in step.step.actions if a.do == "drain" and a.hop == action.hop
                  and a.replica == action.replica and a.at <= action.at]
        if drains:
            gaps[action.hop] = max(gaps.get(action.hop, 0.0), action.at - max(drains))
    return gaps


def snippets(step: StepPlan) -> tuple[Snippet, ...]:
    found = []
    for hop, gap in drain_gaps(step).items():
        sleep = max(1, round(gap))
        grace = step.knobs[hop].stop_grace_s()
        grace_s = sleep + round(grace if grace is not None else KUBERNETES_GRACE_S)
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": hop},
            "spec": {
                "selector": {"matchLabels": {"app": hop}},
                "template": {
                    "metadata": {"labels": {"app": hop}},
                    "spec": {
                        "terminationGracePeriodSeconds": grace_s,
                        "containers": [{
                            "name": hop,
                            "image": "your-image",
                            "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(sleep)]}}},
                        }],
                    },
                },
            },
        }
        stop = (f"the app's own bound on its graceful stop ({grace_s - sleep} s)" if grace is not None
                else f"Kubernetes' default grace ({KUBERNETES_GRACE_S} s): the server sets no bound of its own")
        text = (f"# The pod keeps serving {sleep} s after it left the endpoints (the lab's drain-to-TERM gap), then\n"
                f"# gets SIGTERM; the grace period covers the sleep and {stop}.\n"
                "# The lab's drain takes effect at once; in a cluster the endpoint change takes longer to reach\n"
                "# every proxy: sleep longer than it takes there. Merge into your Deployment.\n"
                + yaml.safe_dump(manifest, sort_keys=False))
        found.append(Snippet(FORMAT, hop, TITLE, text))
    return tuple(found)
