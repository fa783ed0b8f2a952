#!/usr/bin/env python3
"""Rules for deploy/kubernetes that a schema cannot express.

  manifest_rules.py MANIFEST_DIR SHIPPER_VERSION

Prints one line per rule, NAME<TAB>EXPECTED<TAB>ACTUAL, for
tests/e2e/deploy_manifests.sh to count with lib.sh's check.  Needs PyYAML.
"""
import glob
import os
import sys

import yaml

SECRET = "outbox-shipper-credentials"
UID = 10001


def load(directory):
    by_kind = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        for doc in yaml.safe_load_all(open(path)):
            if doc:
                by_kind.setdefault(doc["kind"], []).append((os.path.basename(path), doc))
    return by_kind


def one(by_kind, kind):
    (name, doc), = by_kind[kind]
    return doc


def subset(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def main():
    directory, version = sys.argv[1:]
    by_kind = load(directory)
    rules = []

    def rule(name, expected, actual):
        rules.append((name, str(expected), str(actual)))

    deploy = one(by_kind, "Deployment")
    config = one(by_kind, "ConfigMap")["data"]
    service = one(by_kind, "Service")
    pdb = one(by_kind, "PodDisruptionBudget")
    example_secret = one(by_kind, "Secret")
    kustomization = one(by_kind, "Kustomization")
    pod = deploy["spec"]["template"]
    spec = pod["spec"]
    labels = pod["metadata"]["labels"]
    (container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    listen_port = port_of(config["OUTBOX_HTTP_LISTEN"])

    grace = spec["terminationGracePeriodSeconds"]
    drain = int(config["OUTBOX_DRAIN_TIMEOUT"])
    rule("grace period (%d s) exceeds OUTBOX_DRAIN_TIMEOUT (%d s) by at least 10 s" % (grace, drain),
         True, grace >= drain + 10)
    rule("the shipper never creates the slot (failover safety)", "false",
         config.get("OUTBOX_CREATE_SLOT"))
    # Every pod Ready when it can do its job (streaming, or a standby able
    # to take over): a rolling update starts a new pod, waits for it to be
    # Ready as a standby, then stops an old one (tests/e2e/k8s_health.sh).
    strategy = deploy["spec"]["strategy"]
    rule("two replicas, RollingUpdate with maxSurge 1, maxUnavailable 0", "2 RollingUpdate 1 0",
         "%s %s %s %s" % (deploy["spec"]["replicas"], strategy["type"],
                          strategy.get("rollingUpdate", {}).get("maxSurge"),
                          strategy.get("rollingUpdate", {}).get("maxUnavailable")))

    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        probe = container.get(kind, {})
        get = probe.get("httpGet", {})
        rule("%s: GET %s on the named port http-metrics" % (kind, path),
             "%s http-metrics" % path, "%s %s" % (get.get("path"), get.get("port")))
        rule("%s: timeoutSeconds >= 3 (/readyz may take 1.5 s while Kafka is down)" % kind,
             True, probe.get("timeoutSeconds", 1) >= 3)
    rule("container port http-metrics = OUTBOX_HTTP_LISTEN's port", listen_port,
         ports.get("http-metrics"))
    rule("prometheus.io/port annotation = OUTBOX_HTTP_LISTEN's port", str(listen_port),
         pod["metadata"].get("annotations", {}).get("prometheus.io/port"))

    psc = spec.get("securityContext", {})
    csc = container.get("securityContext", {})
    rule("pod: runAsNonRoot, uid/gid 10001, seccomp RuntimeDefault",
         "True %d %d RuntimeDefault" % (UID, UID),
         "%s %s %s %s" % (psc.get("runAsNonRoot"), psc.get("runAsUser"), psc.get("runAsGroup"),
                          psc.get("seccompProfile", {}).get("type")))
    rule("container: runAsNonRoot, uid/gid 10001",
         "True %d %d" % (UID, UID),
         "%s %s %s" % (csc.get("runAsNonRoot"), csc.get("runAsUser"), csc.get("runAsGroup")))
    rule("container: read-only root, no privilege escalation, not privileged",
         "True False False",
         "%s %s %s" % (csc.get("readOnlyRootFilesystem"), csc.get("allowPrivilegeEscalation"),
                       csc.get("privileged", False)))
    rule("container: capabilities drop ALL, add none", "['ALL'] []",
         "%s %s" % (csc.get("capabilities", {}).get("drop"), csc.get("capabilities", {}).get("add", [])))
    rule("no service account token in the pod", False, spec.get("automountServiceAccountToken"))

    res = container.get("resources", {})
    rule("memory and CPU requested, memory limited",
         True, all(k in res.get("requests", {}) for k in ("cpu", "memory"))
         and "memory" in res.get("limits", {}))

    env = {e["name"]: e for e in container.get("env", [])}
    refs = [e["valueFrom"]["secretKeyRef"] for e in env.values()
            if "secretKeyRef" in e.get("valueFrom", {})]
    rule("every secretKeyRef names the Secret %s" % SECRET, SECRET,
         " ".join(sorted({r["name"] for r in refs})))
    rule("PGPASSWORD comes from the Secret (libpq ignores a group-readable password file)",
         "PGPASSWORD", " ".join(sorted(name for name, e in env.items()
                                       if "secretKeyRef" in e.get("valueFrom", {}))))
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = [m for m in container.get("volumeMounts", [])
              if volumes.get(m["name"], {}).get("secret", {}).get("secretName") == SECRET]
    rule("the Secret is mounted once, read-only", "1 True",
         "%d %s" % (len(mounts), all(m.get("readOnly") for m in mounts)))
    mount = mounts[0]["mountPath"] if mounts else "(none)"
    secret_volume = volumes[mounts[0]["name"]]["secret"] if mounts else {}
    rule("its files: mode 0440, group fsGroup %d (the shipper's group reads them)" % UID,
         "0o440 %d" % UID, "%s %s" % (oct(secret_volume.get("defaultMode", 0o644)), psc.get("fsGroup")))
    rule("Kafka SASL username and password are read from the Secret's files",
         "%s/kafka-sasl-password %s/kafka-sasl-username" % (mount, mount),
         " ".join(sorted(env.get(n, {}).get("value", "") for n in
                         ("OUTBOX_KAFKA_SASL_USERNAME_FILE", "OUTBOX_KAFKA_SASL_PASSWORD_FILE"))))
    used = {r["key"] for r in refs} | {env[n]["value"].rsplit("/", 1)[1] for n in env
                                       if n.endswith("_FILE") and env[n].get("value", "").startswith(mount + "/")}
    rule("the keys the Deployment reads are the example Secret's keys",
         " ".join(sorted(example_secret["stringData"])), " ".join(sorted(used)))
    rule("no secret value in the environment (only references and file paths)", "",
         " ".join(name for name, e in env.items() if ("PASSWORD" in name or "SASL_USERNAME" in name)
                  and "valueFrom" not in e and not name.endswith("_FILE")))
    rule("no secret in the ConfigMap", "",
         " ".join(k for k in config if "PASSWORD" in k or "SASL_USERNAME" in k))
    rule("envFrom the ConfigMap", one(by_kind, "ConfigMap")["metadata"]["name"],
         " ".join(s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s))

    rule("selectors name the app and the instance (as the Helm chart's do)",
         "app.kubernetes.io/instance=outbox-shipper app.kubernetes.io/name=outbox-shipper",
         " ".join("%s=%s" % kv for kv in sorted(deploy["spec"]["selector"]["matchLabels"].items())))
    rule("Deployment selector matches the pod labels", True,
         subset(deploy["spec"]["selector"]["matchLabels"], labels))
    rule("Service selector matches the pod labels", True, subset(service["spec"]["selector"], labels))
    rule("PDB selector matches the pod labels", True,
         subset(pdb["spec"]["selector"]["matchLabels"], labels))
    rule("metrics Service: headless, publishes not-ready pods", "None True",
         "%s %s" % (service["spec"].get("clusterIP"), service["spec"].get("publishNotReadyAddresses")))
    (sport,) = service["spec"]["ports"]
    rule("metrics Service: port %d to the named container port" % listen_port,
         "%d http-metrics" % listen_port, "%s %s" % (sport["port"], sport["targetPort"]))
    rule("PDB: maxUnavailable 1, unhealthyPodEvictionPolicy AlwaysAllow", "1 AlwaysAllow",
         "%s %s" % (pdb["spec"].get("maxUnavailable"), pdb["spec"].get("unhealthyPodEvictionPolicy")))

    manifests = {name for kind, docs in by_kind.items() for name, doc in docs
                 if kind not in ("Kustomization", "Secret")}
    rule("kustomization lists every manifest but the example Secret",
         " ".join(sorted(manifests)), " ".join(sorted(kustomization["resources"])))
    rule("no manifest names a namespace", "",
         " ".join(name for docs in by_kind.values() for name, doc in docs
                  if "namespace" in doc.get("metadata", {})))
    (img,) = kustomization["images"]
    rule("image: outbox-shipper at the shipper's version, in the Deployment and kustomization",
         "outbox-shipper:%s outbox-shipper:%s" % (version, version),
         "%s %s:%s" % (container["image"], img["name"], img["newTag"]))

    for name, expected, actual in rules:
        print("%s\t%s\t%s" % (name, expected, actual))


if __name__ == "__main__":
    main()
