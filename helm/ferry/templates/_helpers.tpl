{{/* The chart's name. */}}
{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the prefix of every object. */}}
{{- define "ferry.fullname" -}}
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

{{- define "ferry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "ferry.labels" -}}
helm.sh/chart: {{ include "ferry.chart" . }}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferry
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of the release (every component). */}}
{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The components this release runs: "all" in allInOne mode, the five services
in microservices mode.
*/}}
{{- define "ferry.components" -}}
{{- if eq .Values.deploymentMode "allInOne" }}all{{ else }}profile ingest transform export delivery{{ end }}
{{- end }}

{{/* The name of a component's objects; call with (list $ "transform"). */}}
{{- define "ferry.componentName" -}}
{{- $root := index . 0 }}{{ $c := index . 1 }}
{{- if eq $c "all" }}{{ include "ferry.fullname" $root }}{{ else }}{{ printf "%s-%s" (include "ferry.fullname" $root | trunc 50 | trimSuffix "-") $c }}{{ end }}
{{- end }}

{{/* The selector labels of one component; call with (list $ "transform"). */}}
{{- define "ferry.componentSelector" -}}
{{- $root := index . 0 }}{{ $c := index . 1 -}}
{{ include "ferry.selectorLabels" $root }}
app.kubernetes.io/component: {{ if eq $c "all" }}all-in-one{{ else }}{{ $c }}{{ end }}
{{- end }}

