{{/* Names, labels and the pieces every pod shares. */}}

{{- define "ehr.fullname" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "ehr.labels" -}}
app.kubernetes.io/part-of: ehr
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* the labels that select the pods of one process: (list $ service component) */}}
{{- define "ehr.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/part-of: ehr
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/component: {{ index . 2 }}
{{- end -}}

{{/* a service's values merged over serviceDefaults (the service's win): (list $ name) */}}
{{- define "ehr.service" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- if not (hasKey $root.Values.services $name) -}}
{{- fail (printf "no service %q in services (known: %s)" $name (keys $root.Values.services | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $svc := deepCopy (index $root.Values.services $name) -}}
{{- $merged := include "ehr.fill" (list $svc (deepCopy $root.Values.serviceDefaults)) | fromYaml -}}
{{- if not $merged.schema }}{{ $_ := set $merged "schema" $name }}{{ end -}}
{{- toYaml $merged -}}
{{- end -}}

{{/* (list dst src): dst with every key it lacks taken from src, recursively. Unlike sprig's
     merge, a value dst sets (false, 0, "") is kept. */}}
{{- define "ehr.fill" -}}
{{- $dst := index . 0 -}}
{{- $src := index . 1 -}}
{{- range $key, $value := $src -}}
{{- if not (hasKey $dst $key) -}}
{{- $_ := set $dst $key $value -}}
{{- else if and (kindIs "map" $value) (kindIs "map" (index $dst $key)) -}}
{{- $_ := set $dst $key (include "ehr.fill" (list (index $dst $key) $value) | fromYaml) -}}
{{- end -}}
{{- end -}}
{{- toYaml $dst -}}
{{- end -}}

{{- define "ehr.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "ehr.databaseHost" -}}
{{- if .Values.database.create -}}
{{ include "ehr.fullname" . }}-pg-rw
{{- else -}}
{{ required "database.host is required when database.create is false" .Values.database.host }}
{{- end -}}
{{- end -}}

{{- define "ehr.kafkaBootstrap" -}}
{{- if .Values.kafka.create -}}
{{ include "ehr.fullname" . }}-kafka-kafka-bootstrap:{{ if .Values.kafka.tls.enabled }}9093{{ else }}9092{{ end }}
{{- else -}}
{{ required "kafka.bootstrapServers is required when kafka.create is false" .Values.kafka.bootstrapServers }}
{{- end -}}
{{- end -}}

{{/* Kafka client security (libs/config.py, EHR_KAFKA_*; deploy/README.md, "A secured Kafka").
     The protocol follows kafka.tls and kafka.sasl; the cluster CA and each service's KafkaUser
     credentials are Secrets mounted as files, never environment values. */}}
{{- define "ehr.kafkaProtocol" -}}
{{- $k := .Values.kafka -}}
{{- if and $k.sasl.enabled $k.tls.clientCertificate -}}
{{- fail "kafka.sasl.enabled and kafka.tls.clientCertificate exclude each other: a client authenticates with SCRAM or with its certificate (mTLS)" -}}
{{- end -}}
{{- if and $k.tls.clientCertificate (not $k.tls.enabled) -}}
{{- fail "kafka.tls.clientCertificate (mTLS) needs kafka.tls.enabled" -}}
{{- end -}}
{{- if and $k.create $k.sasl.enabled (ne $k.sasl.mechanism "SCRAM-SHA-512") -}}
{{- fail "a Kafka the chart creates (Strimzi) authenticates users with SCRAM-SHA-512 only: set kafka.sasl.mechanism to SCRAM-SHA-512" -}}
{{- end -}}
{{- if $k.tls.enabled -}}{{ ternary "SASL_SSL" "SSL" $k.sasl.enabled }}
{{- else -}}{{ ternary "SASL_PLAINTEXT" "PLAINTEXT" $k.sasl.enabled }}
{{- end -}}
{{- end -}}

{{/* the Secret with the cluster CA (key ca.crt): Strimzi names it <cluster>-cluster-ca-cert */}}
{{- define "ehr.kafkaCaSecret" -}}
{{- if .Values.kafka.tls.caSecret -}}
{{ .Values.kafka.tls.caSecret }}
{{- else if .Values.kafka.create -}}
{{ include "ehr.fullname" . }}-kafka-cluster-ca-cert
{{- end -}}
{{- end -}}

{{/* whether clients authenticate (SCRAM or mTLS): each then needs its KafkaUser's Secret */}}
{{- define "ehr.kafkaAuthenticates" -}}
{{- if or .Values.kafka.sasl.enabled .Values.kafka.tls.clientCertificate }}true{{ end -}}
{{- end -}}

{{/* a service's KafkaUser name (its SASL user name): (list $ service-name service-values);
     by default <release>-<service>-kafka, apart from the service's own existingSecret */}}
{{- define "ehr.kafkaUser" -}}
{{- $root := index . 0 -}}
{{- $user := (index . 2).kafkaUser | default dict -}}
{{- $user.name | default (printf "%s-%s-kafka" (include "ehr.fullname" $root) (index . 1 | replace "_" "-")) -}}
{{- end -}}

{{/* the Secret with a service's KafkaUser credentials (Strimzi: named as the user) */}}
{{- define "ehr.kafkaUserSecret" -}}
{{- $user := (index . 2).kafkaUser | default dict -}}
{{- $user.secret | default (include "ehr.kafkaUser" .) -}}
{{- end -}}

{{- define "ehr.otelEndpoint" -}}
{{- if .Values.telemetry.endpoint -}}
{{ .Values.telemetry.endpoint }}
{{- else if .Values.telemetry.collector.enabled -}}
http://{{ include "ehr.fullname" . }}-otel-collector:4318
{{- end -}}
{{- end -}}

{{- define "ehr.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ehr.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The database connection: the role's credentials from the service's Secret (keys username
     and password, the shape CloudNativePG's managed roles read too). (list $ service) */}}
{{- define "ehr.databaseEnv" -}}
{{- $root := index . 0 -}}
{{- $s := index . 1 -}}
- name: EHR_DB_USER
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret }}, key: username}}
- name: EHR_DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $s.existingSecret }}, key: password}}
- name: DATABASE_URL
  value: {{ printf "postgresql+asyncpg://$(EHR_DB_USER):$(EHR_DB_PASSWORD)@%s:%d/%s" (include "ehr.databaseHost" $root) (int $root.Values.database.port) $root.Values.database.name | quote }}
