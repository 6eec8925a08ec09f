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

output "helm_values" {
  description = "Values for charts/aegis (helm install -f <(terraform output -raw helm_values))"
  sensitive   = true
  value = yamlencode({
    region      = var.region
    bundleStore = { type = "gcs", bucket = google_storage_bucket.bundles.name }
    # signer stays "local" until `aegis operator` can sign with Cloud KMS; signing_key is ready for it.
    redis    = { url = "rediss://${google_redis_instance.aegis.host}:${google_redis_instance.aegis.port}" }
    operator = { serviceAccount = { annotations = { "iam.gke.io/gcp-service-account" = google_service_account.operator.email } } }
  })
}
