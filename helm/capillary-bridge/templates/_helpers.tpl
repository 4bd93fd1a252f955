{{/* Names and labels. */}}
{{- define "capillary-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "capillary-bridge.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "capillary-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "capillary-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "capillary-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "capillary-bridge.labels" -}}
helm.sh/chart: {{ include "capillary-bridge.chart" . }}
{{ include "capillary-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: capillary-bridge
{{- end }}

{{/*
The bridge's own objects (Deployment, pods, Service, PDB, autoscaler, monitors) also carry
component: bridge. Its selector stays name + instance (a Deployment's selector cannot change on
upgrade), so the receiver's pods get a name of their own: no selector of one matches the other.
*/}}
{{- define "capillary-bridge.bridgeLabels" -}}
{{ include "capillary-bridge.labels" . }}
app.kubernetes.io/component: bridge
{{- end }}

{{/* The webhook receiver (`capillary-bridge receive`): its own name, component receiver. */}}
{{- define "capillary-bridge.receiverFullname" -}}
{{- printf "%s-receiver" (include "capillary-bridge.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "capillary-bridge.receiverSelectorLabels" -}}
app.kubernetes.io/name: {{ include "capillary-bridge.name" . | trunc 54 | trimSuffix "-" }}-receiver
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: receiver
{{- end }}

{{- define "capillary-bridge.receiverLabels" -}}
helm.sh/chart: {{ include "capillary-bridge.chart" . }}
{{ include "capillary-bridge.receiverSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: capillary-bridge
{{- end }}

{{- define "capillary-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "capillary-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "capillary-bridge.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where secrets are mounted in the pod; the config names files below it. */}}
{{- define "capillary-bridge.secretsDir" -}}
/var/run/secrets/capillary-bridge
{{- end }}

{{/* The Secret the chart creates (only when a secret value is given in values). */}}
{{- define "capillary-bridge.secretName" -}}
{{- include "capillary-bridge.fullname" . }}
{{- end }}

{{- define "capillary-bridge.createSecret" -}}
{{- if or .Values.ims.clientSecret .Values.kafkaSasl.password }}true{{ end }}
{{- end }}

{{/* The Secret and key holding the IMS client secret; empty when there is none. */}}
{{- define "capillary-bridge.imsSecretName" -}}
{{- if .Values.ims.existingSecret }}
{{- .Values.ims.existingSecret }}
{{- else if .Values.ims.clientSecret }}
{{- include "capillary-bridge.secretName" . }}
{{- end }}
{{- end }}

{{- define "capillary-bridge.imsSecretKey" -}}
{{- if .Values.ims.existingSecret }}{{ .Values.ims.existingSecretKey }}{{ else }}ims-client-secret{{ end }}
{{- end }}

{{/* The Secret and key holding the Kafka SASL password; empty when there is none. */}}
{{- define "capillary-bridge.kafkaSaslSecretName" -}}
{{- if .Values.kafkaSasl.existingSecret }}
{{- .Values.kafkaSasl.existingSecret }}
{{- else if .Values.kafkaSasl.password }}
{{- include "capillary-bridge.secretName" . }}
{{- end }}
{{- end }}

{{- define "capillary-bridge.kafkaSaslSecretKey" -}}
{{- if .Values.kafkaSasl.existingSecret }}{{ .Values.kafkaSasl.existingSecretKey }}{{ else }}kafka-sasl-password{{ end }}
{{- end }}

{{/* Kafka TLS files: Secret key -> file name in the kafka-tls mount, and the config key. */}}
{{- define "capillary-bridge.kafkaTlsFiles" -}}
{{- $files := list }}
{{- with .Values.kafkaTls }}
{{- if .caKey }}{{ $files = append $files (dict "key" .caKey "path" "ca.crt" "config" "ssl_ca_location") }}{{ end }}
{{- if .certKey }}{{ $files = append $files (dict "key" .certKey "path" "client.crt" "config" "ssl_certificate_location") }}{{ end }}
{{- if .keyKey }}{{ $files = append $files (dict "key" .keyKey "path" "client.key" "config" "ssl_key_location") }}{{ end }}
{{- if .keyPasswordKey }}{{ $files = append $files (dict "key" .keyPasswordKey "path" "key-password" "config" "ssl_key_password_file") }}{{ end }}
{{- end }}
{{- toJson $files }}
{{- end }}

{{/* The Secret and key holding the receiver's accepted webhook tokens; empty when there is none. */}}
{{- define "capillary-bridge.receiverTokensSecretName" -}}
{{- if .Values.receiver.auth.existingSecret }}
{{- .Values.receiver.auth.existingSecret }}
{{- else if .Values.receiver.auth.tokens }}
{{- include "capillary-bridge.receiverFullname" . }}
{{- end }}
{{- end }}

{{- define "capillary-bridge.receiverTokensSecretKey" -}}
{{- if .Values.receiver.auth.existingSecret }}{{ .Values.receiver.auth.existingSecretKey }}{{ else }}tokens{{ end }}
{{- end }}

{{/*
receiver.config.shutdown_timeout_ms in whole seconds, rounded up (the receiver's default 15000),
plus the preStop sleep that precedes SIGTERM.
*/}}
{{- define "capillary-bridge.receiverShutdownSeconds" -}}
{{- $ms := int64 (dig "shutdown_timeout_ms" 15000 (.Values.receiver.config | default dict)) }}
{{- add (div (add $ms 999) 1000) (int64 .Values.receiver.preStopSleepSeconds) }}
{{- end }}

{{- define "capillary-bridge.receiverTerminationGracePeriodSeconds" -}}
{{- $shutdown := int64 (include "capillary-bridge.receiverShutdownSeconds" .) }}
{{- if kindIs "invalid" .Values.receiver.terminationGracePeriodSeconds }}
{{- add $shutdown .Values.receiver.terminationGraceExtraSeconds }}
{{- else }}
{{- int64 .Values.receiver.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* config.pipeline.drain_timeout_ms in whole seconds, rounded up (the bridge's default 30000). */}}
{{- define "capillary-bridge.drainSeconds" -}}
{{- $ms := int64 (dig "pipeline" "drain_timeout_ms" 30000 (.Values.config | default dict)) }}
{{- div (add $ms 999) 1000 }}
{{- end }}

{{- define "capillary-bridge.terminationGracePeriodSeconds" -}}
{{- $drain := int64 (include "capillary-bridge.drainSeconds" .) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $drain .Values.terminationGraceExtraSeconds }}
{{- else }}
{{- int64 .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
True when the bridge will ask IMS for a token: the platform sink with an authenticated inlet
(inlets are authenticated unless they say `authenticated: false`).
*/}}
{{- define "capillary-bridge.needsIms" -}}
{{- $sink := dig "sink" dict (.Values.config | default dict) }}
{{- if eq (toString (dig "type" "stdout" $sink)) "platform" }}
{{- range $name, $inlet := (dig "platform" "inlets" dict $sink) }}
{{- if ne (toString (dig "authenticated" true ($inlet | default dict))) "false" }}true{{ end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The bridge config: .Values.config plus the keys the chart manages (metrics.listen and the paths
of mounted secrets). The bridge runs it as it is (the ConfigMap's bridge.yaml).
*/}}
{{- define "capillary-bridge.config" -}}
{{- include "capillary-bridge.renderConfig" (dict "root" . "receiver" false) }}
{{- end }}

{{/*
The receiver's config (the ConfigMap's receiver.yaml): the bridge config plus the `receiver:` block
from receiver.config, with listen, the tokens file and the TLS files set by the chart. Only the
receiver reads it: the config loader reads every file a config names (tokens_file included) at
start, whichever command runs, so the bridge's pods would otherwise need the tokens mounted.
*/}}
{{- define "capillary-bridge.receiverConfig" -}}
{{- include "capillary-bridge.renderConfig" (dict "root" . "receiver" true) }}
{{- end }}

{{/* dict: root (the chart context), receiver (bool: add the receiver block). */}}
{{- define "capillary-bridge.renderConfig" -}}
{{- $withReceiver := .receiver }}
{{- with .root }}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $dir := include "capillary-bridge.secretsDir" . }}
{{- $_ := set $cfg "metrics" (dict "listen" (printf "0.0.0.0:%d" (int .Values.containerPort))) }}
{{- if include "capillary-bridge.imsSecretName" . }}
{{- if not (hasKey $cfg "sink") }}{{ $_ := set $cfg "sink" dict }}{{ end }}
{{- if not (hasKey $cfg.sink "platform") }}{{ $_ := set $cfg.sink "platform" dict }}{{ end }}
{{- if not (hasKey $cfg.sink.platform "ims") }}{{ $_ := set $cfg.sink.platform "ims" dict }}{{ end }}
{{- $_ := unset $cfg.sink.platform.ims "client_secret" }}
{{- $_ := set $cfg.sink.platform.ims "client_secret_file" (printf "%s/ims/client-secret" $dir) }}
{{- end }}
{{- $tlsFiles := include "capillary-bridge.kafkaTlsFiles" . | fromJsonArray }}
{{- if or (include "capillary-bridge.kafkaSaslSecretName" .) (and .Values.kafkaTls.existingSecret $tlsFiles) }}
{{- if not (hasKey $cfg "kafka") }}{{ $_ := set $cfg "kafka" dict }}{{ end }}
{{- if not (hasKey $cfg.kafka "security") }}{{ $_ := set $cfg.kafka "security" dict }}{{ end }}
{{- if include "capillary-bridge.kafkaSaslSecretName" . }}
{{- $_ := unset $cfg.kafka.security "sasl_password" }}
{{- $_ := set $cfg.kafka.security "sasl_password_file" (printf "%s/kafka-sasl/password" $dir) }}
{{- end }}
{{- if .Values.kafkaTls.existingSecret }}
{{- range $tlsFiles }}
{{- if eq .config "ssl_key_password_file" }}{{ $_ := unset $cfg.kafka.security "ssl_key_password" }}{{ end }}
{{- $_ := set $cfg.kafka.security .config (printf "%s/kafka-tls/%s" $dir .path) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $withReceiver }}
{{- $r := deepCopy (.Values.receiver.config | default dict) }}
{{- $_ := set $r "listen" (printf "0.0.0.0:%d" (int .Values.receiver.containerPort)) }}
{{- if include "capillary-bridge.receiverTokensSecretName" . }}
{{- range ($r.paths | default list) }}
{{- $auth := .auth | default dict }}
{{- if not (or $auth.tokens $auth.tokens_file) }}
{{- $_ := set $auth "tokens_file" (printf "%s/receiver/tokens" $dir) }}
{{- $_ := set . "auth" $auth }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.receiver.tls.existingSecret }}
{{- $_ := set $r "tls" (dict "cert_file" (printf "%s/receiver-tls/tls.crt" $dir) "key_file" (printf "%s/receiver-tls/tls.key" $dir)) }}
{{- end }}
{{- $_ := set $cfg "receiver" $r }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
{{- end }}

{{/* Cross-field checks the schema cannot express; every message says what to change. */}}
{{- define "capillary-bridge.validate" -}}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}
{{- fail "autoscaling.enabled and keda.enabled are mutually exclusive: KEDA's ScaledObject creates its own HorizontalPodAutoscaler for the Deployment, and two autoscalers would fight over replicas. Enable one." }}
{{- end }}
{{- if and .Values.ims.clientSecret .Values.ims.existingSecret }}
{{- fail "set either ims.clientSecret or ims.existingSecret, not both" }}
{{- end }}
{{- if and .Values.kafkaSasl.password .Values.kafkaSasl.existingSecret }}
{{- fail "set either kafkaSasl.password or kafkaSasl.existingSecret, not both" }}
{{- end }}
{{- $ims := dig "sink" "platform" "ims" dict (.Values.config | default dict) }}
{{- if and (include "capillary-bridge.needsIms" .) (not (include "capillary-bridge.imsSecretName" .)) (not (hasKey $ims "client_secret")) (not (hasKey $ims "client_secret_file")) }}
{{- fail "the platform sink has an authenticated inlet but no IMS client secret: set ims.clientSecret (helm install --set-file ims.clientSecret=./client-secret) or ims.existingSecret (a Secret you manage, key ims.existingSecretKey)" }}
{{- end }}
{{- $kafkaConfig := dig "kafka" dict (.Values.config | default dict) }}
{{- if eq (empty (dig "topics" list $kafkaConfig)) (empty (dig "topic_regex" "" $kafkaConfig)) }}
{{- fail "set exactly one of config.kafka.topics and config.kafka.topic_regex (with topic_regex, set topics: null to drop the default list)" }}
{{- end }}
{{- $security := dig "kafka" "security" dict (.Values.config | default dict) }}
{{- $protocol := toString (dig "protocol" "PLAINTEXT" $security) }}
{{- $mechanism := toString (dig "sasl_mechanism" "" $security) }}
{{- if and (hasPrefix "SASL_" $protocol) (has $mechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512")) (not (include "capillary-bridge.kafkaSaslSecretName" .)) (not (hasKey $security "sasl_password")) (not (hasKey $security "sasl_password_file")) }}
{{- fail (printf "config.kafka.security.sasl_mechanism %s needs a password: set kafkaSasl.password or kafkaSasl.existingSecret" $mechanism) }}
{{- end }}
{{- if and .Values.kafkaTls.existingSecret (not (has $protocol (list "SSL" "SASL_SSL"))) }}
{{- fail (printf "kafkaTls.existingSecret is set but config.kafka.security.protocol is %s: use SSL or SASL_SSL" $protocol) }}
{{- end }}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) }}
{{- $drain := int64 (include "capillary-bridge.drainSeconds" .) }}
{{- if le (int64 .Values.terminationGracePeriodSeconds) $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than the drain deadline config.pipeline.drain_timeout_ms (%d s), or Kubernetes kills the bridge mid-drain; leave it null to get drain + terminationGraceExtraSeconds" (int64 .Values.terminationGracePeriodSeconds) $drain) }}
{{- end }}
{{- end }}
{{- if .Values.platformCheck.enabled }}
{{- $cfg := .Values.config | default dict }}
{{- if not (or (dig "platform" "org_id" "" $cfg) (dig "sink" "platform" "ims_org_id" "" $cfg)) }}
{{- fail "platformCheck.enabled needs the Platform org id: set config.platform.org_id (or config.sink.platform.ims_org_id), and config.platform.sandbox when it is not prod" }}
{{- end }}
{{- end }}
{{- with .Values.podDisruptionBudget }}
{{- if and .enabled (eq (kindIs "invalid" .minAvailable) (kindIs "invalid" .maxUnavailable)) }}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (the other null)" }}
{{- end }}
{{- end }}
{{- if .Values.keda.enabled }}
{{- $kafka := dig "kafka" dict (.Values.config | default dict) }}
{{- if and (not .Values.keda.bootstrapServers) (contains "${" (toString (dig "brokers" "" $kafka))) }}
{{- fail "keda.bootstrapServers is needed: config.kafka.brokers uses ${ENV}, which the bridge expands but KEDA cannot" }}
{{- end }}
{{- if and (not .Values.keda.consumerGroup) (contains "${" (toString (dig "group_id" "" $kafka))) }}
{{- fail "keda.consumerGroup is needed: config.kafka.group_id uses ${ENV}, which the bridge expands but KEDA cannot" }}
{{- end }}
{{- if gt (int .Values.keda.minReplicaCount) (int .Values.keda.maxReplicaCount) }}
{{- fail "keda.minReplicaCount must not exceed keda.maxReplicaCount" }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- include "capillary-bridge.validateReceiver" . }}
{{- end }}

{{/* The receiver's cross-field checks (only when it is enabled). */}}
{{- define "capillary-bridge.validateReceiver" -}}
{{- with .Values.receiver }}
{{- if .enabled }}
{{- if and .auth.tokens .auth.existingSecret }}
{{- fail "set either receiver.auth.tokens or receiver.auth.existingSecret, not both" }}
{{- end }}
{{- if not (include "capillary-bridge.receiverTokensSecretName" $) }}
{{- range (dig "paths" list (.config | default dict)) }}
{{- $auth := (. | default dict).auth | default dict }}
{{- if not (or $auth.tokens $auth.tokens_file) }}
{{- fail "receiver.enabled needs the webhook tokens Capillary sends: set receiver.auth.tokens (a list; the chart makes a Secret) or receiver.auth.existingSecret (a Secret you manage, key receiver.auth.existingSecretKey, one token per line)" }}
{{- end }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" .terminationGracePeriodSeconds) }}
{{- $shutdown := int64 (include "capillary-bridge.receiverShutdownSeconds" $) }}
{{- if le (int64 .terminationGracePeriodSeconds) $shutdown }}
{{- fail (printf "receiver.terminationGracePeriodSeconds (%d) must be larger than receiver.preStopSleepSeconds + receiver.config.shutdown_timeout_ms (%d s), or Kubernetes kills the receiver while it finishes in-flight produces; leave it null to get that + receiver.terminationGraceExtraSeconds" (int64 .terminationGracePeriodSeconds) $shutdown) }}
{{- end }}
{{- end }}
{{- if and .autoscaling.enabled (gt (int .autoscaling.minReplicas) (int .autoscaling.maxReplicas)) }}
{{- fail "receiver.autoscaling.minReplicas must not exceed receiver.autoscaling.maxReplicas" }}
{{- end }}
{{- if and .podDisruptionBudget.enabled (eq (kindIs "invalid" .podDisruptionBudget.minAvailable) (kindIs "invalid" .podDisruptionBudget.maxUnavailable)) }}
{{- fail "receiver.podDisruptionBudget: set exactly one of minAvailable and maxUnavailable (the other null)" }}
{{- end }}
{{- if and .ingress.enabled (not .ingress.hosts) }}
{{- fail "receiver.ingress.enabled needs receiver.ingress.hosts: [{host: webhooks.example.com, paths: [{path: /capillary, pathType: Prefix}]}]" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The bridge pod's volume mounts (config, /tmp, secret files), shared by the Deployment and the
platform-check Job.
*/}}
{{- define "capillary-bridge.volumeMounts" -}}
{{- $dir := include "capillary-bridge.secretsDir" . }}
{{- $tlsFiles := include "capillary-bridge.kafkaTlsFiles" . | fromJsonArray -}}
- name: config
  mountPath: /etc/capillary-bridge
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if include "capillary-bridge.imsSecretName" . }}
- name: ims-secret
  mountPath: {{ $dir }}/ims
  readOnly: true
{{- end }}
{{- if include "capillary-bridge.kafkaSaslSecretName" . }}
- name: kafka-sasl
  mountPath: {{ $dir }}/kafka-sasl
  readOnly: true
{{- end }}
{{- if and .Values.kafkaTls.existingSecret $tlsFiles }}
- name: kafka-tls
  mountPath: {{ $dir }}/kafka-tls
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The volumes behind those mounts. dict: root (the chart context), configMap (the ConfigMap with
bridge.yaml), secret (the chart-made Secret: the release's, or the hook's copy for the Job),
configKey (the ConfigMap key mounted as bridge.yaml; default bridge.yaml, the receiver's is
receiver.yaml).
*/}}
{{- define "capillary-bridge.volumes" -}}
{{- $ := .root }}
{{- $tlsFiles := include "capillary-bridge.kafkaTlsFiles" $ | fromJsonArray }}
{{- $ims := "" }}
{{- if $.Values.ims.existingSecret }}{{ $ims = $.Values.ims.existingSecret }}{{ else if $.Values.ims.clientSecret }}{{ $ims = .secret }}{{ end }}
{{- $sasl := "" }}
{{- if $.Values.kafkaSasl.existingSecret }}{{ $sasl = $.Values.kafkaSasl.existingSecret }}{{ else if $.Values.kafkaSasl.password }}{{ $sasl = .secret }}{{ end -}}
- name: config
  configMap:
    name: {{ .configMap }}
    items:
      - key: {{ .configKey | default "bridge.yaml" }}
        path: bridge.yaml
- name: tmp
  emptyDir: {{ with $.Values.tmpVolume.sizeLimit }}{sizeLimit: {{ . }}}{{ else }}{}{{ end }}
{{- if $ims }}
- name: ims-secret
  secret:
    secretName: {{ $ims }}
    # 0440: readable through the pod's fsGroup, not by others.
    defaultMode: 288
    items:
      - key: {{ include "capillary-bridge.imsSecretKey" $ }}
        path: client-secret
{{- end }}
{{- if $sasl }}
- name: kafka-sasl
  secret:
    secretName: {{ $sasl }}
    defaultMode: 288
    items:
      - key: {{ include "capillary-bridge.kafkaSaslSecretKey" $ }}
        path: password
{{- end }}
{{- if and $.Values.kafkaTls.existingSecret $tlsFiles }}
- name: kafka-tls
  secret:
    secretName: {{ $.Values.kafkaTls.existingSecret }}
    defaultMode: 288
    items:
      {{- range $tlsFiles }}
      - key: {{ .key }}
        path: {{ .path }}
      {{- end }}
{{- end }}
{{- with $.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