- name: PGSSLMODE
  value: {{ $root.Values.database.sslMode | quote }}
{{- if $root.Values.database.caSecret }}
- name: PGSSLROOTCERT
  value: /etc/ehr/pg-ca/ca.crt
{{- end }}
{{- end -}}

{{/* Volumes every pod has: a writable /tmp (the root filesystem is read-only) and the CAs. */}}
{{- define "ehr.volumes" -}}
- name: tmp
  emptyDir: {sizeLimit: 256Mi}
{{- if .Values.database.caSecret }}
- name: pg-ca
  secret: {secretName: {{ .Values.database.caSecret }}}
{{- end }}
{{- if and .Values.kafka.tls.enabled (include "ehr.kafkaCaSecret" .) }}
- name: kafka-ca
  secret:
    secretName: {{ include "ehr.kafkaCaSecret" . }}
    items: [{key: ca.crt, path: ca.crt}]
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "ehr.volumeMounts" -}}
- {name: tmp, mountPath: /tmp}
{{- if .Values.database.caSecret }}
- {name: pg-ca, mountPath: /etc/ehr/pg-ca, readOnly: true}
{{- end }}
{{- if and .Values.kafka.tls.enabled (include "ehr.kafkaCaSecret" .) }}
- {name: kafka-ca, mountPath: /etc/ehr/kafka-ca, readOnly: true}
{{- end }}
{{- end -}}

