{{- define "gureum.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gureum.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gureum.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end -}}

{{- define "gureum.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The store URLs and admin key from Secrets, and provider keys for ${VAR} in the config. */}}
{{- define "gureum.env" -}}
- name: GUREUM_CONFIG
  value: /etc/gureum/gureum.yaml
- name: GUREUM_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.database.secretName }}, key: {{ .Values.database.key }}}}
- name: GUREUM_REDIS_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.redis.secretName }}, key: {{ .Values.redis.key }}}}
- name: GUREUM_ADMIN_KEY
  valueFrom: {secretKeyRef: {name: {{ .Values.adminKey.secretName }}, key: {{ .Values.adminKey.key }}}}
{{- range .Values.env.fromSecrets }}
- name: {{ .name }}
  valueFrom: {secretKeyRef: {name: {{ .secretName }}, key: {{ .key }}}}
{{- end }}
{{- range $name, $value := .Values.env.extra }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
