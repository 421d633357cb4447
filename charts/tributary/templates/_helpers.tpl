{{/*
tributary.name is the chart name, or nameOverride.
*/}}
{{- define "tributary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 42 | trimSuffix "-" }}
{{- end }}

{{/*
tributary.fullname prefixes every object name. It is at most 42 characters so that the longest
derived name (<fullname>-nats-headless, a StatefulSet pod name) stays within the 63 of a DNS label.
*/}}
{{- define "tributary.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 42 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tributary.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
tributary.selectorLabels selects the pods of one component. Call with (dict "ctx" $ "component" "edge").
*/}}
{{- define "tributary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tributary.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
tributary.labels are the labels of every object of one component. Call as tributary.selectorLabels.
*/}}
{{- define "tributary.labels" -}}
{{ include "tributary.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tributary
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "tributary.chart" .ctx }}
{{- end }}

{{/*
tributary.image is the image of one of the project's programs (edge, controller, load). Call with
(dict "ctx" $ "program" "edge").
*/}}
{{- define "tributary.image" -}}
{{- $repo := printf "tributary/%s" .program }}
{{- with .ctx.Values.image.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- printf "%s:%s" $repo (default .ctx.Chart.AppVersion .ctx.Values.image.tag) }}
{{- end }}

{{- define "tributary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tributary.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tributary.natsName" -}}
{{- printf "%s-nats" (include "tributary.fullname" .) }}
{{- end }}

{{- define "tributary.etcdName" -}}
{{- printf "%s-etcd" (include "tributary.fullname" .) }}
{{- end }}

{{/*
tributary.natsURL is the programs' nats_url: the bundled NATS Service (clients learn the other
servers from it), or the external URLs.
*/}}
{{- define "tributary.natsURL" -}}
{{- if .Values.nats.bundled.enabled }}
{{- printf "nats://%s:4222" (include "tributary.natsName" .) }}
{{- else }}
{{- join "," .Values.nats.external.urls }}
{{- end }}
{{- end }}

{{/*
tributary.etcdEndpoints is the programs' etcd_endpoints: every bundled member through the headless
Service (the client balances and fails over between them), or the external endpoints.
*/}}
{{- define "tributary.etcdEndpoints" -}}
{{- if .Values.etcd.bundled.enabled }}
{{- $name := include "tributary.etcdName" . }}
{{- $eps := list }}
{{- range $i := until (int .Values.etcd.bundled.replicas) }}
{{- $eps = append $eps (printf "%s-%d.%s-headless:2379" $name $i $name) }}
{{- end }}
{{- join "," $eps }}
{{- else }}
{{- join "," .Values.etcd.external.endpoints }}
{{- end }}
{{- end }}

{{/*
tributary.edgeGracePeriod is the edges' terminationGracePeriodSeconds: the preStop sleep, the drain
and the steps after it.
*/}}
{{- define "tributary.edgeGracePeriod" -}}
{{- add (int .Values.edge.preStopSleepSeconds) (int .Values.edge.drainTimeoutSeconds) (int .Values.edge.shutdownMarginSeconds) }}
{{- end }}

{{/*
tributary.edgeConfig is the edge's YAML configuration file (keys as in `edge -h`).
*/}}
{{- define "tributary.edgeConfig" -}}
{{- $c := dict
  "rtmp_addr" ":1935"
  "http_addr" ":8080"
  "etcd_endpoints" (include "tributary.etcdEndpoints" .)
  "bus_prefix" .Values.busPrefix
  "lease_ttl" .Values.cluster.leaseTTL
  "reconnect_grace" .Values.cluster.reconnectGrace
  "publish_policy" .Values.edge.publishPolicy
  "gop_cache" .Values.edge.gopCache
  "player_queue" .Values.edge.playerQueue
  "player_max_lag" .Values.edge.playerMaxLag
  "drain_timeout" (printf "%ds" (int .Values.edge.drainTimeoutSeconds))
  "log_level" .Values.log.level
  "log_format" .Values.log.format
}}
{{- $l := .Values.edge.limits }}
{{- range $value, $key := dict "maxConns" "max_conns" "maxConnsPerIP" "max_conns_per_ip" "maxPublishers" "max_publishers" "maxPlayersPerStream" "max_players_per_stream" }}
{{- if not (kindIs "invalid" (index $l $value)) }}
{{- $_ := set $c $key (int64 (index $l $value)) }}
{{- end }}
{{- end }}
{{- range $value, $key := dict "maxPublishBitrate" "max_publish_bitrate" "handshakeTimeout" "handshake_timeout" "connectTimeout" "connect_timeout" "idleTimeout" "idle_timeout" }}
{{- $v := index $l $value }}
{{- if kindIs "string" $v }}
{{- $_ := set $c $key $v }}
{{- else if not (kindIs "invalid" $v) }}
{{- $_ := set $c $key (int64 $v) }}
{{- end }}
{{- end }}
{{- with .Values.edge.auth }}
{{- $_ := set $c "auth" (deepCopy .) }}
{{- end }}
{{- $c = merge $c (include "tributary.backendSecurityConfig" . | fromYaml) }}
{{- if not .Values.nats.external.existingSecret }}
{{- $_ := set $c "nats_url" (include "tributary.natsURL" .) }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- $_ := set $c "rtmps_addr" ":1936" }}
{{- $_ := set $c "tls_cert" "/etc/tributary/tls/tls.crt" }}
{{- $_ := set $c "tls_key" "/etc/tributary/tls/tls.key" }}
{{- end }}
{{- toYaml (merge (deepCopy .Values.edge.extraConfig) $c) }}
{{- end }}

{{/*
tributary.controllerConfig is the controller's YAML configuration file (keys as in `controller -h`).
*/}}
{{- define "tributary.controllerConfig" -}}
{{- $c := dict
  "http_addr" (printf ":%d" (int .Values.controller.service.port))
  "etcd_endpoints" (include "tributary.etcdEndpoints" .)
  "bus_prefix" .Values.busPrefix
  "lease_ttl" .Values.cluster.leaseTTL
  "reconnect_grace" .Values.cluster.reconnectGrace
  "reap_grace" .Values.controller.reapGrace
  "log_level" .Values.log.level
  "log_format" .Values.log.format
}}
{{- $c = merge $c (include "tributary.backendSecurityConfig" . | fromYaml) }}
{{- if not .Values.nats.external.existingSecret }}
{{- $_ := set $c "nats_url" (include "tributary.natsURL" .) }}
{{- end }}
{{- toYaml (merge (deepCopy .Values.controller.extraConfig) $c) }}
{{- end }}

{{/*
tributary.backendSecurityConfig holds the settings, shared by the edges and the controllers, that
authenticate them to external NATS and etcd servers and turn TLS on: user names and the paths of the
files mounted from nats.external.filesSecret and etcd.external.filesSecret. Passwords and tokens
are not here: tributary.env gives them from their Secrets.
*/}}
{{- define "tributary.backendSecurityConfig" -}}
{{- $c := dict }}
{{- $n := .Values.nats.external }}
{{- with $n.user }}{{ $_ := set $c "nats_user" . }}{{ end }}
{{- range $value, $key := dict "nkeyFile" "nats_nkey_file" "credsFile" "nats_creds_file" }}
{{- with get $n $value }}{{ $_ := set $c $key (printf "/etc/tributary/nats/%s" .) }}{{ end }}
{{- end }}
{{- range $value, $key := dict "ca" "nats_tls_ca" "cert" "nats_tls_cert" "key" "nats_tls_key" }}
{{- with get $n.tls $value }}{{ $_ := set $c $key (printf "/etc/tributary/nats/%s" .) }}{{ end }}
{{- end }}
{{- with $n.tls.serverName }}{{ $_ := set $c "nats_tls_server_name" . }}{{ end }}
{{- $e := .Values.etcd.external }}
{{- with $e.user }}{{ $_ := set $c "etcd_user" . }}{{ end }}
{{- range $value, $key := dict "ca" "etcd_tls_ca" "cert" "etcd_tls_cert" "key" "etcd_tls_key" }}
{{- with get $e.tls $value }}{{ $_ := set $c $key (printf "/etc/tributary/etcd/%s" .) }}{{ end }}
{{- end }}
{{- if $c }}
{{- toYaml $c }}
{{- end }}
{{- end }}

{{/*
tributary.backendMounts are the volume mounts of the Secrets with the NATS and etcd credential
files, for the edge and controller containers; tributary.backendVolumes are their volumes. The
directories are mounted whole (no subPath), so that renewed certificates reach the pods.
*/}}
{{- define "tributary.backendMounts" -}}
{{- if .Values.nats.external.filesSecret }}
- name: nats-credentials
  mountPath: /etc/tributary/nats
  readOnly: true
{{- end }}
{{- if .Values.etcd.external.filesSecret }}
- name: etcd-credentials
  mountPath: /etc/tributary/etcd
  readOnly: true
{{- end }}
{{- end }}

{{- define "tributary.backendVolumes" -}}
{{- with .Values.nats.external.filesSecret }}
- name: nats-credentials
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- with .Values.etcd.external.filesSecret }}
- name: etcd-credentials
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/*
tributary.env is the environment of the edge and controller containers: the pod's identity from the
downward API, the standard OTel variables, and the NATS URL from a Secret when one is given. Call
with (dict "ctx" $ "service" "tributary-edge").
*/}}
{{- define "tributary.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
{{- $attrs := list "k8s.pod.name=$(POD_NAME)" "k8s.namespace.name=$(POD_NAMESPACE)" }}
{{- range $k, $v := .ctx.Values.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- with .ctx.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .ctx.Values.nats.external.existingSecret }}
- name: TRIBUTARY_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.ctx.Values.nats.external.existingSecretKey }}
{{- end }}
{{- $secrets := list
  (list "TRIBUTARY_NATS_PASSWORD" .ctx.Values.nats.external.passwordSecret)
  (list "TRIBUTARY_NATS_TOKEN" .ctx.Values.nats.external.tokenSecret)
  (list "TRIBUTARY_ETCD_PASSWORD" .ctx.Values.etcd.external.passwordSecret)
}}
{{- range $secrets }}
{{- $ref := index . 1 }}
{{- if $ref.name }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
{{- end }}
{{- end }}

{{/*
tributary.affinity is a pod's affinity: the given one, else a pod anti-affinity over nodes, soft or
hard, between the pods of the component. Call with (dict "ctx" $ "component" "edge" "affinity"
.Values.edge.affinity "mode" .Values.edge.antiAffinity).
*/}}
{{- define "tributary.affinity" -}}
{{- if .affinity }}
affinity:
  {{- toYaml .affinity | nindent 2 }}
{{- else if eq .mode "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "tributary.selectorLabels" . | nindent 14 }}
{{- else if eq .mode "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tributary.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end }}

{{/*
tributary.tlsSecretName is the Secret holding the RTMPS certificate.
*/}}
{{- define "tributary.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "tributary.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{/*
tributary.validate fails the render on combinations of values the schema cannot express.
*/}}
{{- define "tributary.validate" -}}
{{- if and (not .Values.nats.bundled.enabled) (not .Values.nats.external.urls) (not .Values.nats.external.existingSecret) }}
{{- fail "nats: set nats.external.urls (or nats.external.existingSecret) when nats.bundled.enabled is false" }}
{{- end }}
{{- if and .Values.nats.bundled.enabled (or .Values.nats.external.urls .Values.nats.external.existingSecret) }}
{{- fail "nats: nats.external.* is set while nats.bundled.enabled is true; disable one" }}
{{- end }}
{{- if and (not .Values.etcd.bundled.enabled) (not .Values.etcd.external.endpoints) }}
{{- fail "etcd: set etcd.external.endpoints when etcd.bundled.enabled is false" }}
{{- end }}
{{- if and .Values.etcd.bundled.enabled .Values.etcd.external.endpoints }}
{{- fail "etcd: etcd.external.endpoints is set while etcd.bundled.enabled is true; disable one" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) (or (not .Values.tls.cert) (not .Values.tls.key)) }}
{{- fail "tls: tls.enabled needs tls.existingSecret, or both tls.cert and tls.key" }}
{{- end }}
{{- if and .Values.tls.existingSecret (or .Values.tls.cert .Values.tls.key) }}
{{- fail "tls: give tls.existingSecret or tls.cert and tls.key, not both" }}
{{- end }}
{{- $n := .Values.nats.external }}
{{- $natsSecurity := or $n.user $n.passwordSecret.name $n.tokenSecret.name $n.filesSecret $n.nkeyFile $n.credsFile $n.tls.ca $n.tls.cert $n.tls.key $n.tls.serverName }}
{{- if and .Values.nats.bundled.enabled $natsSecurity }}
{{- fail "nats: nats.external credentials or TLS are set while nats.bundled.enabled is true; the bundled NATS takes neither" }}
{{- end }}
{{- if and $n.user (not $n.passwordSecret.name) }}
{{- fail "nats: nats.external.user needs nats.external.passwordSecret.name" }}
{{- end }}
{{- if and $n.passwordSecret.name (not $n.user) }}
{{- fail "nats: nats.external.passwordSecret needs nats.external.user" }}
{{- end }}
{{- $methods := 0 }}
{{- range (list $n.user $n.tokenSecret.name $n.nkeyFile $n.credsFile) }}{{ if . }}{{ $methods = add1 $methods }}{{ end }}{{ end }}
{{- if gt $methods 1 }}
{{- fail "nats: give one of nats.external.user (with passwordSecret), tokenSecret, nkeyFile and credsFile" }}
{{- end }}
{{- if and (or $n.nkeyFile $n.credsFile $n.tls.ca $n.tls.cert $n.tls.key) (not $n.filesSecret) }}
{{- fail "nats: nats.external.nkeyFile, credsFile and tls.ca/cert/key are keys of nats.external.filesSecret, which is empty" }}
{{- end }}
{{- if and $n.filesSecret (not (or $n.nkeyFile $n.credsFile $n.tls.ca $n.tls.cert $n.tls.key)) }}
{{- fail "nats: nats.external.filesSecret is set but no file of it is used (nkeyFile, credsFile, tls.ca, tls.cert, tls.key)" }}
{{- end }}
{{- if ne (not $n.tls.cert) (not $n.tls.key) }}
{{- fail "nats: nats.external.tls.cert and tls.key go together" }}
{{- end }}
{{- $e := .Values.etcd.external }}
{{- $etcdSecurity := or $e.user $e.passwordSecret.name $e.filesSecret $e.tls.ca $e.tls.cert $e.tls.key }}
{{- if and .Values.etcd.bundled.enabled $etcdSecurity }}
{{- fail "etcd: etcd.external credentials or TLS are set while etcd.bundled.enabled is true; the bundled etcd takes neither" }}
{{- end }}
{{- if ne (not $e.user) (not $e.passwordSecret.name) }}
{{- fail "etcd: etcd.external.user and etcd.external.passwordSecret.name go together" }}
{{- end }}
{{- if and (or $e.tls.ca $e.tls.cert $e.tls.key) (not $e.filesSecret) }}
{{- fail "etcd: etcd.external.tls.ca/cert/key are keys of etcd.external.filesSecret, which is empty" }}
{{- end }}
{{- if and $e.filesSecret (not (or $e.tls.ca $e.tls.cert $e.tls.key)) }}
{{- fail "etcd: etcd.external.filesSecret is set but no file of it is used (tls.ca, tls.cert, tls.key)" }}
{{- end }}
{{- if ne (not $e.tls.cert) (not $e.tls.key) }}
{{- fail "etcd: etcd.external.tls.cert and tls.key go together" }}
{{- end }}
{{- if and .Values.edge.authSecret (not .Values.edge.auth) }}
{{- fail "edge: edge.authSecret is set but edge.auth is empty: nothing reads its files" }}
{{- end }}
{{- if gt (int .Values.edge.autoscaling.minReplicas) (int .Values.edge.autoscaling.maxReplicas) }}
{{- fail "edge.autoscaling: minReplicas is greater than maxReplicas" }}
{{- end }}
{{- end }}