{{- define "ferry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ferry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ferry.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret holding the database URL, the secret key, the NATS URL and the bootstrap key. */}}
{{- define "ferry.secretName" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.name }}{{ else }}{{ include "ferry.fullname" . }}{{ end }}
{{- end }}

{{/* Whether the chart renders its own Secret: inline secrets and no existingSecret. */}}
{{- define "ferry.rendersSecret" -}}
{{- if and (not .Values.existingSecret.name) (or .Values.secrets.databaseUrl .Values.secrets.secretKey .Values.secrets.natsUrl .Values.secrets.bootstrapKey) }}true{{ end }}
{{- end }}

{{/* Secret key names, whether from existingSecret or the chart's Secret ("" when absent). */}}
{{- define "ferry.databaseUrlKey" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.databaseUrlKey }}{{ else if .Values.secrets.databaseUrl }}database-url{{ end }}
{{- end }}
{{- define "ferry.secretKeyKey" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.secretKeyKey }}{{ else if .Values.secrets.secretKey }}secret-key{{ end }}
{{- end }}
{{- define "ferry.natsUrlKey" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.natsUrlKey }}{{ else if .Values.secrets.natsUrl }}nats-url{{ end }}
{{- end }}
{{- define "ferry.bootstrapKeyKey" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.bootstrapKeyKey }}{{ else if .Values.secrets.bootstrapKey }}bootstrap-key{{ end }}
{{- end }}

{{/* The bundled NATS chart's full name (the same rule as that chart's own helper). */}}
{{- define "ferry.natsFullname" -}}
{{- $nats := .Values.nats }}
{{- if $nats.fullnameOverride }}
{{- $nats.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "nats" $nats.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The NATS URL when it is not a secret: nats.url or the bundled chart's Service ("" for embedded or secret). */}}
{{- define "ferry.natsUrl" -}}
{{- if include "ferry.natsUrlKey" . }}
{{- else if .Values.nats.url }}{{ .Values.nats.url }}
{{- else if .Values.nats.enabled }}{{ printf "nats://%s.%s.svc:4222" (include "ferry.natsFullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* "true" when the processes run the embedded NATS server. */}}
{{- define "ferry.embeddedNats" -}}
{{- if not (or .Values.nats.enabled .Values.nats.url (include "ferry.natsUrlKey" .)) }}true{{ end }}
{{- end }}

{{/* The CloudNativePG Cluster's name. */}}
{{- define "ferry.cnpgName" -}}
{{- printf "%s-pg" (include "ferry.fullname" . | trunc 50 | trimSuffix "-") }}
{{- end }}

{{/*
The JetStream stream and durable consumer of each worker service, as
"STREAM/consumer" pairs (libs/bus/subjects.go). KEDA scales a service on the
largest lag of its consumers.
*/}}
{{- define "ferry.consumers" -}}
{{- $c := dict
  "profile" (list "FERRY_PROGRESS/profile-progress")
  "ingest" (list "FERRY_COMMANDS/ingest-import")
  "transform" (list "FERRY_CHUNKS/transform" "FERRY_EXPORT/transform-export")
  "export" (list "FERRY_COMMANDS/export")
  "delivery" (list "FERRY_RECORDS/delivery" "FERRY_EXPORT/delivery-export" "FERRY_COMMANDS/delivery-apply" "FERRY_EVENTS/delivery-events")
}}
{{- toJson $c }}
{{- end }}

{{/* The KEDA nats-jetstream scaler's monitoring endpoint. */}}
{{- define "ferry.natsMonitoringEndpoint" -}}
{{- if .Values.keda.natsMonitoringEndpoint }}{{ .Values.keda.natsMonitoringEndpoint }}
{{- else if .Values.nats.enabled }}{{ printf "%s-headless.%s.svc.cluster.local:8222" (include "ferry.natsFullname" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Whether a component needs PostgreSQL (every service but transform). */}}
{{- define "ferry.needsDatabase" -}}
{{- if ne . "transform" }}true{{ end }}
{{- end }}

{{/* Whether a component needs the secret key (profile, ingest and delivery). */}}
{{- define "ferry.needsSecretKey" -}}
{{- if has . (list "all" "profile" "ingest" "delivery") }}true{{ end }}
{{- end }}

{{/*
Checks the combinations the schema cannot express. Every template includes
it, so an impossible configuration renders nothing.
*/}}
{{- define "ferry.validate" -}}
{{- $embedded := include "ferry.embeddedNats" . }}
{{- if and .Values.nats.enabled (not (hasKey .Subcharts "nats")) }}
{{- fail "nats.enabled=true needs the NATS chart in charts/: run `helm dependency build helm/ferry`" }}
{{- end }}
{{- if and .Values.nats.url (include "ferry.natsUrlKey" .) }}
{{- fail "nats.url and a NATS URL secret (existingSecret.natsUrlKey or secrets.natsUrl) are both set: set one" }}
{{- end }}
{{- if and .Values.nats.enabled (or .Values.nats.url (include "ferry.natsUrlKey" .)) }}
{{- fail "nats.enabled=true installs NATS: leave nats.url and the NATS URL secret empty" }}
{{- end }}
{{- if and .Values.existingSecret.name (or .Values.secrets.databaseUrl .Values.secrets.secretKey .Values.secrets.natsUrl .Values.secrets.bootstrapKey) }}
{{- fail (printf "existingSecret.name=%s is set: leave secrets.* empty (the chart renders no Secret with it)" .Values.existingSecret.name) }}
{{- end }}
{{- if and .Values.postgresql.cnpg.enabled .Values.secrets.databaseUrl }}
{{- fail "postgresql.cnpg.enabled=true: the database URL comes from the CloudNativePG Cluster's secret; leave secrets.databaseUrl empty" }}
{{- end }}
{{- if not (or .Values.postgresql.cnpg.enabled (include "ferry.databaseUrlKey" .)) }}
{{- fail "no database: set existingSecret.name (with existingSecret.databaseUrlKey), secrets.databaseUrl or postgresql.cnpg.enabled=true" }}
{{- end }}
{{- if eq .Values.deploymentMode "allInOne" }}
{{- if and $embedded (gt (int .Values.allInOne.replicas) 1) }}
{{- fail (printf "allInOne.replicas=%d with the embedded NATS server: one replica only (each replica would run its own NATS); set nats.enabled=true or nats.url to scale" (int .Values.allInOne.replicas)) }}
{{- end }}
{{- if and $embedded .Values.allInOne.autoscaling.enabled }}
{{- fail "allInOne.autoscaling.enabled=true with the embedded NATS server: one replica only; set nats.enabled=true or nats.url to scale" }}
{{- end }}
{{- if and $embedded (not (kindIs "invalid" .Values.config.natsReplicas)) (gt (int .Values.config.natsReplicas) 1) }}
{{- fail (printf "config.natsReplicas=%d with the embedded NATS server, a single server: set nats.enabled=true or nats.url for a JetStream cluster" (int .Values.config.natsReplicas)) }}
{{- end }}
{{- else }}
{{- if $embedded }}
{{- fail "deploymentMode=microservices needs NATS: set nats.enabled=true, nats.url or existingSecret.natsUrlKey" }}
{{- end }}
{{- range $name := list "profile" "ingest" "transform" "export" "delivery" }}
{{- $a := (index $.Values.services $name).autoscaling }}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- fail (printf "services.%s.autoscaling: minReplicas=%d is above maxReplicas=%d" $name (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
{{- if and $a.enabled (eq $a.kind "keda") (not (include "ferry.natsMonitoringEndpoint" $)) }}
{{- fail (printf "services.%s.autoscaling.kind=keda with an external NATS: set keda.natsMonitoringEndpoint" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
