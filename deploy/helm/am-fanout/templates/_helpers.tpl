{{/* Names and labels. */}}
{{- define "am-fanout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "am-fanout.fullname" -}}
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

{{- define "am-fanout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "am-fanout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "am-fanout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "am-fanout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: am-fanout
{{- end }}

{{- define "am-fanout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "am-fanout.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "am-fanout.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Paths inside the container. Volumes are not nested in one another:
     a mount point inside a read-only configMap volume cannot be created. */}}
{{- define "am-fanout.configDir" -}}/etc/am-fanout{{- end }}
{{- define "am-fanout.targetsDir" -}}/etc/am-fanout-targets{{- end }}
{{- define "am-fanout.webConfigDir" -}}/etc/am-fanout-web{{- end }}
{{- define "am-fanout.storageDir" -}}/var/lib/am-fanout{{- end }}
{{- define "am-fanout.natsAuthDir" -}}/etc/am-fanout-nats-auth{{- end }}
{{- define "am-fanout.natsTLSDir" -}}/etc/am-fanout-nats-tls{{- end }}

{{/* Whether the workload claims a PersistentVolumeClaim for the bbolt
     store: standalone mode only, and only for bbolt. */}}
{{- define "am-fanout.persistent" -}}
{{- if and (eq .Values.mode "standalone") (eq .Values.storage.backend "bbolt") .Values.persistence.enabled }}true{{- end }}
{{- end }}

{{/* What survives the pod's deletion: "shared" (NATS), "persistent" (a
     claim) or "ephemeral" (bbolt on an emptyDir). The ServiceMonitor puts
     it on every series as the label storage, for the alerting rules. */}}
{{- define "am-fanout.storageKind" -}}
{{- if eq .Values.storage.backend "nats" }}shared
{{- else if include "am-fanout.persistent" . }}persistent
{{- else }}ephemeral
{{- end }}
{{- end }}

{{/* Values the templates cannot express as types, checked once. */}}
{{- define "am-fanout.validate" -}}
{{- if not (has .Values.mode (list "standalone" "sidecar")) }}
{{- fail (printf "mode must be standalone or sidecar, not %q" .Values.mode) }}
{{- end }}
{{- if not (has .Values.storage.backend (list "bbolt" "nats")) }}
{{- fail (printf "storage.backend must be bbolt or nats, not %q" .Values.storage.backend) }}
{{- end }}
{{- if hasKey .Values.config "storage" }}
{{- fail "config.storage: set the storage values instead (storage.backend, storage.nats); the chart renders the config's storage block" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (ne .Values.storage.backend "nats") }}
{{- fail (printf "replicaCount %d needs storage.backend nats: with bbolt every replica keeps its own outbox and dedup log" (int .Values.replicaCount)) }}
{{- end }}
{{- if eq .Values.storage.backend "nats" }}
{{- $n := .Values.storage.nats }}
{{- if not $n.servers }}
{{- fail "storage.nats.servers: storage.backend nats needs at least one NATS URL" }}
{{- end }}
{{- $keys := list }}
{{- range $k := list "credentialsKey" "nkeyKey" "tokenKey" }}
{{- if get $n.auth $k }}{{ $keys = append $keys $k }}{{ end }}
{{- end }}
{{- if gt (len $keys) 1 }}
{{- fail (printf "storage.nats.auth: set at most one of credentialsKey, nkeyKey and tokenKey, not %s" (join ", " $keys)) }}
{{- end }}
{{- if and $keys (not $n.auth.existingSecret) }}
{{- fail (printf "storage.nats.auth.%s needs storage.nats.auth.existingSecret, the Secret holding it" (first $keys)) }}
{{- end }}
{{- if and $n.auth.existingSecret (not $keys) }}
{{- fail "storage.nats.auth.existingSecret needs credentialsKey, nkeyKey or tokenKey: the key to mount" }}
{{- end }}
{{- if and $n.tls.existingSecret (not $n.tls.enabled) }}
{{- fail "storage.nats.tls.existingSecret is set but storage.nats.tls.enabled is false" }}
{{- end }}
{{- if and $n.tls.enabled (or $n.tls.certKey $n.tls.keyKey) (not (and $n.tls.certKey $n.tls.keyKey)) }}
{{- fail "storage.nats.tls: mutual TLS needs both certKey and keyKey" }}
{{- end }}
{{- if and $n.tls.enabled (or $n.tls.certKey $n.tls.keyKey) (not $n.tls.existingSecret) }}
{{- fail "storage.nats.tls.certKey and keyKey need storage.nats.tls.existingSecret, the Secret holding them" }}
{{- end }}
{{- end }}
{{- $shutdown := add (int .Values.shutdown.preStopSleepSeconds) (int .Values.shutdown.timeoutSeconds) }}
{{- if and (eq .Values.mode "standalone") (lt (int .Values.terminationGracePeriodSeconds) (add $shutdown 5)) }}
{{- fail (printf "terminationGracePeriodSeconds %d is too short: the preStop sleep (%ds) and the shutdown timeout (%ds) need %d with a margin of 5" (int .Values.terminationGracePeriodSeconds) (int .Values.shutdown.preStopSleepSeconds) (int .Values.shutdown.timeoutSeconds) (add $shutdown 5)) }}
{{- end }}
{{- end }}

{{/* The config file: .Values.config with the storage block of
     .Values.storage. bbolt is am-fanout's default and renders nothing. */}}
{{- define "am-fanout.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- if eq .Values.storage.backend "nats" }}
{{- $n := .Values.storage.nats }}
{{- $nats := dict "servers" $n.servers "replicas" (int $n.replicas) }}
{{- with $n.streamPrefix }}{{ $_ := set $nats "stream_prefix" . }}{{ end }}
{{- with $n.duplicateWindow }}{{ $_ := set $nats "duplicate_window" . }}{{ end }}
{{- with $n.connectTimeout }}{{ $_ := set $nats "connect_timeout" . }}{{ end }}
{{- $dir := include "am-fanout.natsAuthDir" . }}
{{- with $n.auth.credentialsKey }}{{ $_ := set $nats "credentials_file" (printf "%s/%s" $dir .) }}{{ end }}
{{- with $n.auth.nkeyKey }}{{ $_ := set $nats "nkey_file" (printf "%s/%s" $dir .) }}{{ end }}
{{- with $n.auth.tokenKey }}{{ $_ := set $nats "token_file" (printf "%s/%s" $dir .) }}{{ end }}
{{- if $n.tls.enabled }}
{{- $tls := dict }}
{{- $tlsDir := include "am-fanout.natsTLSDir" . }}
{{- if $n.tls.existingSecret }}
{{- with $n.tls.caKey }}{{ $_ := set $tls "ca_file" (printf "%s/%s" $tlsDir .) }}{{ end }}
{{- with $n.tls.certKey }}{{ $_ := set $tls "cert_file" (printf "%s/%s" $tlsDir .) }}{{ end }}
{{- with $n.tls.keyKey }}{{ $_ := set $tls "key_file" (printf "%s/%s" $tlsDir .) }}{{ end }}
{{- end }}
{{- with $n.tls.serverName }}{{ $_ := set $tls "server_name" . }}{{ end }}
{{- if $n.tls.insecureSkipVerify }}{{ $_ := set $tls "insecure_skip_verify" true }}{{ end }}
{{- $_ := set $nats "tls_config" $tls }}
{{- end }}
{{- $_ := set $cfg "storage" (dict "backend" "nats" "nats" $nats) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The Secret of one chart-managed target. */}}
{{- define "am-fanout.targetSecretName" -}}
{{- printf "%s-target-%s" (include "am-fanout.fullname" .root) .target.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Whether any target Secret is mounted. */}}
{{- define "am-fanout.hasTargetSecrets" -}}
{{- if or .Values.targets .Values.existingTargetSecrets }}true{{- end }}
{{- end }}

{{/* The am-fanout container: used by the standalone workload and printed
     by NOTES.txt for the Alertmanager pod in sidecar mode. */}}
{{- define "am-fanout.container" -}}
name: am-fanout
image: {{ include "am-fanout.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args:
  - --config.file={{ include "am-fanout.configDir" . }}/am-fanout.yml
  - --storage.path={{ include "am-fanout.storageDir" . }}
  - --web.listen-address=:{{ .Values.port }}
  - --log.level={{ .Values.log.level }}
  - --log.format={{ .Values.log.format }}
  - --web.shutdown-timeout={{ int .Values.shutdown.timeoutSeconds }}s
  {{- if include "am-fanout.hasTargetSecrets" . }}
  - --targets.dir={{ include "am-fanout.targetsDir" . }}
  {{- end }}
  {{- if .Values.webConfigSecret }}
  - --web.config.file={{ include "am-fanout.webConfigDir" . }}/web-config.yml
  {{- end }}
  {{- with .Values.extraArgs }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.extraEnv }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with int .Values.shutdown.preStopSleepSeconds }}
lifecycle:
  {{- /* Endpoints drop the pod while it sleeps; SIGTERM comes after. */}}
  preStop:
    sleep:
      seconds: {{ . }}
{{- end }}
ports:
  {{- /* Port names are unique per pod; "http" is Alertmanager's. */}}
  - name: am-fanout
    containerPort: {{ .Values.port }}
    protocol: TCP
livenessProbe:
  {{- toYaml .Values.livenessProbe | nindent 2 }}
readinessProbe:
  {{- toYaml .Values.readinessProbe | nindent 2 }}
resources:
  {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: am-fanout-config
    mountPath: {{ include "am-fanout.configDir" . }}
    readOnly: true
  {{- if include "am-fanout.hasTargetSecrets" . }}
  - name: am-fanout-targets
    mountPath: {{ include "am-fanout.targetsDir" . }}
    readOnly: true
  {{- end }}
  {{- if .Values.webConfigSecret }}
  - name: am-fanout-web-config
    mountPath: {{ include "am-fanout.webConfigDir" . }}
    readOnly: true
  {{- end }}
  {{- if and (eq .Values.storage.backend "nats") .Values.storage.nats.auth.existingSecret }}
  - name: am-fanout-nats-auth
    mountPath: {{ include "am-fanout.natsAuthDir" . }}
    readOnly: true
  {{- end }}
  {{- if and (eq .Values.storage.backend "nats") .Values.storage.nats.tls.enabled .Values.storage.nats.tls.existingSecret }}
  - name: am-fanout-nats-tls
    mountPath: {{ include "am-fanout.natsTLSDir" . }}
    readOnly: true
  {{- end }}
  - name: am-fanout-storage
    mountPath: {{ include "am-fanout.storageDir" . }}
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* The pod volumes of the container above. withStorage=false leaves out
     the storage volume, which a StatefulSet claims instead. Every projected
     Secret lands as <secret name>.yml, so two Secrets never collide; the
     kubelet's ..data symlinks are hidden files am-fanout skips. */}}
{{- define "am-fanout.volumes" -}}
{{- $root := .root -}}
- name: am-fanout-config
  configMap:
    name: {{ include "am-fanout.fullname" $root }}
{{- if include "am-fanout.hasTargetSecrets" $root }}
- name: am-fanout-targets
  projected:
    defaultMode: 0444
    sources:
      {{- range $root.Values.targets }}
      {{- $secret := include "am-fanout.targetSecretName" (dict "root" $root "target" .) }}
      - secret:
          name: {{ $secret }}
          items:
            - key: targets.yml
              path: {{ $secret }}.yml
      {{- end }}
      {{- range $root.Values.existingTargetSecrets }}
      - secret:
          name: {{ required "existingTargetSecrets[].name is required" .name }}
          items:
            - key: {{ default "targets.yml" .key }}
              path: {{ .name }}.yml
      {{- end }}
{{- end }}
{{- if $root.Values.webConfigSecret }}
- name: am-fanout-web-config
  secret:
    secretName: {{ $root.Values.webConfigSecret }}
    defaultMode: 0444
    items:
      - key: web-config.yml
        path: web-config.yml
{{- end }}
{{- $nats := $root.Values.storage.nats }}
{{- if and (eq $root.Values.storage.backend "nats") $nats.auth.existingSecret }}
{{- $key := coalesce $nats.auth.credentialsKey $nats.auth.nkeyKey $nats.auth.tokenKey }}
- name: am-fanout-nats-auth
  secret:
    secretName: {{ $nats.auth.existingSecret }}
    defaultMode: 0444
    items:
      - key: {{ $key }}
        path: {{ $key }}
{{- end }}
{{- if and (eq $root.Values.storage.backend "nats") $nats.tls.enabled $nats.tls.existingSecret }}
- name: am-fanout-nats-tls
  secret:
    secretName: {{ $nats.tls.existingSecret }}
    defaultMode: 0444
    items:
      {{- range $k := compact (list $nats.tls.caKey $nats.tls.certKey $nats.tls.keyKey) }}
      - key: {{ $k }}
        path: {{ $k }}
      {{- end }}
{{- end }}
{{- if .withStorage }}
- name: am-fanout-storage
  emptyDir:
    {{- toYaml $root.Values.emptyDir | nindent 4 }}
{{- end }}
{{- with $root.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
