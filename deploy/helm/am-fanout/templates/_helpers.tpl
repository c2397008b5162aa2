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
{{- if .withStorage }}
- name: am-fanout-storage
  emptyDir:
    {{- toYaml $root.Values.emptyDir | nindent 4 }}
{{- end }}
{{- with $root.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
