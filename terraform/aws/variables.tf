variable "name" {
  description = "Prefix of every resource name (a DNS label)."
  type        = string
  default     = "aegis"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be a DNS label of 3 to 32 lower-case letters, digits and hyphens."
  }
}

variable "bundle_bucket_name" {
  description = "Name of the S3 bucket the operator publishes signed bundles to (globally unique)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bundle_bucket_name))
    error_message = "bundle_bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider (IRSA)."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must look like arn:aws:iam::123456789012:oidc-provider/oidc.eks.REGION.amazonaws.com/id/ID."
  }
}

variable "namespace" {
  description = "Namespace the chart is installed in."
  type        = string
  default     = "aegis-system"
}

variable "operator_service_account" {
  description = "The operator's ServiceAccount name (the chart's default for release \"aegis\")."
  type        = string
  default     = "aegis-operator"
}

variable "decision_service_account" {
  description = "The decision servers' ServiceAccount name (the chart's default for release \"aegis\")."
  type        = string
  default     = "aegis-decision"
}

variable "audit_bucket_name" {
  description = "Name of the S3 bucket (Object Lock) that closed audit segments are archived to (globally unique)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.audit_bucket_name))
    error_message = "audit_bucket_name must be a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)."
  }
}

variable "audit_retention_days" {
  description = "Days each archived audit segment is locked against deletion (the bucket's default Object Lock retention and the decision servers' --audit-retention-days)."
  type        = number
  default     = 365
  validation {
    condition     = var.audit_retention_days >= 1 && var.audit_retention_days <= 36500 && floor(var.audit_retention_days) == var.audit_retention_days
    error_message = "audit_retention_days must be a whole number of days between 1 and 36500."
  }
}

variable "audit_object_lock_mode" {
  description = "Object Lock mode of the audit bucket: COMPLIANCE (nobody can shorten or remove it) or GOVERNANCE (principals with s3:BypassGovernanceRetention can)."
  type        = string
  default     = "COMPLIANCE"
  validation {
    condition     = contains(["COMPLIANCE", "GOVERNANCE"], var.audit_object_lock_mode)
    error_message = "audit_object_lock_mode must be COMPLIANCE or GOVERNANCE."
  }
}

variable "signing_key_generations" {
  description = "One Ed25519 KMS key per generation; the alias points at the last. KMS cannot rotate asymmetric keys itself, so rotate by appending a generation, waiting until every decision server has the new JWKS, then removing the oldest."
  type        = list(string)
  default     = ["1"]
  validation {
    condition     = length(var.signing_key_generations) >= 1 && length(var.signing_key_generations) <= 3
    error_message = "keep one to three signing key generations (the current one and at most two being retired)."
  }
}

variable "key_deletion_window_days" {
  description = "Days a retired signing key waits before deletion."
  type        = number
  default     = 30
  validation {
    condition     = var.key_deletion_window_days >= 7 && var.key_deletion_window_days <= 30
    error_message = "key_deletion_window_days must be between 7 and 30 (the KMS limits)."
  }
}

variable "vpc_id" {
  description = "VPC of the EKS cluster (ElastiCache lives there)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for ElastiCache, in at least two availability zones."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "give at least two subnets (two availability zones) for a highly available Redis."
  }
}

variable "redis_allowed_security_group_ids" {
  description = "Security groups (the cluster's nodes) allowed to reach Redis on 6379."
  type        = list(string)
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
  validation {
    condition     = startswith(var.redis_node_type, "cache.")
    error_message = "redis_node_type must be an ElastiCache node type such as cache.t4g.small."
  }
}

variable "audit_log_retention_days" {
  description = "Retention of the CloudWatch log group receiving the decision audit stream."
  type        = number
  default     = 365
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.audit_log_retention_days)
    error_message = "audit_log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ..., 365, ..., 3653)."
  }
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
