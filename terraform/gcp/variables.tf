variable "project_id" {
  description = "Google Cloud project holding the bucket, key, Redis and identity."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id (6-30 lower-case letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region of the key ring, Redis and bucket, e.g. europe-west4."
  type        = string
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west4."
  }
}

variable "name" {
  description = "Prefix of every resource name (a DNS label)."
  type        = string
  default     = "aegis"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}[a-z0-9]$", var.name))
    error_message = "name must be a DNS label of 3 to 22 lower-case letters, digits and hyphens."
  }
}

variable "bundle_bucket_name" {
  description = "Name of the GCS bucket the operator publishes signed bundles to (globally unique)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bundle_bucket_name))
    error_message = "bundle_bucket_name must be a valid GCS bucket name."
  }
}

variable "namespace" {
  description = "Namespace the chart is installed in."
  type        = string
  default     = "aegis-system"
}

variable "operator_service_account" {
  description = "The operator's Kubernetes ServiceAccount name."
  type        = string
  default     = "aegis-operator"
}

variable "decision_service_account" {
  description = "The decision servers' Kubernetes ServiceAccount name."
  type        = string
  default     = "aegis-decision"
}

variable "audit_bucket_name" {
  description = "Name of the GCS bucket (locked retention policy) that closed audit segments are archived to (globally unique)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.audit_bucket_name))
    error_message = "audit_bucket_name must be a valid GCS bucket name."
  }
}

variable "audit_retention_days" {
  description = "Days each archived audit segment is held (the bucket's retention policy and the decision servers' --audit-retention-days)."
  type        = number
  default     = 365
  validation {
    condition     = var.audit_retention_days >= 1 && var.audit_retention_days <= 36500 && floor(var.audit_retention_days) == var.audit_retention_days
    error_message = "audit_retention_days must be a whole number of days between 1 and 36500."
  }
}

variable "audit_retention_locked" {
  description = "Lock the audit bucket's retention policy (irreversible: it can then never be shortened or removed). Only set false while trying the module out."
  type        = bool
  default     = true
}

variable "network" {
  description = "Self link or id of the VPC network the GKE cluster uses (Memorystore peers with it)."
  type        = string
}

variable "redis_memory_size_gb" {
  description = "Memorystore capacity."
  type        = number
  default     = 1
  validation {
    condition     = var.redis_memory_size_gb >= 1 && var.redis_memory_size_gb <= 300
    error_message = "redis_memory_size_gb must be between 1 and 300."
  }
}

variable "key_rotation_period" {
  description = "How often Cloud KMS creates a new signing key version (seconds, e.g. 7776000s = 90 days)."
  type        = string
  default     = "7776000s"
  validation {
    condition     = can(regex("^[0-9]+s$", var.key_rotation_period)) && try(tonumber(trimsuffix(var.key_rotation_period, "s")) >= 86400, false)
    error_message = "key_rotation_period must be a number of seconds ending in s, at least 86400s (one day)."
  }
}

variable "audit_log_retention_days" {
  description = "Retention of the log bucket receiving the decision audit stream."
  type        = number
  default     = 365
  validation {
    condition     = var.audit_log_retention_days >= 1 && var.audit_log_retention_days <= 3650
    error_message = "audit_log_retention_days must be between 1 and 3650."
  }
}

variable "labels" {
  description = "Labels on every resource that takes them."
  type        = map(string)
  default     = {}
}