{{/* One container running `ehr <args>`: (dict "root" $ "s" service "name" n "args" list
     "resources" r "http" bool) */}}
{{- define "ehr.container" -}}
{{- $root := .root -}}
- name: {{ .container | default "ehr" }}
  image: {{ include "ehr.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  args: {{ toJson .args }}
  envFrom:
    - configMapRef: {name: {{ include "ehr.fullname" $root }}-{{ .name | replace "_" "-" }}}
    - secretRef: {name: {{ .s.existingSecret }}}
  env:
    {{- include "ehr.databaseEnv" (list $root .s) | nindent 4 }}
    {{- if .data }}
    - {name: EHR_LOCAL_DIR, value: /data}
    {{- end }}
  {{- if .http }}
  ports:
    - {name: http, containerPort: {{ .s.port }}, protocol: TCP}
  startupProbe:
    httpGet: {path: /health, port: http}
    {{- toYaml $root.Values.probes.startup | nindent 4 }}
  livenessProbe:
    httpGet: {path: /health, port: http}
    {{- toYaml $root.Values.probes.liveness | nindent 4 }}
  {{- else }}
  livenessProbe:
    exec: {command: [python, -m, cli.probe, alive]}
    {{- toYaml $root.Values.probes.liveness | nindent 4 }}
  {{- end }}
  readinessProbe:
    exec: {command: [python, -m, cli.probe, ready]}
    {{- toYaml $root.Values.probes.readiness | nindent 4 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- include "ehr.containerSecurityContext" $root | nindent 4 }}
  volumeMounts:
    {{- include "ehr.volumeMounts" $root | nindent 4 }}
    {{- if .data }}
    - {name: data, mountPath: /data}
    {{- end }}
    {{- if include "ehr.kafkaAuthenticates" $root }}
    - {name: kafka-user, mountPath: /etc/ehr/kafka-user, readOnly: true}
    {{- end }}
{{- end -}}

{{/* The pod spec around one container: (same dict as ehr.container) */}}
{{- define "ehr.podSpec" -}}
serviceAccountName: {{ include "ehr.fullname" .root }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets: {{ toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "ehr.podSecurityContext" .root | nindent 2 }}
terminationGracePeriodSeconds: 30
containers:
  {{- include "ehr.container" . | nindent 2 }}
volumes:
  {{- include "ehr.volumes" .root | nindent 2 }}
  {{- if include "ehr.kafkaAuthenticates" .root }}
  - name: kafka-user
    secret:
      secretName: {{ include "ehr.kafkaUserSecret" (list .root .name .s) }}
      items:
        {{- if .root.Values.kafka.sasl.enabled }}
        - {key: password, path: password}
        {{- else }}
        - {key: user.crt, path: user.crt}
        - {key: user.key, path: user.key}
        {{- end }}
      defaultMode: 0440
  {{- end }}
{{- end -}}

{{/* The APIs a service calls with the user's token (services.<name>.calls), checked: each an
     enabled API other than itself. (list $ name service-values) -> {peers: [{name, port, url}]} */}}
{{- define "ehr.peers" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $peers := list -}}
{{- range $peer := (index . 2).calls | default list -}}
{{- if eq $peer $name -}}
{{- fail (printf "services.%s.calls names %s itself" $name $name) -}}
{{- end -}}
{{- if not (hasKey $root.Values.services $peer) -}}
{{- fail (printf "services.%s.calls: there is no service %q (known: %s)" $name $peer (keys $root.Values.services | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $p := include "ehr.service" (list $root $peer) | fromYaml -}}
{{- if not $p.enabled -}}
{{- fail (printf "services.%s.calls: %s is disabled (services.%s.enabled: false); enable it or remove it from the calls" $name $peer $peer) -}}
{{- end -}}
{{- if ne $p.kind "api" -}}
{{- fail (printf "services.%s.calls: %s has no HTTP API (kind: %s)" $name $peer $p.kind) -}}
{{- end -}}
{{- $peers = append $peers (dict "name" $peer "port" $p.port
      "url" (printf "http://%s-%s:%v" (include "ehr.fullname" $root) ($peer | replace "_" "-") $p.port)) -}}
{{- end -}}
{{- toYaml (dict "peers" $peers) -}}
{{- end -}}
