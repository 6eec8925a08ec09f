output "bundle_bucket" {
  description = "bundleStore.bucket"
  value       = google_storage_bucket.bundles.name
}

output "signing_key" {
  description = "signer.gcpKmsKey (add /cryptoKeyVersions/N for a version)"
  value       = google_kms_crypto_key.signing.id
}

output "operator_service_account_email" {
  description = "operator.serviceAccount.annotations[\"iam.gke.io/gcp-service-account\"]"
  value       = google_service_account.operator.email
}

output "redis_url" {
  description = "redis.url (TLS, server authentication)"
  value       = "rediss://${google_redis_instance.aegis.host}:${google_redis_instance.aegis.port}"
  sensitive   = true
}

output "audit_sink_writer" {
  description = "The identity the audit sink writes as"
  value       = google_logging_project_sink.audit.writer_identity
}

output "audit_bucket" {
  description = "audit.archive is gs://<this>/aegis/"
  value       = google_storage_bucket.audit.name
}

output "audit_key" {
  description = "audit.signer.kmsKey (add /cryptoKeyVersions/N for a version)"
  value       = google_kms_crypto_key.audit.id
}

output "decision_service_account_email" {
  description = "decision.serviceAccount.annotations[\"iam.gke.io/gcp-service-account\"]"
  value       = google_service_account.decision.email
}

output "helm_values" {
  description = "Values for charts/aegis (helm install -f <(terraform output -raw helm_values))"
  sensitive   = true
  value = yamlencode({
    region      = var.region
    bundleStore = { type = "gcs", bucket = google_storage_bucket.bundles.name }
    # `aegis operator --signer gcp-kms --kms-key <version>` signs with version 1; a rotation adds a version and
    # passes the old one as --kms-previous-key (docs/keys.md).
    signer = { type = "gcp-kms", gcpKmsKey = "${google_kms_crypto_key.signing.id}/cryptoKeyVersions/1" }
    audit = {
      signer        = { type = "gcp-kms", kmsKey = "${google_kms_crypto_key.audit.id}/cryptoKeyVersions/1" }
      archive       = "gs://${google_storage_bucket.audit.name}/aegis/"
      retentionDays = var.audit_retention_days
      stdout        = true
    }
    redis    = { url = "rediss://${google_redis_instance.aegis.host}:${google_redis_instance.aegis.port}" }
    operator = { serviceAccount = { annotations = { "iam.gke.io/gcp-service-account" = google_service_account.operator.email } } }
    decision = { serviceAccount = { annotations = { "iam.gke.io/gcp-service-account" = google_service_account.decision.email } } }
  })
}
