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

# --- Audit: the WORM bucket closed segments are archived to ---------------------------------------------------
# A locked retention policy holds every object for retention_period; once locked it can never be shortened or
# removed, and the bucket cannot be deleted while it holds objects under retention.
resource "google_storage_bucket" "audit" {
  project                     = var.project_id
  name                        = var.audit_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels
  retention_policy {
    retention_period = var.audit_retention_days * 86400
    is_locked        = var.audit_retention_locked
  }
  lifecycle {
    prevent_destroy = true
  }
}

# Checkpoints are signed with a key of their own purpose: a leaked bundle key cannot forge an audit log.
resource "google_kms_crypto_key" "audit" {
  name     = "${var.name}-audit"
  key_ring = google_kms_key_ring.aegis.id
  purpose  = "ASYMMETRIC_SIGN"
  labels   = merge(local.labels, { "aegis-key-purpose" = "audit" })
  version_template {
    algorithm        = "EC_SIGN_ED25519"
    protection_level = "HSM"
  }
  lifecycle {
    prevent_destroy = true
  }
}

# --- The decision servers' identity: Workload Identity, allowed to add segments and sign checkpoints ------------
resource "google_service_account" "decision" {
  project      = var.project_id
  account_id   = "${var.name}-decision"
  display_name = "Aegis decision servers"
}

resource "google_service_account_iam_member" "decision_workload_identity" {
  service_account_id = google_service_account.decision.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.namespace}/${var.decision_service_account}]"
}

# objectCreator can create objects but not overwrite or delete them; objectViewer lets an upload that finds its
# object already there compare the bytes.
resource "google_storage_bucket_iam_member" "decision_audit_create" {
  bucket = google_storage_bucket.audit.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.decision.email}"
}

resource "google_storage_bucket_iam_member" "decision_audit_read" {
  bucket = google_storage_bucket.audit.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.decision.email}"
}

resource "google_kms_crypto_key_iam_member" "decision_audit" {
  crypto_key_id = google_kms_crypto_key.audit.id
  role          = "roles/cloudkms.signerVerifier"
  member        = "serviceAccount:${google_service_account.decision.email}"
}

# --- Audit stream: the decision servers' stdout audit lines, routed to their own log bucket ----------------------
# With audit.stdout (set by helm_values) every committed audit line goes to the decision container's stdout; GKE's
# logging agent parses each JSON line into jsonPayload, and this sink routes exactly those lines (they all carry
# seq and prev) to a log bucket with its own retention. They are the chain's own bytes: checkpoint lines exported
# from here serve as anchors for aegis audit verify --anchors.
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
  filter                 = "resource.type=\"k8s_container\" AND resource.labels.namespace_name=\"${var.namespace}\" AND resource.labels.container_name=\"decision\" AND jsonPayload.seq:* AND jsonPayload.prev:*"
  unique_writer_identity = true
}
