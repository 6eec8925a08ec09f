{{/* Names, labels and the pieces both Deployments share. */}}
{{- define "aegis.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aegis.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "aegis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "aegis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "aegis.selector" -}}
app.kubernetes.io/name: {{ include "aegis.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "aegis.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "aegis.operator.serviceAccount" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- .Values.operator.serviceAccount.name | default (printf "%s-operator" (include "aegis.fullname" .)) -}}
{{- else -}}
{{- .Values.operator.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "aegis.decision.serviceAccount" -}}
{{- if .Values.decision.serviceAccount.create -}}
{{- .Values.decision.serviceAccount.name | default (printf "%s-decision" (include "aegis.fullname" .)) -}}
{{- else -}}
{{- .Values.decision.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- /* Whether the token key comes from the local Secret (token-key.pem): always, unless a KMS token key is set. */ -}}
{{- define "aegis.localTokenKey" -}}
{{- if not (and (ne .Values.signer.type "local") (or .Values.signer.awsKmsTokenKeyId .Values.signer.gcpKmsTokenKey)) -}}true{{- end -}}
{{- end -}}

{{- define "aegis.signingSecret" -}}
{{- .Values.signer.local.existingSecret | default (printf "%s-signing-key" (include "aegis.fullname" .)) -}}
{{- end -}}

{{- define "aegis.webhookService" -}}
{{- printf "%s-operator-webhook" (include "aegis.fullname" .) -}}
{{- end -}}

{{/* TLS on the operator's :8080: from the operator's own CA (the webhook's), from cert-manager, or off when neither exists. */}}
{{- define "aegis.httpTls" -}}
{{- if not .Values.webhook.enabled }}off{{ else if eq .Values.webhook.certificates "cert-manager" }}secret{{ else }}operator{{ end -}}
{{- end -}}

{{- define "aegis.operatorUrl" -}}
{{- printf "%s://%s-operator.%s.svc:8080" (eq (include "aegis.httpTls" .) "off" | ternary "http" "https") (include "aegis.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "aegis.redis.enabled" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}true{{ end -}}
{{- end -}}

{{/* REDIS_URL from the value or the Secret; the args read it as $(REDIS_URL), which Kubernetes expands. */}}
{{- define "aegis.redis.env" -}}
{{- if .Values.redis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: { name: {{ .Values.redis.existingSecret }}, key: {{ .Values.redis.existingSecretKey }} }
{{- else if .Values.redis.url }}
- name: REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- end }}
{{- end -}}

