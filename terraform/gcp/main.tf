locals {
  labels = merge({ "app-kubernetes-io-part-of" = "aegis" }, var.labels)
}

# --- Bundles: versioned, private ---------------------------------------------------------------
resource "google_storage_bucket" "bundles" {
  project                     = var.project_id
  name                        = var.bundle_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels
  versioning {
    enabled = true
  }
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }
}

# --- Signing: Ed25519 in Cloud KMS ---------------------------------------------------------------
resource "google_kms_key_ring" "aegis" {
  project  = var.project_id
  name     = "${var.name}-keys"
  location = var.region
}

resource "google_kms_crypto_key" "signing" {
  name     = "${var.name}-signing"
  key_ring = google_kms_key_ring.aegis.id
  purpose  = "ASYMMETRIC_SIGN"
  # Cloud KMS does not rotate asymmetric keys on a schedule by itself; this is the period the operator's
  # rotation job (or a person) follows when adding a version. Kept as a label so it is visible in the console.
  labels = merge(local.labels, { "rotation-period" = var.key_rotation_period })
  version_template {
    algorithm        = "EC_SIGN_ED25519"
    protection_level = "HSM"
  }
  lifecycle {
    prevent_destroy = true
  }
}

# --- The operator's identity: Workload Identity ------------------------------------------------------
resource "google_service_account" "operator" {
  project      = var.project_id
  account_id   = "${var.name}-operator"
  display_name = "Aegis operator"
}

resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.operator.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.namespace}/${var.operator_service_account}]"
}

resource "google_storage_bucket_iam_member" "operator" {
  bucket = google_storage_bucket.bundles.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.operator.email}"
}

resource "google_kms_crypto_key_iam_member" "operator" {
  crypto_key_id = google_kms_crypto_key.signing.id
  role          = "roles/cloudkms.signerVerifier"
  member        = "serviceAccount:${google_service_account.operator.email}"
}

# --- Redis ------------------------------------------------------------------------------------
resource "google_redis_instance" "aegis" {
  project                 = var.project_id
  name                    = "${var.name}-redis"
  region                  = var.region
  tier                    = "STANDARD_HA"
  memory_size_gb          = var.redis_memory_size_gb
  redis_version           = "REDIS_7_2"
  authorized_network      = var.network
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  labels                  = local.labels
}

# --- Audit stream: the decision servers' audit records, routed to their own log bucket --------------------
resource "google_logging_project_bucket_config" "audit" {
  project        = var.project_id
  location       = var.region
  bucket_id      = "${var.name}-audit"
  retention_days = var.audit_log_retention_days
}

resource "google_logging_project_sink" "audit" {
  project                = var.project_id
  name                   = "${var.name}-audit"
  destination            = "logging.googleapis.com/${google_logging_project_bucket_config.audit.id}"
  filter                 = "resource.type=\"k8s_container\" AND resource.labels.namespace_name=\"${var.namespace}\" AND jsonPayload.decision_id:*"
  unique_writer_identity = true
}
