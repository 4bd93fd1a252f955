#!/usr/bin/env python3
"""Offline structural checks of rendered Kubernetes manifests (`helm template` output).

No cluster and no downloaded schemas: the field tables below are written from the Kubernetes API
reference (v1.31: core/v1, apps/v1, policy/v1, autoscaling/v2, networking.k8s.io/v1) and the CRD
references of prometheus-operator (monitoring.coreos.com/v1) and KEDA (keda.sh/v1alpha1), for the
kinds the capillary-bridge chart renders. A field a table does not know is an error, as with
`kubectl apply --validate=strict`; a kind it does not know is an error too.

On top of the field types it checks what makes a release work: names are DNS-1123, the
Deployment's selector matches its pod labels, every volumeMount has a volume, every ConfigMap or
Secret a pod references is rendered (or named with --external-secret), Service, PDB, monitors,
HPA and ScaledObject select or target the Deployment, and the bridge config in the ConfigMap
agrees with the pod (metrics port, mounted secret files, grace period longer than the drain).
With two workloads (the bridge and the webhook receiver) each pod belongs to one: no Deployment's
selector matches the other's pods, and no Service, PDB or monitor selects both. An Ingress routes
to a rendered Service's port, never its metrics port; the receiver's config listens on a
container port and its grace period outlasts the preStop sleep plus the shutdown deadline.

Usage:
  check_manifests.py [--external-secret NAME]… [--expect KIND]… [--forbid KIND]… FILE…
  check_manifests.py --self-test FILE     # breaks FILE's objects on purpose; each must be caught
Exit status 0 when every file is clean, 1 otherwise.
"""

import argparse
import base64
import copy
import json
import math
import re
import sys

import yaml

