{{/* Names and labels. */}}
{{- define "orchestrator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "orchestrator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "orchestrator.labels" -}}
app.kubernetes.io/name: {{ include "orchestrator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "orchestrator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orchestrator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: service
{{- end -}}

{{- define "orchestrator.nodeSelectorLabels" -}}
app.kubernetes.io/name: {{ include "orchestrator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node
{{- end -}}

{{- define "orchestrator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "orchestrator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "orchestrator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* NODES: every pod of the node StatefulSet by its stable DNS name. */}}
{{- define "orchestrator.nodeList" -}}
{{- $full := include "orchestrator.fullname" . -}}
{{- $out := list -}}
{{- range $i := until (int .Values.nodes.replicas) -}}
{{- $out = append $out (printf "%s-node-%d.%s-node.%s.svc:%d" $full $i $full $.Release.Namespace (int $.Values.nodes.port)) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* Environment from Secrets and what depends on them (NATS, Redis, LLM). */}}
{{- define "orchestrator.secretEnv" -}}
{{- if .Values.nats.userPassword.existingSecret }}
- name: NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.userPassword.existingSecret }}
      key: {{ .Values.nats.userPassword.userKey }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.userPassword.existingSecret }}
      key: {{ .Values.nats.userPassword.passwordKey }}
{{- end }}
{{- if .Values.nats.token.existingSecret }}
- name: NATS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.token.existingSecret }}
      key: {{ .Values.nats.token.key }}
{{- end }}
{{- if .Values.nats.credentials.existingSecret }}
- name: NATS_CREDS
  value: /etc/orchestrator/nats-creds/{{ .Values.nats.credentials.key }}
{{- end }}
{{- if .Values.nats.tls.existingSecret }}
- name: NATS_TLS_CA
  value: /etc/orchestrator/nats-tls/ca.crt
- name: NATS_TLS_CERT
  value: /etc/orchestrator/nats-tls/tls.crt
- name: NATS_TLS_KEY
  value: /etc/orchestrator/nats-tls/tls.key
{{- end }}
{{- if .Values.redis.password.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.password.existingSecret }}
      key: {{ .Values.redis.password.key }}
- name: REDIS_URL
  value: "redis://:$(REDIS_PASSWORD)@{{ .Values.redis.address }}"
{{- else }}
- name: REDIS_URL
  value: "redis://{{ .Values.redis.address }}"
{{- end }}
{{- if .Values.llm.apiKey.existingSecret }}
- name: VLLM_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.llm.apiKey.existingSecret }}
      key: {{ .Values.llm.apiKey.key }}
{{- end }}
{{- end -}}

{{/* Node authentication: NODE_SECRET and/or mutual TLS. */}}
{{- define "orchestrator.nodeAuthEnv" -}}
{{- if .Values.nodes.secret.existingSecret }}
- name: NODE_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nodes.secret.existingSecret }}
      key: {{ .Values.nodes.secret.key }}
{{- end }}
{{- if .Values.nodes.tls.existingSecret }}
- name: NODE_TLS_CA
  value: /etc/orchestrator/node-tls/ca.crt
- name: NODE_TLS_CERT
  value: /etc/orchestrator/node-tls/tls.crt
- name: NODE_TLS_KEY
  value: /etc/orchestrator/node-tls/tls.key
{{- end }}
{{- end -}}

{{/* Volumes for Secrets mounted as files, and /tmp. */}}
{{- define "orchestrator.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.nats.credentials.existingSecret }}
- name: nats-creds
  secret:
    secretName: {{ .Values.nats.credentials.existingSecret }}
    defaultMode: 0400
{{- end }}
{{- if .Values.nats.tls.existingSecret }}
- name: nats-tls
  secret:
    secretName: {{ .Values.nats.tls.existingSecret }}
    defaultMode: 0400
{{- end }}
{{- if and .Values.nodes.enabled .Values.nodes.tls.existingSecret }}
- name: node-tls
  secret:
    secretName: {{ .Values.nodes.tls.existingSecret }}
    defaultMode: 0400
{{- end }}
{{- end -}}

{{- define "orchestrator.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.nats.credentials.existingSecret }}
- name: nats-creds
  mountPath: /etc/orchestrator/nats-creds
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.existingSecret }}
- name: nats-tls
  mountPath: /etc/orchestrator/nats-tls
  readOnly: true
{{- end }}
{{- if and .Values.nodes.enabled .Values.nodes.tls.existingSecret }}
- name: node-tls
  mountPath: /etc/orchestrator/node-tls
  readOnly: true
{{- end }}
{{- end -}}
