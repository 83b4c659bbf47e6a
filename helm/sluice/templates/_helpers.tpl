{{/*
Helpers shared by the gateway templates and the sluice.sidecar template.

Templates that another chart may call (sluice.sidecar, sluice.volumes,
sluice.podAnnotations, sluice.terminationGracePeriodSeconds, sluice.configMap)
take either the root context of this chart, or
  (dict "root" $ "values" .Values.sluice)
from a parent chart that has sluice as a dependency. Each of them first turns
either form into that {root, values} dict (templates cannot return objects,
so the few lines doing it are repeated), and every helper below takes it.
*/}}

{{/* "<release>-sluice", or the release name when it already says sluice. */}}
{{- define "sluice.fullname" -}}
{{- $root := .root -}}
{{- if .values.fullnameOverride -}}
{{- .values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "sluice" $root.Release.Name -}}
{{- $root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-sluice" $root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: sluice
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "sluice.labels" -}}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "sluice.image" -}}
{{- $tag := default .root.Chart.AppVersion .values.image.tag -}}
{{- printf "%s:%s" .values.image.repository (toString $tag) -}}
{{- end -}}

{{/*
A sluice duration ("250ms", "5s", "2m", "1h") as whole seconds, rounded up.
*/}}
{{- define "sluice.seconds" -}}
{{- $d := toString . -}}
{{- if regexMatch "^[0-9]+ms$" $d -}}
{{- div (add (trimSuffix "ms" $d | atoi) 999) 1000 -}}
{{- else if eq $d "0" -}}
{{- 0 -}}
{{- else if regexMatch "^[0-9]+s$" $d -}}
{{- trimSuffix "s" $d | atoi -}}
{{- else if regexMatch "^[0-9]+m$" $d -}}
{{- mul (trimSuffix "m" $d | atoi) 60 -}}
{{- else if regexMatch "^[0-9]+h$" $d -}}
{{- mul (trimSuffix "h" $d | atoi) 3600 -}}
{{- else -}}
{{- fail (printf "sluice: %q is not a duration (like 250ms, 5s, 2m, 1h)" $d) -}}
{{- end -}}
{{- end -}}

{{/* The port of "host:port" or "[v6]:port". */}}
{{- define "sluice.portOf" -}}
{{- $port := regexFind "[0-9]+$" (toString .) -}}
{{- if not $port -}}
{{- fail (printf "sluice: %q has no port (want host:port)" (toString .)) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/* The host of "host:port" or "[v6]:port", without brackets. */}}
{{- define "sluice.hostOf" -}}
{{- regexReplaceAll ":[0-9]+$" (toString .) "" | trimPrefix "[" | trimSuffix "]" -}}
{{- end -}}

{{/* drain_delay in seconds (default 0s, DESIGN.md). */}}
{{- define "sluice.drainDelaySeconds" -}}
{{- include "sluice.seconds" (default "0s" .values.config.drain_delay) -}}
{{- end -}}

{{/* drain_timeout in seconds (default 30s, DESIGN.md). */}}
{{- define "sluice.drainTimeoutSeconds" -}}
{{- include "sluice.seconds" (default "30s" .values.config.drain_timeout) -}}
{{- end -}}

{{/*
The admin port. The kubelet's probes reach the pod's address, so an admin
address on loopback (the sluice default) cannot work here: say so instead of
rendering pods that never become ready.
*/}}
{{- define "sluice.adminPort" -}}
{{- $admin := default "127.0.0.1:9901" (dig "admin" "address" "" .values.config) -}}
{{- $host := include "sluice.hostOf" $admin -}}
{{- if or (hasPrefix "127." $host) (eq $host "localhost") (eq $host "::1") -}}
{{- fail (printf "sluice: config.admin.address is %q, but the kubelet's probes need the admin port on the pod's address: set it to 0.0.0.0:%s" $admin (include "sluice.portOf" $admin)) -}}
{{- end -}}
{{- include "sluice.portOf" $admin -}}
{{- end -}}

{{/*
Where the preStop hook POSTs /drain: admin.control_address when set (it must
be on loopback), else the admin port with the adminToken. With neither, the
control endpoints are closed to the hook: say so instead of rendering pods
that cannot drain.
*/}}
{{- define "sluice.controlPort" -}}
{{- $control := dig "admin" "control_address" "" .values.config -}}
{{- if $control -}}
{{- $host := include "sluice.hostOf" $control -}}
{{- if not (or (hasPrefix "127." $host) (eq $host "::1")) -}}
{{- fail (printf "sluice: config.admin.control_address is %q: keep it on loopback (127.0.0.1:9902), the pod network reaches the admin port already" $control) -}}
{{- end -}}
{{- include "sluice.portOf" $control -}}
{{- else if .values.adminToken.existingSecret -}}
{{- include "sluice.adminPort" . -}}
{{- else -}}
{{- fail "sluice: the admin port is on the pod network, where /drain and /reload need a token: set config.admin.control_address (127.0.0.1:9902) or adminToken.existingSecret" -}}
{{- end -}}
{{- end -}}

{{- define "sluice.tokenDir" -}}/etc/sluice-admin{{- end -}}

{{/*
The pod's terminationGracePeriodSeconds: the preStop hook waits drain_delay,
then SIGTERM gives in-flight work up to drain_timeout. Computed unless set; a
value that does not leave room for both fails the rendering.
*/}}
{{- define "sluice.terminationGracePeriodSeconds" -}}
{{- $values := .Values -}}
{{- if hasKey . "root" -}}{{- $values = default .root.Values .values -}}{{- end -}}
{{- $ctx := dict "values" $values -}}
{{- $drain := add (include "sluice.drainDelaySeconds" $ctx | atoi) (include "sluice.drainTimeoutSeconds" $ctx | atoi) -}}
{{- $set := $values.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $set -}}
{{- add $drain (int $values.terminationGraceMarginSeconds) -}}
{{- else if le (int $set) (int $drain) -}}
{{- fail (printf "sluice: terminationGracePeriodSeconds (%d) must be larger than drain_delay + drain_timeout (%ds), or the kubelet kills sluice mid-drain" (int $set) (int $drain)) -}}
{{- else -}}
{{- int $set -}}
{{- end -}}
{{- end -}}

{{/* The config file, exactly as the ConfigMap holds it. */}}
{{- define "sluice.configYaml" -}}
{{- $config := deepCopy .values.config -}}
{{- if .values.adminToken.existingSecret -}}
{{- $_ := set $config "admin" (merge (dict "token_file" (printf "%s/%s" (include "sluice.tokenDir" .) .values.adminToken.key)) (default (dict) $config.admin)) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* A listener name as a Kubernetes port name (lowercase, [a-z0-9-], at most 15). */}}
{{- define "sluice.portName" -}}
{{- regexReplaceAll "[^a-z0-9-]" (lower (toString .)) "-" | trunc 15 | trimSuffix "-" | trimPrefix "-" -}}
{{- end -}}