# ---------------------------------------------------------------------------------------------
# Names and values

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
QUANTITY = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
DURATION = re.compile(r"^(0|([0-9]+(ms|s|m|h|d|w|y))+)$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

QUANTITY_FACTORS = {
    "": 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
    "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def quantity_value(q):
    """A resource.Quantity as a float (for comparing requests with limits)."""
    if isinstance(q, (int, float)) and not isinstance(q, bool):
        return float(q)
    m = re.match(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$", q)
    number, suffix = float(m.group(1)), m.group(2)
    if suffix in QUANTITY_FACTORS:
        return number * QUANTITY_FACTORS[suffix]
    return number * 10 ** int(suffix[1:])  # decimal exponent, e.g. 1e3


def duration_seconds(d):
    """A Prometheus duration such as 1m30s in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", d))


def label_key_ok(key):
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(LABEL_NAME.match(name))


# ---------------------------------------------------------------------------------------------
# Field tables. A spec is one of:
#   "string" "integer" "boolean" "number" "int-or-string" "quantity" "duration" "any"
#   "labels" (map of label key -> label value) "strmap" (map of string -> string) "base64map"
#   ("list", spec)  ("map", spec)  ("enum", [values])
#   Struct(fields={name: spec}, required=[...])

class Struct:
    def __init__(self, fields, required=(), one_of=None, name=""):
        self.fields = fields
        self.required = tuple(required)
        self.one_of = one_of  # at most / exactly one of these fields (exactly when one_of[1])
        self.name = name


ANY = "any"

LABEL_SELECTOR = Struct({
    "matchLabels": "labels",
    "matchExpressions": ("list", Struct({"key": "string", "operator": ("enum", ["In", "NotIn", "Exists", "DoesNotExist"]),
                                         "values": ("list", "string")}, required=["key", "operator"])),
}, name="LabelSelector")

OWNER_REFERENCE = Struct({"apiVersion": "string", "kind": "string", "name": "string", "uid": "string",
                          "controller": "boolean", "blockOwnerDeletion": "boolean"},
                         required=["apiVersion", "kind", "name", "uid"])

OBJECT_META = Struct({
    "name": "string", "generateName": "string", "namespace": "string", "labels": "labels",
    "annotations": "strmap", "finalizers": ("list", "string"), "ownerReferences": ("list", OWNER_REFERENCE),
}, name="ObjectMeta")

KEY_TO_PATH = Struct({"key": "string", "path": "string", "mode": "integer"}, required=["key", "path"])

EXEC_ACTION = Struct({"command": ("list", "string")})
HTTP_GET = Struct({
    "host": "string", "path": "string", "port": "int-or-string", "scheme": ("enum", ["HTTP", "HTTPS"]),
    "httpHeaders": ("list", Struct({"name": "string", "value": "string"}, required=["name", "value"])),
}, required=["port"])
TCP_SOCKET = Struct({"host": "string", "port": "int-or-string"}, required=["port"])
GRPC_ACTION = Struct({"port": "integer", "service": "string"}, required=["port"])
PROBE = Struct({
    "exec": EXEC_ACTION, "httpGet": HTTP_GET, "tcpSocket": TCP_SOCKET, "grpc": GRPC_ACTION,
    "initialDelaySeconds": "integer", "periodSeconds": "integer", "timeoutSeconds": "integer",
    "successThreshold": "integer", "failureThreshold": "integer", "terminationGracePeriodSeconds": "integer",
}, one_of=(("exec", "httpGet", "tcpSocket", "grpc"), True), name="Probe")
LIFECYCLE_HANDLER = Struct({"exec": EXEC_ACTION, "httpGet": HTTP_GET, "tcpSocket": TCP_SOCKET,
                            "sleep": Struct({"seconds": "integer"}, required=["seconds"])},
                           one_of=(("exec", "httpGet", "tcpSocket", "sleep"), True))
LIFECYCLE = Struct({"postStart": LIFECYCLE_HANDLER, "preStop": LIFECYCLE_HANDLER, "stopSignal": "string"})

SECCOMP = Struct({"type": ("enum", ["RuntimeDefault", "Localhost", "Unconfined"]), "localhostProfile": "string"},
                 required=["type"])
APPARMOR = Struct({"type": ("enum", ["RuntimeDefault", "Localhost", "Unconfined"]), "localhostProfile": "string"},
                  required=["type"])
SELINUX = Struct({"level": "string", "role": "string", "type": "string", "user": "string"})
WINDOWS = Struct({"gmsaCredentialSpec": "string", "gmsaCredentialSpecName": "string", "hostProcess": "boolean",
                  "runAsUserName": "string"})
SECURITY_CONTEXT = Struct({
    "allowPrivilegeEscalation": "boolean", "appArmorProfile": APPARMOR,
    "capabilities": Struct({"add": ("list", "string"), "drop": ("list", "string")}),
    "privileged": "boolean", "procMount": ("enum", ["Default", "Unmasked"]), "readOnlyRootFilesystem": "boolean",
    "runAsGroup": "integer", "runAsNonRoot": "boolean", "runAsUser": "integer", "seLinuxOptions": SELINUX,
    "seccompProfile": SECCOMP, "windowsOptions": WINDOWS,
}, name="SecurityContext")
POD_SECURITY_CONTEXT = Struct({
    "appArmorProfile": APPARMOR, "fsGroup": "integer",
    "fsGroupChangePolicy": ("enum", ["OnRootMismatch", "Always"]), "runAsGroup": "integer",
    "runAsNonRoot": "boolean", "runAsUser": "integer", "seLinuxChangePolicy": "string", "seLinuxOptions": SELINUX,
    "seccompProfile": SECCOMP, "supplementalGroups": ("list", "integer"),
    "supplementalGroupsPolicy": ("enum", ["Merge", "Strict"]),
    "sysctls": ("list", Struct({"name": "string", "value": "string"}, required=["name", "value"])),
    "windowsOptions": WINDOWS,
}, name="PodSecurityContext")

RESOURCES = Struct({"limits": ("map", "quantity"), "requests": ("map", "quantity"),
                    "claims": ("list", Struct({"name": "string", "request": "string"}, required=["name"]))},
                   name="ResourceRequirements")

KEY_SELECTOR = Struct({"name": "string", "key": "string", "optional": "boolean"}, required=["key"])
ENV_VAR = Struct({
    "name": "string", "value": "string",
    "valueFrom": Struct({
        "configMapKeyRef": KEY_SELECTOR, "secretKeyRef": KEY_SELECTOR,
        "fieldRef": Struct({"apiVersion": "string", "fieldPath": "string"}, required=["fieldPath"]),
        "resourceFieldRef": Struct({"containerName": "string", "divisor": "quantity", "resource": "string"},
                                   required=["resource"]),
    }, one_of=(("configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef"), True)),
}, required=["name"], name="EnvVar")
ENV_FROM = Struct({"prefix": "string",
                   "configMapRef": Struct({"name": "string", "optional": "boolean"}),
                   "secretRef": Struct({"name": "string", "optional": "boolean"})},
                  one_of=(("configMapRef", "secretRef"), True))

CONTAINER_PORT = Struct({"containerPort": "integer", "hostIP": "string", "hostPort": "integer", "name": "string",
                         "protocol": ("enum", ["TCP", "UDP", "SCTP"])}, required=["containerPort"])
VOLUME_MOUNT = Struct({"name": "string", "mountPath": "string", "readOnly": "boolean", "subPath": "string",
                       "subPathExpr": "string", "mountPropagation": ("enum", ["None", "HostToContainer", "Bidirectional"]),
                       "recursiveReadOnly": ("enum", ["Disabled", "IfPossible", "Enabled"])},
                      required=["name", "mountPath"])
CONTAINER = Struct({
    "name": "string", "image": "string", "imagePullPolicy": ("enum", ["Always", "IfNotPresent", "Never"]),
    "command": ("list", "string"), "args": ("list", "string"), "workingDir": "string",
    "ports": ("list", CONTAINER_PORT), "env": ("list", ENV_VAR), "envFrom": ("list", ENV_FROM),
    "resources": RESOURCES, "resizePolicy": ("list", ANY), "restartPolicy": "string",
    "volumeMounts": ("list", VOLUME_MOUNT), "volumeDevices": ("list", ANY),
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE, "lifecycle": LIFECYCLE,
    "terminationMessagePath": "string", "terminationMessagePolicy": ("enum", ["File", "FallbackToLogsOnError"]),
    "securityContext": SECURITY_CONTEXT, "stdin": "boolean", "stdinOnce": "boolean", "tty": "boolean",
}, required=["name"], name="Container")

VOLUME = Struct({
    "name": "string",
    "configMap": Struct({"name": "string", "items": ("list", KEY_TO_PATH), "defaultMode": "integer",
                         "optional": "boolean"}),
    "secret": Struct({"secretName": "string", "items": ("list", KEY_TO_PATH), "defaultMode": "integer",
                      "optional": "boolean"}),
    "emptyDir": Struct({"medium": ("enum", ["", "Memory"]), "sizeLimit": "quantity"}),
    "projected": ANY, "persistentVolumeClaim": ANY, "downwardAPI": ANY, "csi": ANY, "ephemeral": ANY,
    "hostPath": ANY, "nfs": ANY, "image": ANY,
}, required=["name"], one_of=(("configMap", "secret", "emptyDir", "projected", "persistentVolumeClaim",
                               "downwardAPI", "csi", "ephemeral", "hostPath", "nfs", "image"), True), name="Volume")

TOLERATION = Struct({"key": "string", "operator": ("enum", ["Exists", "Equal"]), "value": "string",
                     "effect": ("enum", ["", "NoSchedule", "PreferNoSchedule", "NoExecute"]),
                     "tolerationSeconds": "integer"})
TOPOLOGY_SPREAD = Struct({"maxSkew": "integer", "topologyKey": "string",
                          "whenUnsatisfiable": ("enum", ["DoNotSchedule", "ScheduleAnyway"]),
                          "labelSelector": LABEL_SELECTOR, "matchLabelKeys": ("list", "string"),
                          "minDomains": "integer", "nodeAffinityPolicy": "string", "nodeTaintsPolicy": "string"},
                         required=["maxSkew", "topologyKey", "whenUnsatisfiable"])
POD_SPEC = Struct({
    "activeDeadlineSeconds": "integer", "affinity": ANY, "automountServiceAccountToken": "boolean",
    "containers": ("list", CONTAINER), "initContainers": ("list", CONTAINER), "ephemeralContainers": ("list", ANY),
    "dnsConfig": ANY, "dnsPolicy": ("enum", ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]),
    "enableServiceLinks": "boolean", "hostAliases": ("list", ANY), "hostIPC": "boolean", "hostNetwork": "boolean",
    "hostPID": "boolean", "hostUsers": "boolean", "hostname": "string",
    "imagePullSecrets": ("list", Struct({"name": "string"})), "nodeName": "string", "nodeSelector": "strmap",
    "os": Struct({"name": ("enum", ["linux", "windows"])}, required=["name"]), "overhead": ("map", "quantity"),
    "preemptionPolicy": "string", "priority": "integer", "priorityClassName": "string",
    "readinessGates": ("list", ANY), "resourceClaims": ("list", ANY), "resources": RESOURCES,
    "restartPolicy": ("enum", ["Always", "OnFailure", "Never"]), "runtimeClassName": "string",
    "schedulerName": "string", "schedulingGates": ("list", ANY), "securityContext": POD_SECURITY_CONTEXT,
    "serviceAccount": "string", "serviceAccountName": "string", "setHostnameAsFQDN": "boolean",
    "shareProcessNamespace": "boolean", "subdomain": "string", "terminationGracePeriodSeconds": "integer",
    "tolerations": ("list", TOLERATION), "topologySpreadConstraints": ("list", TOPOLOGY_SPREAD),
    "volumes": ("list", VOLUME),
}, required=["containers"], name="PodSpec")

DEPLOYMENT_SPEC = Struct({
    "replicas": "integer", "selector": LABEL_SELECTOR,
    "template": Struct({"metadata": OBJECT_META, "spec": POD_SPEC}, required=["spec"]),
    "strategy": Struct({"type": ("enum", ["RollingUpdate", "Recreate"]),
                        "rollingUpdate": Struct({"maxSurge": "int-or-string", "maxUnavailable": "int-or-string"})}),
    "minReadySeconds": "integer", "revisionHistoryLimit": "integer", "progressDeadlineSeconds": "integer",
    "paused": "boolean",
}, required=["selector", "template"], name="DeploymentSpec")

JOB_SPEC = Struct({
    "activeDeadlineSeconds": "integer", "backoffLimit": "integer", "backoffLimitPerIndex": "integer",
    "completionMode": ("enum", ["NonIndexed", "Indexed"]), "completions": "integer",
    "manualSelector": "boolean", "maxFailedIndexes": "integer", "parallelism": "integer",
    "podFailurePolicy": ANY, "podReplacementPolicy": "string", "selector": LABEL_SELECTOR,
    "suspend": "boolean", "ttlSecondsAfterFinished": "integer",
    "template": Struct({"metadata": OBJECT_META, "spec": POD_SPEC}, required=["spec"]),
}, required=["template"], name="JobSpec")

SERVICE_SPEC = Struct({
    "type": ("enum", ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]),
    "selector": "strmap",
    "ports": ("list", Struct({"name": "string", "port": "integer", "targetPort": "int-or-string",
                              "protocol": ("enum", ["TCP", "UDP", "SCTP"]), "nodePort": "integer",
                              "appProtocol": "string"}, required=["port"])),
    "clusterIP": "string", "clusterIPs": ("list", "string"), "externalIPs": ("list", "string"),
    "externalName": "string", "externalTrafficPolicy": ("enum", ["Cluster", "Local"]),
    "internalTrafficPolicy": ("enum", ["Cluster", "Local"]), "healthCheckNodePort": "integer",
    "ipFamilies": ("list", "string"), "ipFamilyPolicy": "string", "loadBalancerClass": "string",
    "loadBalancerIP": "string", "loadBalancerSourceRanges": ("list", "string"),
    "allocateLoadBalancerNodePorts": "boolean", "publishNotReadyAddresses": "boolean",
    "sessionAffinity": ("enum", ["ClientIP", "None"]), "sessionAffinityConfig": ANY,
    "trafficDistribution": "string",
}, name="ServiceSpec")

HPA_BEHAVIOR_RULE = Struct({
    "stabilizationWindowSeconds": "integer", "selectPolicy": ("enum", ["Max", "Min", "Disabled"]),
    "tolerance": "quantity",
    "policies": ("list", Struct({"type": ("enum", ["Pods", "Percent"]), "value": "integer",
                                 "periodSeconds": "integer"}, required=["type", "value", "periodSeconds"])),
})
HPA_BEHAVIOR = Struct({"scaleUp": HPA_BEHAVIOR_RULE, "scaleDown": HPA_BEHAVIOR_RULE})
METRIC_TARGET = Struct({"type": ("enum", ["Utilization", "Value", "AverageValue"]), "averageUtilization": "integer",
                        "averageValue": "quantity", "value": "quantity"}, required=["type"])
METRIC_SPEC = Struct({
    "type": ("enum", ["Resource", "ContainerResource", "Pods", "Object", "External"]),
    "resource": Struct({"name": "string", "target": METRIC_TARGET}, required=["name", "target"]),
    "containerResource": Struct({"name": "string", "container": "string", "target": METRIC_TARGET},
                                required=["name", "container", "target"]),
    "pods": ANY, "object": ANY, "external": ANY,
}, required=["type"])
CROSS_VERSION_REF = Struct({"apiVersion": "string", "kind": "string", "name": "string"}, required=["kind", "name"])
HPA_SPEC = Struct({
    "scaleTargetRef": CROSS_VERSION_REF, "minReplicas": "integer", "maxReplicas": "integer",
    "metrics": ("list", METRIC_SPEC), "behavior": HPA_BEHAVIOR,
}, required=["scaleTargetRef", "maxReplicas"])

PDB_SPEC = Struct({"minAvailable": "int-or-string", "maxUnavailable": "int-or-string", "selector": LABEL_SELECTOR,
                   "unhealthyPodEvictionPolicy": ("enum", ["IfHealthyBudget", "AlwaysAllow"])},
                  one_of=(("minAvailable", "maxUnavailable"), False))

RELABEL = Struct({
    "sourceLabels": ("list", "string"), "separator": "string", "targetLabel": "string", "regex": "string",
    "modulus": "integer", "replacement": "string",
    "action": ("enum", ["replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod", "labelmap",
                        "LabelMap", "labeldrop", "LabelDrop", "labelkeep", "LabelKeep", "lowercase", "Lowercase",
                        "uppercase", "Uppercase", "keepequal", "KeepEqual", "dropequal", "DropEqual"]),
})
SCRAPE_ENDPOINT_FIELDS = {
    "port": "string", "portNumber": "integer", "targetPort": "int-or-string", "path": "string",
    "scheme": ("enum", ["http", "https", "HTTP", "HTTPS"]),
    "params": ("map", ("list", "string")), "interval": "duration", "scrapeTimeout": "duration",
    "tlsConfig": ANY, "bearerTokenFile": "string", "bearerTokenSecret": ANY, "authorization": ANY,
    "honorLabels": "boolean", "honorTimestamps": "boolean", "trackTimestampsStaleness": "boolean",
    "basicAuth": ANY, "oauth2": ANY, "metricRelabelings": ("list", RELABEL), "relabelings": ("list", RELABEL),
    "proxyUrl": "string", "followRedirects": "boolean", "enableHttp2": "boolean", "filterRunning": "boolean",
    "noProxy": "string", "proxyFromEnvironment": "boolean", "proxyConnectHeader": ANY,
}
NAMESPACE_SELECTOR = Struct({"any": "boolean", "matchNames": ("list", "string")})
MONITOR_COMMON = {
    "jobLabel": "string", "namespaceSelector": NAMESPACE_SELECTOR, "selector": LABEL_SELECTOR,
    "sampleLimit": "integer", "targetLimit": "integer", "labelLimit": "integer", "labelNameLengthLimit": "integer",
    "labelValueLengthLimit": "integer", "keepDroppedTargets": "integer", "attachMetadata": ANY,
    "scrapeProtocols": ("list", "string"), "scrapeClass": "string", "fallbackScrapeProtocol": "string",
    "selectorMechanism": ("enum", ["RelabelConfig", "RoleSelector"]),
}
SERVICE_MONITOR_SPEC = Struct(dict(MONITOR_COMMON, **{
    "endpoints": ("list", Struct(SCRAPE_ENDPOINT_FIELDS)), "targetLabels": ("list", "string"),
    "podTargetLabels": ("list", "string"),
}), required=["selector"])
POD_MONITOR_SPEC = Struct(dict(MONITOR_COMMON, **{
    "podMetricsEndpoints": ("list", Struct(SCRAPE_ENDPOINT_FIELDS)), "podTargetLabels": ("list", "string"),
}), required=["selector"])
RULE = Struct({"alert": "string", "record": "string", "expr": "int-or-string", "for": "duration",
               "keep_firing_for": "duration", "labels": "strmap", "annotations": "strmap"},
              required=["expr"], one_of=(("alert", "record"), True))
PROMETHEUS_RULE_SPEC = Struct({
    "groups": ("list", Struct({"name": "string", "interval": "duration", "rules": ("list", RULE),
                               "partial_response_strategy": "string", "limit": "integer",
                               "query_offset": "duration", "labels": "strmap"}, required=["name"])),
})
SCALED_OBJECT_SPEC = Struct({
    "scaleTargetRef": Struct({"apiVersion": "string", "kind": "string", "name": "string",
                              "envSourceContainerName": "string"}, required=["name"]),
    "pollingInterval": "integer", "cooldownPeriod": "integer", "initialCooldownPeriod": "integer",
    "idleReplicaCount": "integer", "minReplicaCount": "integer", "maxReplicaCount": "integer",
    "fallback": Struct({"failureThreshold": "integer", "replicas": "integer", "behavior": "string"},
                       required=["failureThreshold", "replicas"]),
    "advanced": Struct({
        "restoreToOriginalReplicaCount": "boolean",
        "horizontalPodAutoscalerConfig": Struct({"name": "string", "behavior": HPA_BEHAVIOR}),
        "scalingModifiers": ANY,
    }),
    "triggers": ("list", Struct({"type": "string", "name": "string", "metadata": "strmap",
                                 "authenticationRef": Struct({"name": "string", "kind": ("enum", ["TriggerAuthentication", "ClusterTriggerAuthentication"])},
                                                             required=["name"]),
                                 "metricType": ("enum", ["AverageValue", "Value", "Utilization"]),
                                 "useCachedMetrics": "boolean"}, required=["type", "metadata"])),
}, required=["scaleTargetRef", "triggers"])

INGRESS_BACKEND = Struct({
    "service": Struct({"name": "string",
                       "port": Struct({"name": "string", "number": "integer"}, one_of=(("name", "number"), True))},
                      required=["name", "port"]),
    "resource": Struct({"apiGroup": "string", "kind": "string", "name": "string"}, required=["kind", "name"]),
}, one_of=(("service", "resource"), True), name="IngressBackend")
INGRESS_SPEC = Struct({
    "ingressClassName": "string", "defaultBackend": INGRESS_BACKEND,
    "rules": ("list", Struct({
        "host": "string",
        "http": Struct({"paths": ("list", Struct({
            "path": "string", "pathType": ("enum", ["Exact", "Prefix", "ImplementationSpecific"]),
            "backend": INGRESS_BACKEND}, required=["pathType", "backend"]))}, required=["paths"]),
    })),
    "tls": ("list", Struct({"hosts": ("list", "string"), "secretName": "string"})),
}, name="IngressSpec")

# kind -> (apiVersion, namespaced, {top-level field: spec}, required top-level fields)
KINDS = {
    "ConfigMap": ("v1", {"data": "strmap", "binaryData": "base64map", "immutable": "boolean"}, ()),
    "Secret": ("v1", {"data": "base64map", "stringData": "strmap", "type": "string", "immutable": "boolean"}, ()),
    "ServiceAccount": ("v1", {"automountServiceAccountToken": "boolean",
                              "imagePullSecrets": ("list", Struct({"name": "string"})),
                              "secrets": ("list", ANY)}, ()),
    "Service": ("v1", {"spec": SERVICE_SPEC}, ("spec",)),
    "Deployment": ("apps/v1", {"spec": DEPLOYMENT_SPEC}, ("spec",)),
    "Job": ("batch/v1", {"spec": JOB_SPEC}, ("spec",)),
    "PodDisruptionBudget": ("policy/v1", {"spec": PDB_SPEC}, ("spec",)),
    "HorizontalPodAutoscaler": ("autoscaling/v2", {"spec": HPA_SPEC}, ("spec",)),
    "ServiceMonitor": ("monitoring.coreos.com/v1", {"spec": SERVICE_MONITOR_SPEC}, ("spec",)),
    "PodMonitor": ("monitoring.coreos.com/v1", {"spec": POD_MONITOR_SPEC}, ("spec",)),
    "PrometheusRule": ("monitoring.coreos.com/v1", {"spec": PROMETHEUS_RULE_SPEC}, ("spec",)),
    "ScaledObject": ("keda.sh/v1alpha1", {"spec": SCALED_OBJECT_SPEC}, ("spec",)),
    "Ingress": ("networking.k8s.io/v1", {"spec": INGRESS_SPEC}, ("spec",)),
}


# ---------------------------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.errors = []

    def error(self, where, message):
        self.errors.append(f"{where}: {message}")


def type_name(v):
    return "null" if v is None else type(v).__name__


def check_value(v, spec, path, r):
    """Checks v against spec; reports at `path`."""
    if spec == ANY:
        return
    if isinstance(spec, Struct):
        if not isinstance(v, dict):
            r.error(path, f"must be an object{' (' + spec.name + ')' if spec.name else ''}, not {type_name(v)}")
            return
        for key, value in v.items():
            if key not in spec.fields:
                known = ", ".join(sorted(spec.fields))
                r.error(f"{path}.{key}", f"unknown field (known: {known})")
                continue
            check_value(value, spec.fields[key], f"{path}.{key}", r)
        for key in spec.required:
            if key not in v or v[key] is None:
                r.error(path, f"missing required field {key}")
        if spec.one_of:
            names, exactly = spec.one_of
            present = [n for n in names if v.get(n) is not None]
            if len(present) > 1 or (exactly and not present):
                r.error(path, f"needs {'exactly' if exactly else 'at most'} one of {', '.join(names)}"
                              f" (has {', '.join(present) or 'none'})")
        return
    if isinstance(spec, tuple):
        kind, inner = spec
        if kind == "list":
            if not isinstance(v, list):
                r.error(path, f"must be a list, not {type_name(v)}")
                return
            for i, item in enumerate(v):
                check_value(item, inner, f"{path}[{i}]", r)
        elif kind == "map":
            if not isinstance(v, dict):
                r.error(path, f"must be a map, not {type_name(v)}")
                return
            for key, item in v.items():
                check_value(item, inner, f"{path}.{key}", r)
        elif kind == "enum":
            if v not in inner:
                r.error(path, f"must be one of {', '.join(map(str, inner))} (got {v!r})")
        return
    if spec == "string":
        if not isinstance(v, str):
            r.error(path, f"must be a string, not {type_name(v)} ({v!r})")
    elif spec == "integer":
        if not isinstance(v, int) or isinstance(v, bool):
            r.error(path, f"must be an integer, not {type_name(v)} ({v!r})")
    elif spec == "boolean":
        if not isinstance(v, bool):
            r.error(path, f"must be a boolean, not {type_name(v)} ({v!r})")
    elif spec == "int-or-string":
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            r.error(path, f"must be an integer or a string, not {type_name(v)}")
    elif spec == "quantity":
        if isinstance(v, bool) or not (isinstance(v, (int, float)) or (isinstance(v, str) and QUANTITY.match(v))):
            r.error(path, f"must be a quantity such as 500m, 256Mi or 2 (got {v!r})")
    elif spec == "duration":
        if not isinstance(v, str) or not DURATION.match(v):
            r.error(path, f"must be a Prometheus duration such as 30s or 5m (got {v!r})")
    elif spec in ("labels", "strmap", "base64map"):
        if not isinstance(v, dict):
            r.error(path, f"must be a map of strings, not {type_name(v)}")
            return
        for key, value in v.items():
            if not isinstance(key, str):
                r.error(f"{path}", f"key {key!r} must be a string")
            if not isinstance(value, str):
                r.error(f"{path}.{key}", f"must be a string, not {type_name(value)} ({value!r}): quote it")
                continue
            if spec == "labels":
                if not label_key_ok(str(key)):
                    r.error(f"{path}.{key}", "is not a valid label key")
                if len(value) > 63 or not LABEL_VALUE.match(value):
                    r.error(f"{path}.{key}", f"label value {value!r} is not valid (63 characters of [A-Za-z0-9-_.])")
            elif spec == "base64map":
                try:
                    base64.b64decode(value, validate=True)
                except ValueError:
                    r.error(f"{path}.{key}", "is not base64")
    else:
        raise AssertionError(f"unknown spec {spec!r}")


# ---------------------------------------------------------------------------------------------

def ref(obj):
    return f"{obj['kind']}/{obj.get('metadata', {}).get('name', '?')}"


def selects(selector_labels, labels):
    return bool(selector_labels) and all(labels.get(k) == v for k, v in selector_labels.items())


def check_object(obj, where, r):
    """Field types and names of one object. Returns False when the object is unusable."""
    if not isinstance(obj, dict):
        r.error(where, f"a manifest must be an object, not {type_name(obj)}")
        return False
    kind, api = obj.get("kind"), obj.get("apiVersion")
    if kind not in KINDS:
        r.error(where, f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})")
        return False
    want_api, fields, required = KINDS[kind]
    if api != want_api:
        r.error(where, f"{kind} must be apiVersion {want_api}, not {api!r}")
    meta = obj.get("metadata")
    check_value(meta, OBJECT_META, f"{where}.metadata", r)
    if not isinstance(meta, dict):
        return False
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        r.error(f"{where}.metadata", "missing metadata.name")
        return False
    if kind == "Service":
        if len(name) > 63 or not DNS1035_LABEL.match(name):
            r.error(f"{where}.metadata.name", f"{name!r} is not a DNS-1035 label (Service names: a-z first, 63 max)")
    elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        r.error(f"{where}.metadata.name", f"{name!r} is not a DNS-1123 subdomain")
    if kind == "Deployment" and len(name) > 63:
        r.error(f"{where}.metadata.name", "Deployment names over 63 characters make invalid pod names")
    ns = meta.get("namespace")
    if ns is not None and (not isinstance(ns, str) or not DNS1123_LABEL.match(ns) or len(ns) > 63):
        r.error(f"{where}.metadata.namespace", f"{ns!r} is not a DNS-1123 label")
    top = {"apiVersion", "kind", "metadata"} | set(fields)
    for key, value in obj.items():
        if key not in top:
            r.error(f"{where}.{key}", f"unknown top-level field for {kind}")
        elif key in fields:
            check_value(value, fields[key], f"{where}.{key}", r)
    for key in required:
        if key not in obj:
            r.error(where, f"missing {key}")
    return True


def pod_checks(dep, where, index, r):
    """A Deployment's (or Job's) pod: names, ports, probes, resources, security, mounts and
    references. A Job's pod serves nothing: no selector, ports, probes or drain."""
    serves = dep.get("kind") == "Deployment"
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    match = (spec.get("selector") or {}).get("matchLabels") or {}
    if not serves:
        pass
    elif not match:
        r.error(f"{where}.spec.selector", "matchLabels is empty: the Deployment would select every pod")
    elif not selects(match, pod_labels):
        r.error(f"{where}.spec.selector", f"matchLabels {match} do not match the pod template labels {pod_labels}")
    pod = template.get("spec") or {}
    ns = dep["metadata"].get("namespace")
    volumes = {}
    for i, vol in enumerate(pod.get("volumes") or []):
        vname = vol.get("name")
        if not isinstance(vname, str) or not DNS1123_LABEL.match(vname) or len(vname) > 63:
            r.error(f"{where}.volumes[{i}]", f"volume name {vname!r} is not a DNS-1123 label")
        if vname in volumes:
            r.error(f"{where}.volumes[{i}]", f"duplicate volume {vname!r}")
        volumes[vname] = vol
    mounted = set()
    containers = pod.get("containers") or []
    if not containers:
        r.error(f"{where}.containers", "no containers")
    port_names = set()
    for c in containers:
        for p in c.get("ports") or []:
            if p.get("name"):
                port_names.add(p["name"])
    for ci, c in enumerate(containers):
        cw = f"{where}.containers[{ci}]({c.get('name')})"
        cname = c.get("name")
        if not isinstance(cname, str) or not DNS1123_LABEL.match(cname) or len(cname) > 63:
            r.error(cw, f"container name {cname!r} is not a DNS-1123 label")
        if not isinstance(c.get("image"), str) or not c.get("image") or c["image"] != c["image"].strip():
            r.error(cw, "image must be a non-empty string")
        ports = c.get("ports") or []
        if not ports and serves:
            r.error(cw, "declares no ports")
        seen_ports = set()
        for pi, p in enumerate(ports):
            num = p.get("containerPort")
            if isinstance(num, int) and not 1 <= num <= 65535:
                r.error(f"{cw}.ports[{pi}]", f"containerPort {num} out of range")
            pname = p.get("name")
            if pname is not None and (not isinstance(pname, str) or len(pname) > 15 or not IANA_SVC_NAME.match(pname)
                                      or not re.search("[a-z]", pname) or "--" in pname):
                r.error(f"{cw}.ports[{pi}]", f"port name {pname!r} is not an IANA service name (15 max)")
            if num in seen_ports:
                r.error(f"{cw}.ports[{pi}]", f"duplicate containerPort {num}")
            seen_ports.add(num)
        for probe_name in ("livenessProbe", "readinessProbe") if serves else ():
            if not isinstance(c.get(probe_name), dict):
                r.error(cw, f"has no {probe_name}")
        for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = c.get(probe_name)
            if not isinstance(probe, dict):
                continue
            for handler in ("httpGet", "tcpSocket"):
                port = (probe.get(handler) or {}).get("port")
                if isinstance(port, str) and port not in port_names:
                    r.error(f"{cw}.{probe_name}", f"port {port!r} names no container port ({', '.join(sorted(port_names))})")
                if isinstance(port, int) and not 1 <= port <= 65535:
                    r.error(f"{cw}.{probe_name}", f"port {port} out of range")
            path = (probe.get("httpGet") or {}).get("path")
            if path is not None and not str(path).startswith("/"):
                r.error(f"{cw}.{probe_name}", f"httpGet.path {path!r} must start with /")
        res = c.get("resources")
        if not isinstance(res, dict) or not res.get("requests"):
            r.error(cw, "has no resources.requests")
        elif isinstance(res, dict):
            for rname, req in (res.get("requests") or {}).items():
                lim = (res.get("limits") or {}).get(rname)
                try:
                    if lim is not None and quantity_value(req) > quantity_value(lim):
                        r.error(f"{cw}.resources", f"{rname} request {req} exceeds its limit {lim}")
                except (TypeError, AttributeError, ValueError):
                    pass  # the type check above reported it
        sc = c.get("securityContext")
        if not isinstance(sc, dict):
            r.error(cw, "has no securityContext")
        else:
            psc = pod.get("securityContext") or {}
            def eff(key):
                return sc.get(key, psc.get(key))
            if eff("runAsNonRoot") is not True:
                r.error(f"{cw}.securityContext", "runAsNonRoot must be true")
            if eff("runAsUser") == 0:
                r.error(f"{cw}.securityContext", "runAsUser 0 is root")
            if sc.get("readOnlyRootFilesystem") is not True:
                r.error(f"{cw}.securityContext", "readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                r.error(f"{cw}.securityContext", "allowPrivilegeEscalation must be false")
            if sc.get("privileged") is True:
                r.error(f"{cw}.securityContext", "privileged must not be true")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                r.error(f"{cw}.securityContext", "capabilities.drop must contain ALL")
            if (eff("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
                r.error(f"{cw}.securityContext", "seccompProfile.type must be RuntimeDefault (or Localhost)")
        paths = set()
        for mi, m in enumerate(c.get("volumeMounts") or []):
            if m.get("name") not in volumes:
                r.error(f"{cw}.volumeMounts[{mi}]", f"mounts volume {m.get('name')!r}, which the pod does not declare")
            mounted.add(m.get("name"))
            mpath = m.get("mountPath")
            if not isinstance(mpath, str) or not mpath.startswith("/"):
                r.error(f"{cw}.volumeMounts[{mi}]", f"mountPath {mpath!r} must be absolute")
            if mpath in paths:
                r.error(f"{cw}.volumeMounts[{mi}]", f"two mounts at {mpath}")
            paths.add(mpath)
        if sc and sc.get("readOnlyRootFilesystem") is True and "/tmp" not in paths:
            r.error(cw, "read-only root filesystem without a writable /tmp mount")
        seen_env = set()
        for ei, e in enumerate(c.get("env") or []):
            ename = e.get("name")
            if not isinstance(ename, str) or not ENV_NAME.match(ename):
                r.error(f"{cw}.env[{ei}]", f"{ename!r} is not a valid environment variable name")
            if ename in seen_env:
                r.error(f"{cw}.env[{ei}]", f"duplicate environment variable {ename}")
            seen_env.add(ename)
            vf = e.get("valueFrom") or {}
            if vf.get("configMapKeyRef"):
                index.need("ConfigMap", ns, vf["configMapKeyRef"].get("name"), [vf["configMapKeyRef"].get("key")],
                           f"{cw}.env[{ei}]", vf["configMapKeyRef"].get("optional"))
            if vf.get("secretKeyRef"):
                index.need("Secret", ns, vf["secretKeyRef"].get("name"), [vf["secretKeyRef"].get("key")],
                           f"{cw}.env[{ei}]", vf["secretKeyRef"].get("optional"))
        for ei, e in enumerate(c.get("envFrom") or []):
            if e.get("configMapRef"):
                index.need("ConfigMap", ns, e["configMapRef"].get("name"), [], f"{cw}.envFrom[{ei}]",
                           e["configMapRef"].get("optional"))
            if e.get("secretRef"):
                index.need("Secret", ns, e["secretRef"].get("name"), [], f"{cw}.envFrom[{ei}]",
                           e["secretRef"].get("optional"))
    for vname, vol in volumes.items():
        if vname not in mounted:
            r.error(f"{where}.volumes", f"volume {vname!r} is declared but never mounted")
        if vol.get("configMap"):
            cm = vol["configMap"]
            index.need("ConfigMap", ns, cm.get("name"), [i.get("key") for i in cm.get("items") or []],
                       f"{where}.volumes({vname})", cm.get("optional"))
        if vol.get("secret"):
            sec = vol["secret"]
            index.need("Secret", ns, sec.get("secretName"), [i.get("key") for i in sec.get("items") or []],
                       f"{where}.volumes({vname})", sec.get("optional"))
        for key in ("configMap", "secret"):
            mode = (vol.get(key) or {}).get("defaultMode")
            if isinstance(mode, int) and not 0 <= mode <= 0o777:
                r.error(f"{where}.volumes({vname})", f"defaultMode {mode} is not a file mode (0-511)")
    sa = pod.get("serviceAccountName")
    if sa and sa != "default":
        index.need("ServiceAccount", ns, sa, [], f"{where}.serviceAccountName", False)
    for si, s in enumerate(pod.get("imagePullSecrets") or []):
        index.need("Secret", ns, s.get("name"), [], f"{where}.imagePullSecrets[{si}]", False)
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    if serves and any(v.get("configMap") for v in volumes.values()) and "checksum/config" not in annotations:
        r.error(f"{where}.spec.template.metadata.annotations",
                "no checksum/config: a changed ConfigMap would not roll the pods")
    grace = pod.get("terminationGracePeriodSeconds")
    if grace is None and serves:
        r.error(where, "terminationGracePeriodSeconds is not set (the default 30 s is the bridge's drain)")
    bridge_checks(dep, pod, volumes, index, where, r)
    if not serves:
        job_checks(dep, pod, volumes, where, index, r)


def hook_of(obj):
    """(events, weight) of a Helm hook; (set(), None) for an ordinary object."""
    ann = obj["metadata"].get("annotations") or {}
    events = {e.strip() for e in str(ann.get("helm.sh/hook", "")).split(",") if e.strip()}
    try:
        weight = int(ann.get("helm.sh/hook-weight", "0"))
    except ValueError:
        weight = None
    return events, weight


def job_checks(job, pod, volumes, where, index, r):
    """The pre-install/pre-upgrade check Job: a hook on both events that runs once, whose config
    and secrets exist when it runs (hooks of a lower weight; the release's own objects do not exist
    yet at pre-install), and whose pod nothing of the release's selects."""
    ns = job["metadata"].get("namespace")
    events, weight = hook_of(job)
    if not {"pre-install", "pre-upgrade"} <= events:
        r.error(f"{where}.metadata.annotations", f"helm.sh/hook is {sorted(events)}, not pre-install,pre-upgrade")
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        r.error(f"{where}.spec.template.spec.restartPolicy", "a Job's pod must restart Never or OnFailure")
    if (job.get("spec") or {}).get("backoffLimit") is None:
        r.error(f"{where}.spec", "backoffLimit is not set (the default 6 reruns a failed check for minutes)")
    if pod.get("serviceAccountName") not in (None, "default"):
        sa = index.get("ServiceAccount", ns, pod["serviceAccountName"])
        if sa is not None and not hook_of(sa)[0]:
            r.error(f"{where}.serviceAccountName", f"ServiceAccount {pod['serviceAccountName']} is made by the release "
                                                   "itself: it does not exist yet at pre-install")
    refs = []
    for vname, vol in volumes.items():
        if vol.get("configMap"):
            refs.append(("ConfigMap", vol["configMap"].get("name"), f"{where}.volumes({vname})"))
        if vol.get("secret"):
            refs.append(("Secret", vol["secret"].get("secretName"), f"{where}.volumes({vname})"))
    for kind, name, w in refs:
        obj = index.get(kind, ns, name)
        if obj is None:
            continue  # external, or reported as missing
        their_events, their_weight = hook_of(obj)
        if not events <= their_events:
            r.error(w, f"{kind} {name} is not a hook on {','.join(sorted(events))}: at pre-install it does not "
                       "exist yet, at pre-upgrade it still holds the old release")
        elif weight is not None and their_weight is not None and their_weight >= weight:
            r.error(w, f"{kind} {name} has hook weight {their_weight}, not below the Job's {weight}")
    labels = ((job["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    for kind, path in (("Deployment", ("spec", "selector", "matchLabels")), ("Service", ("spec", "selector")),
                       ("PodDisruptionBudget", ("spec", "selector", "matchLabels"))):
        for owhere, obj in index.of_kind(kind):
            sel = obj
            for key in path:
                sel = (sel or {}).get(key)
            if sel and selects(sel, labels):
                r.error(f"{where}.spec.template.metadata.labels",
                        f"{kind} {obj['metadata']['name']} selects the check's pod")


def bridge_checks(dep, pod, volumes, index, where, r):
    """The capillary-bridge config the pod runs agrees with the pod."""
    ns = dep["metadata"].get("namespace")
    for c in pod.get("containers") or []:
        args = (c.get("command") or []) + (c.get("args") or [])
        if "-c" not in args or args.index("-c") + 1 >= len(args):
            continue
        config_path = args[args.index("-c") + 1]
        mount = None
        for m in c.get("volumeMounts") or []:
            if config_path.startswith(m.get("mountPath", "").rstrip("/") + "/"):
                mount = m
        if mount is None:
            r.error(f"{where}.containers({c.get('name')})", f"config {config_path} is on no mounted volume")
            continue
        vol = volumes.get(mount.get("name")) or {}
        cm = index.get("ConfigMap", ns, (vol.get("configMap") or {}).get("name"))
        if cm is None:
            continue  # reported as a missing ConfigMap
        rel = config_path[len(mount["mountPath"].rstrip("/")) + 1:]
        key = rel
        for item in (vol.get("configMap") or {}).get("items") or []:
            if item.get("path") == rel:
                key = item.get("key")
        text = (cm.get("data") or {}).get(key)
        if text is None:
            r.error(f"{where}", f"{config_path}: ConfigMap {cm['metadata']['name']} has no key {key!r}")
            continue
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as e:
            r.error(f"{ref(cm)}.data.{key}", f"is not YAML: {e}")
            continue
        if not isinstance(config, dict):
            r.error(f"{ref(cm)}.data.{key}", "is not a YAML map")
            continue
        cw = f"{where}.containers({c.get('name')})"
        if dep.get("kind") == "Deployment":
            ports = {p.get("containerPort"): p.get("name") for p in c.get("ports") or []}
            reachable_port(cw, "metrics.listen", (config.get("metrics") or {}).get("listen", "127.0.0.1:9464"),
                           "probes and Prometheus", ports, r)
            grace = pod.get("terminationGracePeriodSeconds")
            if "receive" in args:
                receiver_checks(c, cw, config, ports, grace, where, r)
            else:
                drain_ms = (config.get("pipeline") or {}).get("drain_timeout_ms", 30000)
                if isinstance(drain_ms, int) and isinstance(grace, int) and grace <= math.ceil(drain_ms / 1000):
                    r.error(where, f"terminationGracePeriodSeconds {grace} is not longer than the bridge's drain "
                                   f"deadline ({drain_ms} ms)")
        mount_paths = [m.get("mountPath", "").rstrip("/") + "/" for m in c.get("volumeMounts") or []]
        for path, value in walk_files(config):
            if isinstance(value, str) and value.startswith("/") and not any(value.startswith(p) for p in mount_paths):
                r.error(cw, f"config {path} names {value}, which no volumeMount provides")


def reachable_port(cw, key, listen, who, ports, r):
    """A host:port the pod serves on must be on all interfaces and a container port."""
    listen = str(listen)
    host, _, port = listen.rpartition(":")
    if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
        r.error(cw, f"{key} {listen} is loopback: {who} cannot reach it")
    if not port.isdigit() or int(port) not in ports:
        r.error(cw, f"{key} {listen} is not a container port ({sorted(ports)})")


def receiver_checks(c, cw, config, ports, grace, where, r):
    """`capillary-bridge receive`: its config has a receiver block listening on a container port,
    and the pod's grace period outlasts the preStop sleep plus the receiver's shutdown deadline."""
    receiver = config.get("receiver")
    if not isinstance(receiver, dict):
        r.error(cw, "runs `receive` but its config has no receiver: block")
        return
    reachable_port(cw, "receiver.listen", receiver.get("listen", "127.0.0.1:0"), "the Service", ports, r)
    shutdown_ms = receiver.get("shutdown_timeout_ms", 15000)
    pre_stop = (c.get("lifecycle") or {}).get("preStop") or {}
    sleep = (pre_stop.get("sleep") or {}).get("seconds", 0)
    command = (pre_stop.get("exec") or {}).get("command") or []
    if len(command) == 2 and command[0] == "sleep" and str(command[1]).isdigit():
        sleep = int(command[1])
    if isinstance(shutdown_ms, int) and isinstance(grace, int) and isinstance(sleep, int) \
            and grace <= sleep + math.ceil(shutdown_ms / 1000):
        r.error(where, f"terminationGracePeriodSeconds {grace} is not longer than the receiver's preStop sleep "
                       f"({sleep} s) plus its shutdown deadline ({shutdown_ms} ms)")


def walk_files(node, path=""):
    """(dotted key, value) of every `*_file` and `*_location` key in the bridge config."""
    if isinstance(node, dict):
        for k, v in node.items():
            p = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and (k.endswith("_file") or k.endswith("_location")):
                yield p, v
            else:
                yield from walk_files(v, p)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_files(v, f"{path}[{i}]")


class Index:
    def __init__(self, objects, default_ns, external_secrets, r):
        self.by_key = {}
        self.objects = objects
        self.default_ns = default_ns
        self.external = set(external_secrets)
        self.r = r
        for where, obj in objects:
            key = (obj["kind"], obj["metadata"].get("namespace", default_ns), obj["metadata"]["name"])
            if key in self.by_key:
                r.error(where, f"duplicate {obj['kind']} {key[2]} in namespace {key[1]}")
            self.by_key[key] = obj

    def get(self, kind, ns, name):
        return self.by_key.get((kind, ns or self.default_ns, name))

    def of_kind(self, kind):
        return [(w, o) for w, o in self.objects if o["kind"] == kind]

    def need(self, kind, ns, name, keys, where, optional):
        obj = self.get(kind, ns, name)
        if obj is None:
            if kind == "Secret" and name in self.external:
                return
            if not optional:
                self.r.error(where, f"references {kind} {name!r}, which is not rendered"
                                    f"{' (nor named with --external-secret)' if kind == 'Secret' else ''}")
            return
        data = dict(obj.get("data") or {})
        data.update(obj.get("stringData") or {})
        data.update(obj.get("binaryData") or {})
        for key in keys:
            if key not in data:
                self.r.error(where, f"{kind} {name} has no key {key!r}")


def scrape_timeouts(where, endpoints, field, r):
    for i, ep in enumerate(endpoints):
        interval, timeout = ep.get("interval"), ep.get("scrapeTimeout")
        if isinstance(interval, str) and isinstance(timeout, str) and DURATION.match(interval) \
                and DURATION.match(timeout) and duration_seconds(timeout) > duration_seconds(interval):
            r.error(f"{where}.spec.{field}[{i}]", f"scrapeTimeout {timeout} is longer than the interval {interval}")


def target_checks(index, r):
    deployments = index.of_kind("Deployment")

    def pod_labels(dep):
        return ((dep["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}

    def find_deployment(where, target, ns):
        name, kind = target.get("name"), target.get("kind", "Deployment")
        if kind != "Deployment" or target.get("apiVersion", "apps/v1") != "apps/v1":
            r.error(where, f"targets {target.get('apiVersion')} {kind}, not apps/v1 Deployment")
        dep = index.get("Deployment", ns, name)
        if dep is None:
            r.error(where, f"targets Deployment {name!r}, which is not rendered")
        return dep

    scaled = {}
    for where, hpa in index.of_kind("HorizontalPodAutoscaler"):
        spec = hpa.get("spec") or {}
        dep = find_deployment(f"{where}.spec.scaleTargetRef", spec.get("scaleTargetRef") or {},
                              hpa["metadata"].get("namespace"))
        lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas")
        if isinstance(lo, int) and isinstance(hi, int) and (lo < 1 or lo > hi):
            r.error(f"{where}.spec", f"minReplicas {lo} must be between 1 and maxReplicas {hi}")
        for mi, m in enumerate(spec.get("metrics") or []):
            if m.get("type") == "Resource" and (m.get("resource") or {}).get("target", {}).get("type") == "Utilization":
                rname = m["resource"].get("name")
                if dep is not None and not all(
                        rname in ((c.get("resources") or {}).get("requests") or {})
                        for c in dep["spec"]["template"]["spec"].get("containers") or []):
                    r.error(f"{where}.spec.metrics[{mi}]", f"{rname} utilization needs a {rname} request on every container")
        if dep is not None:
            scaled.setdefault(dep["metadata"]["name"], []).append(ref(hpa))
    for where, so in index.of_kind("ScaledObject"):
        spec = so.get("spec") or {}
        dep = find_deployment(f"{where}.spec.scaleTargetRef", spec.get("scaleTargetRef") or {},
                              so["metadata"].get("namespace"))
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
            r.error(f"{where}.spec", f"minReplicaCount {lo} exceeds maxReplicaCount {hi}")
        for ti, t in enumerate(spec.get("triggers") or []):
            md = t.get("metadata") or {}
            if t.get("type") == "kafka":
                for key in ("bootstrapServers", "consumerGroup", "lagThreshold"):
                    if not md.get(key):
                        r.error(f"{where}.spec.triggers[{ti}]", f"kafka trigger needs metadata.{key}")
                for key in ("lagThreshold", "activationLagThreshold"):
                    if key in md and not str(md[key]).isdigit():
                        r.error(f"{where}.spec.triggers[{ti}]", f"metadata.{key} {md[key]!r} is not a whole number")
                if md.get("offsetResetPolicy") not in (None, "earliest", "latest"):
                    r.error(f"{where}.spec.triggers[{ti}]", "metadata.offsetResetPolicy must be earliest or latest")
                for key in ("allowIdleConsumers",):
                    if key in md and md[key] not in ("true", "false"):
                        r.error(f"{where}.spec.triggers[{ti}]", f"metadata.{key} must be \"true\" or \"false\"")
        if dep is not None:
            scaled.setdefault(dep["metadata"]["name"], []).append(ref(so))
    for name, scalers in scaled.items():
        if len(scalers) > 1:
            r.error(f"Deployment/{name}", f"scaled by {' and '.join(scalers)}: they would fight over replicas")
    for where, dep in deployments:
        if dep["metadata"]["name"] in scaled and "replicas" in dep["spec"]:
            r.error(f"{where}.spec.replicas", "set on an autoscaled Deployment: every upgrade would reset it")

    def several(where, what, matching):
        """Each pod belongs to one workload: a selector over two Deployments' pods mixes them."""
        if len(matching) > 1:
            r.error(where, f"{what} the pods of several Deployments ({', '.join(sorted(ref(d) for d in matching))})")

    for where, dep in deployments:
        sel = (dep["spec"].get("selector") or {}).get("matchLabels") or {}
        ns = dep["metadata"].get("namespace", index.default_ns)
        for _, other in deployments:
            if other is not dep and other["metadata"].get("namespace", index.default_ns) == ns \
                    and selects(sel, pod_labels(other)):
                r.error(f"{where}.spec.selector", f"{sel} also matches the pods of {ref(other)}: the two "
                                                  "Deployments would fight over them")

    for where, pdb in index.of_kind("PodDisruptionBudget"):
        sel = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        ns = pdb["metadata"].get("namespace", index.default_ns)
        matching = [d for _, d in deployments if selects(sel, pod_labels(d))
                    and d["metadata"].get("namespace", index.default_ns) == ns]
        if not matching:
            r.error(f"{where}.spec.selector", f"{sel} selects no rendered Deployment's pods")
        several(f"{where}.spec.selector", f"{sel} budgets", matching)

    services = index.of_kind("Service")
    for where, svc in services:
        spec = svc.get("spec") or {}
        sel = spec.get("selector") or {}
        ns = svc["metadata"].get("namespace", index.default_ns)
        matching = [d for _, d in deployments if selects(sel, pod_labels(d))
                    and d["metadata"].get("namespace", index.default_ns) == ns]
        if not matching:
            r.error(f"{where}.spec.selector", f"{sel} selects no rendered Deployment's pods")
        several(f"{where}.spec.selector", f"{sel} sends traffic to", matching)
        names = set()
        for pi, p in enumerate(spec.get("ports") or []):
            if len(spec.get("ports")) > 1 and not p.get("name"):
                r.error(f"{where}.spec.ports[{pi}]", "needs a name (the Service has several ports)")
            if p.get("name") in names:
                r.error(f"{where}.spec.ports[{pi}]", f"duplicate port name {p.get('name')}")
            names.add(p.get("name"))
            target = p.get("targetPort", p.get("port"))
            for d in matching:
                cports = [cp for c in d["spec"]["template"]["spec"].get("containers") or [] for cp in c.get("ports") or []]
                if isinstance(target, str) and target not in {cp.get("name") for cp in cports}:
                    r.error(f"{where}.spec.ports[{pi}]", f"targetPort {target!r} names no port of {ref(d)}")
                if isinstance(target, int) and target not in {cp.get("containerPort") for cp in cports}:
                    r.error(f"{where}.spec.ports[{pi}]", f"targetPort {target} is no containerPort of {ref(d)}")

    for where, sm in index.of_kind("ServiceMonitor"):
        spec = sm.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [sm["metadata"].get("namespace", index.default_ns)]
        matching = [s for _, s in services if selects(sel, s["metadata"].get("labels") or {})
                    and s["metadata"].get("namespace", index.default_ns) in namespaces]
        if not matching:
            r.error(f"{where}.spec.selector", f"{sel} selects no rendered Service (labels, namespaces {namespaces})")
        behind = {}
        for s in matching:
            ssel = (s.get("spec") or {}).get("selector") or {}
            sns = s["metadata"].get("namespace", index.default_ns)
            for _, d in deployments:
                if selects(ssel, pod_labels(d)) and d["metadata"].get("namespace", index.default_ns) == sns:
                    behind[id(d)] = d
        several(f"{where}.spec.selector", f"{sel} selects Services of, and so scrapes,", list(behind.values()))
        for ei, ep in enumerate(spec.get("endpoints") or []):
            for s in matching:
                if ep.get("port") and ep["port"] not in {p.get("name") for p in s["spec"].get("ports") or []}:
                    r.error(f"{where}.spec.endpoints[{ei}]", f"port {ep['port']!r} is no port name of {ref(s)}")
        if not spec.get("endpoints"):
            r.error(f"{where}.spec", "no endpoints")
        scrape_timeouts(where, spec.get("endpoints") or [], "endpoints", r)

    for where, pm in index.of_kind("PodMonitor"):
        spec = pm.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [pm["metadata"].get("namespace", index.default_ns)]
        matching = [d for _, d in deployments if selects(sel, pod_labels(d))
                    and d["metadata"].get("namespace", index.default_ns) in namespaces]
        if not matching:
            r.error(f"{where}.spec.selector", f"{sel} selects no rendered Deployment's pods")
        several(f"{where}.spec.selector", f"{sel} scrapes", matching)
        for ei, ep in enumerate(spec.get("podMetricsEndpoints") or []):
            for d in matching:
                names = {cp.get("name") for c in d["spec"]["template"]["spec"].get("containers") or []
                         for cp in c.get("ports") or []}
                if ep.get("port") and ep["port"] not in names:
                    r.error(f"{where}.spec.podMetricsEndpoints[{ei}]", f"port {ep['port']!r} names no container port of {ref(d)}")
        if not spec.get("podMetricsEndpoints"):
            r.error(f"{where}.spec", "no podMetricsEndpoints")
        scrape_timeouts(where, spec.get("podMetricsEndpoints") or [], "podMetricsEndpoints", r)

    for where, ing in index.of_kind("Ingress"):
        ingress_checks(where, ing, index, r)

    for where, pr in index.of_kind("PrometheusRule"):
        groups = (pr.get("spec") or {}).get("groups") or []
        if not groups:
            r.error(f"{where}.spec", "no rule groups")
        names = set()
        for gi, g in enumerate(groups):
            if g.get("name") in names:
                r.error(f"{where}.spec.groups[{gi}]", f"duplicate group name {g.get('name')!r}")
            names.add(g.get("name"))
            if not g.get("rules"):
                r.error(f"{where}.spec.groups[{gi}]", "no rules")
            for ri, rule in enumerate(g.get("rules") or []):
                alert = rule.get("alert")
                if alert is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(alert)):
                    r.error(f"{where}.spec.groups[{gi}].rules[{ri}]", f"alert name {alert!r} is not a metric-style name")
                if not str(rule.get("expr", "")).strip():
                    r.error(f"{where}.spec.groups[{gi}].rules[{ri}]", "empty expr")

    for where, cm in index.of_kind("ConfigMap"):
        labels = cm["metadata"].get("labels") or {}
        if "grafana_dashboard" in labels:
            for key, text in (cm.get("data") or {}).items():
                try:
                    dash = json.loads(text)
                except (ValueError, TypeError) as e:
                    r.error(f"{where}.data.{key}", f"dashboard is not JSON: {e}")
                    continue
                if not isinstance(dash, dict) or not dash.get("title"):
                    r.error(f"{where}.data.{key}", "dashboard JSON has no title")
        size = sum(len(str(v).encode()) for v in (cm.get("data") or {}).values())
        if size > 1024 * 1024:
            r.error(where, f"data is {size} bytes; ConfigMaps hold at most 1 MiB")


def ingress_checks(where, ing, index, r):
    """An Ingress routes hosts that are DNS names, by absolute paths, to a port of a rendered
    Service that is not its metrics port; its TLS hosts are hosts it has rules for."""
    spec = ing.get("spec") or {}
    ns = ing["metadata"].get("namespace", index.default_ns)
    backends = []
    if spec.get("defaultBackend"):
        backends.append((f"{where}.spec.defaultBackend", spec["defaultBackend"]))
    hosts = set()
    rules = spec.get("rules") or []
    if not rules and not spec.get("defaultBackend"):
        r.error(f"{where}.spec", "no rules and no defaultBackend: the Ingress routes nothing")
    for ri, rule in enumerate(rules):
        rw = f"{where}.spec.rules[{ri}]"
        host = rule.get("host")
        if host is not None:
            name = str(host)[2:] if str(host).startswith("*.") else str(host)
            if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name) or re.match(r"^[0-9.]+$", name):
                r.error(rw, f"host {host!r} is not a DNS name (an IP address or a port is not allowed)")
            hosts.add(host)
        for pi, p in enumerate((rule.get("http") or {}).get("paths") or []):
            path = p.get("path")
            if p.get("pathType") in ("Exact", "Prefix") and (not isinstance(path, str) or not path.startswith("/")):
                r.error(f"{rw}.http.paths[{pi}]", f"path {path!r} must start with /")
            backends.append((f"{rw}.http.paths[{pi}].backend", p.get("backend")))
    for bw, backend in backends:
        target = (backend or {}).get("service")
        if not isinstance(target, dict):
            continue
        svc = index.get("Service", ns, target.get("name"))
        if svc is None:
            r.error(bw, f"routes to Service {target.get('name')!r}, which is not rendered")
            continue
        port = target.get("port") or {}
        sports = (svc.get("spec") or {}).get("ports") or []
        if port.get("name") is not None:
            found = [sp for sp in sports if sp.get("name") == port["name"]]
        else:
            found = [sp for sp in sports if sp.get("port") == port.get("number")]
        if not found:
            r.error(bw, f"port {port} is no port of {ref(svc)}")
        elif "metrics" in (found[0].get("name"), found[0].get("targetPort")):
            r.error(bw, f"exposes the metrics port of {ref(svc)} (/metrics, /healthz, /readyz) outside the cluster")
    for ti, tls in enumerate(spec.get("tls") or []):
        for host in tls.get("hosts") or []:
            if host not in hosts:
                r.error(f"{where}.spec.tls[{ti}]", f"TLS host {host!r} has no rule")


def check_file(path, external_secrets, expect, forbid, r):
    with open(path, encoding="utf-8") as f:
        try:
            docs = list(yaml.safe_load_all(f))
        except yaml.YAMLError as e:
            r.error(path, f"not YAML: {e}")
            return []
    return check_documents(path, docs, external_secrets, expect, forbid, r)


def check_documents(path, docs, external_secrets, expect, forbid, r):
    objects = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        where = f"{path}#{i}"
        if isinstance(doc, dict) and isinstance(doc.get("kind"), str):
            where = f"{path}:{doc['kind']}/{(doc.get('metadata') or {}).get('name', '?')}"
        if check_object(doc, where, r):
            objects.append((where, doc))
    if not objects:
        r.error(path, "renders no objects")
        return objects
    namespaces = {o["metadata"].get("namespace") for _, o in objects} - {None}
    default_ns = sorted(namespaces)[0] if len(namespaces) == 1 else "default"
    index = Index(objects, default_ns, external_secrets, r)
    for where, dep in index.of_kind("Deployment") + index.of_kind("Job"):
        pod_checks(dep, where, index, r)
    target_checks(index, r)
    kinds = {o["kind"] for _, o in objects}
    for kind in expect:
        if kind not in kinds:
            r.error(path, f"renders no {kind}")
    for kind in forbid:
        if kind in kinds:
            r.error(path, f"renders a {kind}, which it must not")
    return objects


# ---------------------------------------------------------------------------------------------
# Self-test: every check above must fire on a manifest broken on purpose.

def first(docs, kind):
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == kind:
            return d
    raise SystemExit(f"self-test: the input renders no {kind}")


def pod_of(docs):
    return first(docs, "Deployment")["spec"]["template"]["spec"]


def container_of(docs):
    return pod_of(docs)["containers"][0]


def bridge_config(docs, change, key="bridge.yaml"):
    cm = first(docs, "ConfigMap")
    cfg = yaml.safe_load(cm["data"][key])
    change(cfg)
    cm["data"][key] = yaml.safe_dump(cfg)


def receiver_config(docs, change):
    bridge_config(docs, lambda c: change(c["receiver"]), "receiver.yaml")


def component(docs, kind, name="bridge"):
    """The first object of a kind labelled app.kubernetes.io/component: name."""
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == kind \
                and (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == name:
            return d
    raise SystemExit(f"self-test: the input renders no {kind} of component {name}")


def receiver_pod(docs):
    return component(docs, "Deployment", "receiver")["spec"]["template"]["spec"]


def ingress_backend(docs):
    return first(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]


def release_selector(docs):
    """{instance: <release>}: a selector both components' pods match."""
    return {"app.kubernetes.io/instance":
            first(docs, "Deployment")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"]}


def same_name_as_bridge(docs):
    """The receiver's pods and selector take the bridge's app.kubernetes.io/name."""
    name = first(docs, "Deployment")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
    dep = component(docs, "Deployment", "receiver")
    dep["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = name
    dep["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = name


MUTATIONS = [
    ("unknown kind", "unknown kind", lambda d: component(d, "Service").update(kind="Servise")),
    ("wrong apiVersion", "must be apiVersion apps/v1",
     lambda d: first(d, "Deployment").update(apiVersion="extensions/v1beta1")),
    ("name not DNS-1123", "DNS-1123", lambda d: first(d, "ConfigMap")["metadata"].update(name="Bridge_Config")),
    ("misspelt field", "unknown field", lambda d: container_of(d).update(readinessProb=container_of(d)["readinessProbe"])),
    ("image not a string", "must be a string", lambda d: container_of(d).update(image=123)),
    ("port as a string", "must be an integer", lambda d: container_of(d)["ports"][0].update(containerPort="9464")),
    ("selector does not match pods", "do not match the pod template labels",
     lambda d: first(d, "Deployment")["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "other"})),
    ("mount without volume", "does not declare",
     lambda d: pod_of(d).update(volumes=[v for v in pod_of(d)["volumes"] if v["name"] != "tmp"])),
    ("missing ConfigMap", "is not rendered",
     lambda d: first(d, "ConfigMap")["metadata"].update(name="renamed")),
    ("missing Secret", "Secret 'nowhere'",
     lambda d: pod_of(d)["volumes"].append({"name": "x", "secret": {"secretName": "nowhere"}})
     or container_of(d)["volumeMounts"].append({"name": "x", "mountPath": "/x"})),
    ("no readiness probe", "has no readinessProbe", lambda d: container_of(d).pop("readinessProbe")),
    ("probe on an unknown port", "names no container port",
     lambda d: container_of(d)["livenessProbe"]["httpGet"].update(port="http")),
    ("quantity", "must be a quantity", lambda d: container_of(d)["resources"]["requests"].update(cpu="half")),
    ("request over limit", "exceeds its limit",
     lambda d: container_of(d)["resources"].update(requests={"memory": "1Gi"}, limits={"memory": "512Mi"})),
    ("writable root", "readOnlyRootFilesystem must be true",
     lambda d: container_of(d)["securityContext"].update(readOnlyRootFilesystem=False)),
    ("capabilities kept", "capabilities.drop must contain ALL",
     lambda d: container_of(d)["securityContext"].update(capabilities={})),
    ("service selects nothing", "selects no rendered Deployment",
     lambda d: component(d, "Service")["spec"].update(selector={"app": "nothing"})),
    ("service targetPort", "names no port",
     lambda d: component(d, "Service")["spec"]["ports"][0].update(targetPort="http")),
    ("label value not a string", "must be a string",
     lambda d: first(d, "Deployment")["metadata"]["labels"].update(replicas=3)),
    ("grace shorter than drain", "not longer than the bridge's drain",
     lambda d: pod_of(d).update(terminationGracePeriodSeconds=30)),
    ("metrics on loopback", "is loopback",
     lambda d: bridge_config(d, lambda c: c["metrics"].update(listen="127.0.0.1:9464"))),
    ("config file not mounted", "which no volumeMount provides",
     lambda d: bridge_config(d, lambda c: c["kafka"].setdefault("security", {}).update(ssl_ca_location="/etc/ssl/kafka/ca.pem"))),
    ("pdb selects nothing", "selects no rendered Deployment",
     lambda d: first(d, "PodDisruptionBudget")["spec"]["selector"].update(matchLabels={"a": "b"})),
    ("pdb min and max", "at most one of minAvailable",
     lambda d: first(d, "PodDisruptionBudget")["spec"].update(minAvailable=1, maxUnavailable=1)),
    ("duplicate object", "duplicate ConfigMap", lambda d: d.append(copy.deepcopy(first(d, "ConfigMap")))),
    ("HPA target missing", "which is not rendered",
     lambda d: d.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                         "metadata": {"name": "x", "namespace": first(d, "Deployment")["metadata"].get("namespace")},
                         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nope"},
                                  "maxReplicas": 3}})),
    ("HPA and ScaledObject together", "would fight over replicas",
     lambda d: d.extend([
         {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "h", "namespace": first(d, "Deployment")["metadata"].get("namespace")},
          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": first(d, "Deployment")["metadata"]["name"]}, "maxReplicas": 3}},
         {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
          "metadata": {"name": "k", "namespace": first(d, "Deployment")["metadata"].get("namespace")},
          "spec": {"scaleTargetRef": {"name": first(d, "Deployment")["metadata"]["name"]},
                   "triggers": [{"type": "kafka", "metadata": {"bootstrapServers": "k:9092",
                                                               "consumerGroup": "g", "lagThreshold": "10"}}]}}])),
    ("kafka trigger without a group", "needs metadata.consumerGroup",
     lambda d: d.append({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                         "metadata": {"name": "k", "namespace": first(d, "Deployment")["metadata"].get("namespace")},
                         "spec": {"scaleTargetRef": {"name": first(d, "Deployment")["metadata"]["name"]},
                                  "triggers": [{"type": "kafka", "metadata": {"bootstrapServers": "k:9092",
                                                                              "lagThreshold": "10"}}]}})),
    ("no config checksum", "no checksum/config",
     lambda d: first(d, "Deployment")["spec"]["template"]["metadata"]["annotations"].pop("checksum/config")),
    ("scrape timeout over interval", "longer than the interval",
     lambda d: d.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                         "metadata": {"name": "p", "namespace": first(d, "Deployment")["metadata"].get("namespace")},
                         "spec": {"selector": first(d, "Deployment")["spec"]["selector"],
                                  "podMetricsEndpoints": [{"port": "metrics", "interval": "10s",
                                                           "scrapeTimeout": "1m"}]}})),
    ("secret not base64", "is not base64",
     lambda d: d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}})),
    # The platform-check Job (rendered into the self-test input with platformCheck.enabled).
    ("check job not a hook", "not pre-install,pre-upgrade",
     lambda d: first(d, "Job")["metadata"]["annotations"].update({"helm.sh/hook": "post-install"})),
    ("check job config not a hook", "is not a hook on",
     lambda d: job_config(d)["metadata"].pop("annotations")),
    ("check job config after the job", "not below the Job's",
     lambda d: job_config(d)["metadata"]["annotations"].update({"helm.sh/hook-weight": "5"})),
    ("check job pod selected by the release", "selects the check's pod",
     lambda d: first(d, "Job")["spec"]["template"]["metadata"].update(
         labels=dict(first(d, "Deployment")["spec"]["template"]["metadata"]["labels"]))),
    ("check job restarts always", "must restart Never or OnFailure",
     lambda d: first(d, "Job")["spec"]["template"]["spec"].update(restartPolicy="Always")),
    ("check job without backoffLimit", "backoffLimit is not set",
     lambda d: first(d, "Job")["spec"].pop("backoffLimit")),
    ("check job config on no volume", "is on no mounted volume",
     lambda d: first(d, "Job")["spec"]["template"]["spec"]["containers"][0].update(
         args=["platform", "check", "-c", "/nowhere/bridge.yaml"])),
    # The webhook receiver (rendered into the self-test input with receiver.enabled): a workload
    # of its own, selected by nothing of the bridge's, behind an Ingress.
    ("receiver pods also the bridge's", "also matches the pods of", same_name_as_bridge),
    ("service over both components", "sends traffic to the pods of several Deployments",
     lambda d: component(d, "Service", "receiver")["spec"].update(selector=release_selector(d))),
    ("pdb over both components", "budgets the pods of several Deployments",
     lambda d: component(d, "PodDisruptionBudget")["spec"]["selector"].update(matchLabels=release_selector(d))),
    ("service monitor over both components", "selects Services of, and so scrapes, the pods of several",
     lambda d: d.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                         "metadata": {"name": "m", "namespace": first(d, "Deployment")["metadata"].get("namespace")},
                         "spec": {"selector": {"matchLabels": release_selector(d)},
                                  "endpoints": [{"port": "metrics"}]}})),
    ("pod monitor over both components", "scrapes the pods of several",
     lambda d: d.append({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
                         "metadata": {"name": "m", "namespace": first(d, "Deployment")["metadata"].get("namespace")},
                         "spec": {"selector": {"matchLabels": release_selector(d)},
                                  "podMetricsEndpoints": [{"port": "metrics"}]}})),
    ("receiver without a receiver block", "has no receiver: block",
     lambda d: receiver_pod(d)["volumes"][0]["configMap"]["items"][0].update(key="bridge.yaml")),
    ("receiver on loopback", "receiver.listen 127.0.0.1:8080 is loopback",
     lambda d: receiver_config(d, lambda c: c.update(listen="127.0.0.1:8080"))),
    ("receiver on no container port", "receiver.listen 0.0.0.0:8081 is not a container port",
     lambda d: receiver_config(d, lambda c: c.update(listen="0.0.0.0:8081"))),
    ("receiver grace shorter than its shutdown", "not longer than the receiver's preStop sleep",
     lambda d: receiver_pod(d).update(terminationGracePeriodSeconds=20)),
    ("receiver tokens not mounted", "which no volumeMount provides",
     lambda d: receiver_pod(d)["containers"][0].update(
         volumeMounts=[m for m in receiver_pod(d)["containers"][0]["volumeMounts"] if m["name"] != "receiver-tokens"])
     or receiver_pod(d).update(volumes=[v for v in receiver_pod(d)["volumes"] if v["name"] != "receiver-tokens"])),
    ("ingress to a missing Service", "routes to Service 'nope', which is not rendered",
     lambda d: ingress_backend(d).update(name="nope")),
    ("ingress to an unknown port", "is no port of", lambda d: ingress_backend(d).update(port={"name": "web"})),
    ("ingress exposes metrics", "exposes the metrics port", lambda d: ingress_backend(d).update(port={"name": "metrics"})),
    ("ingress path type", "must be one of Exact",
     lambda d: first(d, "Ingress")["spec"]["rules"][0]["http"]["paths"][0].update(pathType="Regex")),
    ("ingress relative path", "must start with /",
     lambda d: first(d, "Ingress")["spec"]["rules"][0]["http"]["paths"][0].update(path="capillary")),
    ("ingress host with a port", "is not a DNS name",
     lambda d: first(d, "Ingress")["spec"]["rules"][0].update(host="webhooks.example.com:443")),
    ("ingress TLS host without a rule", "has no rule",
     lambda d: first(d, "Ingress")["spec"]["tls"][0]["hosts"].append("other.example.com")),
]


def job_config(docs):
    """The ConfigMap the Job mounts its config from."""
    vols = first(docs, "Job")["spec"]["template"]["spec"]["volumes"]
    name = next(v["configMap"]["name"] for v in vols if v.get("configMap"))
    return next(d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name)


def self_test(path):
    with open(path, encoding="utf-8") as f:
        good = [d for d in yaml.safe_load_all(f) if d is not None]
    r = Report()
    check_documents(path, copy.deepcopy(good), [], [], [], r)
    if r.errors:
        print("self-test: the unmodified input must be clean, but:", *r.errors, sep="\n  ")
        return 1
    failed = 0
    for name, expected, mutate in MUTATIONS:
        docs = copy.deepcopy(good)
        mutate(docs)
        r = Report()
        check_documents(f"{path}[{name}]", docs, [], [], [], r)
        if any(expected in e for e in r.errors):
            print(f"  caught: {name}")
        else:
            failed += 1
            print(f"  MISSED: {name}: expected an error containing {expected!r}, got {r.errors or 'none'}")
    print(f"self-test: {len(MUTATIONS) - failed} of {len(MUTATIONS)} broken manifests caught")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--external-secret", action="append", default=[],
                    help="a Secret the manifests may reference without rendering it (existingSecret)")
    ap.add_argument("--expect", action="append", default=[], help="a kind the manifests must contain")
    ap.add_argument("--forbid", action="append", default=[], help="a kind the manifests must not contain")
    ap.add_argument("--self-test", action="store_true", help="check that broken copies of FILE are caught")
    args = ap.parse_args()
    if args.self_test:
        return max(self_test(f) for f in args.files)
    status = 0
    for path in args.files:
        r = Report()
        objects = check_file(path, args.external_secret, args.expect, args.forbid, r)
        if r.errors:
            status = 1
            print(f"{path}: {len(r.errors)} problem(s)")
            for e in r.errors:
                print(f"  {e}")
        else:
            kinds = sorted(ref(o) for _, o in objects)
            print(f"{path}: ok, {len(objects)} objects ({', '.join(kinds)})")
    return status


if __name__ == "__main__":
    sys.exit(main())
