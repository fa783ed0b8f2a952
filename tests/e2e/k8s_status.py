#!/usr/bin/env python3
"""What Kubernetes would conclude from the shippers' readiness.

  k8s_status.py MANIFEST_DIR POD...      POD is NAME:REVISION:HTTP_STATUS

There is no cluster here, so this applies the rules of the Deployment
controller, `kubectl rollout status`, the disruption controller and the
eviction API to deploy/kubernetes's Deployment and PodDisruptionBudget and
to pods whose readiness comes from real shippers: tests/e2e/k8s_health.sh
reads each shipper's /readyz and passes its status code.  The model:

 - A pod is Ready when its readiness probe succeeds (HTTP 200 from
   /readyz; successThreshold 1).  The caller passes a steady answer (it
   waits for it), so failureThreshold's delay does not matter.
 - Deployment status (pkg/controller/deployment): replicas = pods,
   updatedReplicas = pods of REVISION "new", readyReplicas = Ready pods,
   availableReplicas = pods Ready for minReadySeconds (0 here: the Ready
   ones).  Its Available condition is True when availableReplicas >=
   spec.replicas - maxUnavailable (RollingUpdate).
 - `kubectl rollout status` (kubectl's DeploymentStatusViewer), with the
   controller caught up (observedGeneration = generation): waiting while
   updatedReplicas < spec.replicas, while replicas > updatedReplicas (old
   pods pending termination), while availableReplicas < updatedReplicas;
   otherwise "successfully rolled out".  Argo CD's and Flux's health checks
   of a Deployment ask the same questions.
 - A rolling update may stop an old pod only while availableReplicas -1 >=
   spec.replicas - maxUnavailable (maxSurge 1 lets it start one new pod
   beside the old ones first).
 - PodDisruptionBudget (pkg/controller/disruption): desiredHealthy =
   minAvailable, or spec.replicas - maxUnavailable; currentHealthy = Ready
   pods; disruptionsAllowed = max(0, currentHealthy - desiredHealthy).  An
   eviction is allowed when disruptionsAllowed > 0, or for a pod that is not
   Ready under unhealthyPodEvictionPolicy AlwaysAllow.

Prints one line per figure, "name: value", for the test to compare.
"""
import glob
import os
import sys

import yaml


def load(directory, kind):
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        for doc in yaml.safe_load_all(open(path)):
            if doc and doc.get("kind") == kind:
                return doc
    raise SystemExit("no %s in %s" % (kind, directory))


def main():
    directory = sys.argv[1]
    pods = []
    for arg in sys.argv[2:]:
        name, revision, status = arg.split(":")
        pods.append((name, revision, status == "200"))
    deploy = load(directory, "Deployment")
    pdb = load(directory, "PodDisruptionBudget")
    name = deploy["metadata"]["name"]
    want = deploy["spec"]["replicas"]
    rolling = deploy["spec"]["strategy"].get("rollingUpdate", {})
    max_unavailable = int(rolling.get("maxUnavailable", 0))

    replicas = len(pods)
    updated = sum(1 for p in pods if p[1] == "new")
    ready = sum(1 for p in pods if p[2])
    available = ready
    if updated < want:
        rollout = "Waiting for deployment \"%s\" rollout to finish: %d out of %d new replicas have been updated..." % (
            name, updated, want)
    elif replicas > updated:
        rollout = "Waiting for deployment \"%s\" rollout to finish: %d old replicas are pending termination..." % (
            name, replicas - updated)
    elif available < updated:
        rollout = "Waiting for deployment \"%s\" rollout to finish: %d of %d updated replicas are available..." % (
            name, available, updated)
    else:
        rollout = "deployment \"%s\" successfully rolled out" % name

    spec = pdb["spec"]
    desired = spec["minAvailable"] if "minAvailable" in spec else want - int(spec["maxUnavailable"])
    allowed = max(0, ready - desired)
    always = spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
    evictable = [p[0] for p in pods if allowed > 0 or (always and not p[2])]

    print("status: replicas=%d updated=%d ready=%d available=%d" % (replicas, updated, ready, available))
    print("available condition: %s" % (available >= want - max_unavailable))
    print("rollout status: %s" % rollout)
    print("may stop an old pod: %s" % (replicas > updated and available - 1 >= want - max_unavailable))
    print("pdb: disruptionsAllowed=%d" % allowed)
    print("evictable: %s" % (" ".join(evictable) or "none"))


if __name__ == "__main__":
    main()
