{{/*
The sluice container and what a pod needs around it. The gateway Deployment
and the sidecar demo use these; so can your own charts:

  spec:
    template:
      metadata:
        annotations:
          {{- include "sluice.podAnnotations" (dict "root" $ "values" .Values.sluice) | nindent 10 }}
      spec:
        terminationGracePeriodSeconds: {{ include "sluice.terminationGracePeriodSeconds" (dict "root" $ "values" .Values.sluice) }}
        initContainers:
          {{- include "sluice.sidecar" (dict "root" $ "values" .Values.sluice) | nindent 10 }}
        containers:
          - name: app   # talks to sluice's listener on 127.0.0.1
        volumes:
          {{- include "sluice.volumes" (dict "root" $ "values" .Values.sluice) | nindent 10 }}

with sluice as a dependency of your chart (mode: sidecar, sidecar.demo.enabled:
false), which renders the ConfigMap these refer to.
*/}}

{{/* Where the container reads its config: the ConfigMap is mounted here. */}}
{{- define "sluice.configDir" -}}/etc/sluice{{- end -}}
{{- define "sluice.configFile" -}}sluice.yaml{{- end -}}

{{/*
preStop: POST /drain on the control port (admin.control_address, on
loopback; else the admin port with the token), then wait drain_delay while
the endpoint removal spreads (listeners still accept meanwhile); the kubelet
then sends SIGTERM and sluice exits once in-flight work is done or
drain_timeout passed. bash's /dev/tcp speaks to the port: the image has bash
and coreutils but no curl. A failed POST ends the hook at once: SIGTERM
drains by itself.
*/}}
{{- define "sluice.preStopScript" -}}
{{- $control := dig "admin" "control_address" "" .values.config -}}
exec 3<>/dev/tcp/127.0.0.1/{{ include "sluice.controlPort" . }} || exit 1
{{- if and (not $control) .values.adminToken.existingSecret }}
auth="Authorization: Bearer $(cat {{ include "sluice.tokenDir" . }}/{{ .values.adminToken.key }})"
printf 'POST /drain HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$auth" >&3
{{- else }}
printf 'POST /drain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' >&3
{{- end }}
IFS= read -r -t 5 status <&3 || true
exec 3<&-
case "$status" in
  "HTTP/1."?" 2"*) ;;
  *) echo "sluice preStop: POST /drain answered: ${status:-nothing}" >&2; exit 1 ;;
esac
sleep {{ include "sluice.drainDelaySeconds" . }}
{{- end -}}

{{/* The sluice container, without the sidecar's restartPolicy. Takes {root, values, sidecar}. */}}
{{- define "sluice.container" -}}
{{- $v := .values -}}
{{- $adminPort := include "sluice.adminPort" . | atoi -}}
name: sluice
image: {{ include "sluice.image" . | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
args:
  - run
  - -c
  - {{ printf "%s/%s" (include "sluice.configDir" .) (include "sluice.configFile" .) }}
ports:
  {{- if not .sidecar }}
  {{- range $v.config.listeners }}
  - name: {{ include "sluice.portName" .name }}
    containerPort: {{ include "sluice.portOf" .address }}
    protocol: TCP
  {{- end }}
  {{- end }}
  - name: sluice-admin
    containerPort: {{ $adminPort }}
    protocol: TCP
{{- with $v.extraEnv }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
startupProbe:
  httpGet:
    path: /live
    port: {{ $adminPort }}
  periodSeconds: {{ $v.probes.startup.periodSeconds }}
  timeoutSeconds: {{ $v.probes.startup.timeoutSeconds }}
  failureThreshold: {{ $v.probes.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /live
    port: {{ $adminPort }}
  periodSeconds: {{ $v.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ $v.probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /ready
    port: {{ $adminPort }}
  periodSeconds: {{ $v.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ $v.probes.readiness.failureThreshold }}
lifecycle:
  preStop:
    exec:
      command:
        - /bin/bash
        - -c
        - |
          {{- include "sluice.preStopScript" . | nindent 10 }}
{{- with $v.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
volumeMounts:
  - name: sluice-config
    mountPath: {{ include "sluice.configDir" . }}
    readOnly: true
  {{- if $v.adminToken.existingSecret }}
  - name: sluice-admin-token
    mountPath: {{ include "sluice.tokenDir" . }}
    readOnly: true
  {{- end }}
  {{- with $v.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
sluice as a Kubernetes native sidecar: one initContainers entry with
restartPolicy: Always (Kubernetes 1.29+). It starts before the app containers
(they wait for its startupProbe) and stops after them.
*/}}
{{- define "sluice.sidecar" -}}
{{- $root := . -}}
{{- $values := .Values -}}
{{- if hasKey . "root" -}}{{- $root = .root -}}{{- $values = default .root.Values .values -}}{{- end -}}
{{- if semverCompare "<1.29.0-0" $root.Capabilities.KubeVersion.Version -}}
{{- fail (printf "sluice.sidecar: native sidecars need Kubernetes 1.29 or newer (this is %s)" $root.Capabilities.KubeVersion.Version) -}}
{{- end -}}
- {{ include "sluice.container" (dict "root" $root "values" $values "sidecar" true) | indent 2 | trim }}
  restartPolicy: Always
{{- end -}}

{{/* The pod volumes the sluice container mounts. */}}
{{- define "sluice.volumes" -}}
{{- $root := . -}}
{{- $values := .Values -}}
{{- if hasKey . "root" -}}{{- $root = .root -}}{{- $values = default .root.Values .values -}}{{- end -}}
- name: sluice-config
  configMap:
    name: {{ include "sluice.fullname" (dict "root" $root "values" $values) }}
    items:
      - key: {{ include "sluice.configFile" . }}
        path: {{ include "sluice.configFile" . }}
{{- if $values.adminToken.existingSecret }}
- name: sluice-admin-token
  secret:
    secretName: {{ $values.adminToken.existingSecret }}
    items:
      - key: {{ $values.adminToken.key }}
        path: {{ $values.adminToken.key }}
{{- end }}
{{- with $values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod annotations: a config change changes the checksum and so rolls the pods. */}}
{{- define "sluice.podAnnotations" -}}
{{- $root := . -}}
{{- $values := .Values -}}
{{- if hasKey . "root" -}}{{- $root = .root -}}{{- $values = default .root.Values .values -}}{{- end -}}
checksum/sluice-config: {{ include "sluice.configYaml" (dict "root" $root "values" $values) | sha256sum }}
{{- end -}}
