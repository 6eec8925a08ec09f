output "bundle_bucket" {
  description = "bundleStore.bucket"
  value       = aws_s3_bucket.bundles.bucket
}

output "signing_key_arn" {
  description = "signer.awsKmsKeyId (the current generation)"
  value       = aws_kms_key.signing[local.current_generation].arn
}

output "signing_key_alias" {
  description = "The alias that always names the current signing key"
  value       = aws_kms_alias.signing.name
}

output "operator_role_arn" {
  description = "operator.serviceAccount.annotations[\"eks.amazonaws.com/role-arn\"]"
  value       = aws_iam_role.operator.arn
}

output "redis_url" {
  description = "redis.url (TLS)"
  value       = "rediss://${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379"
  sensitive   = true
}

output "audit_log_group" {
  description = "The CloudWatch log group for the audit stream"
  value       = aws_cloudwatch_log_group.audit.name
}

output "audit_bucket" {
  description = "audit.archive is s3://<this>/aegis/"
  value       = aws_s3_bucket.audit.bucket
}

output "audit_key_arn" {
  description = "audit.signer.kmsKey (the key that signs audit checkpoints)"
  value       = aws_kms_key.audit.arn
}

output "decision_role_arn" {
  description = "decision.serviceAccount.annotations[\"eks.amazonaws.com/role-arn\"]"
  value       = aws_iam_role.decision.arn
}

output "audit_log_writer_policy_arn" {
  description = "Attach to the node log collector's role so it can ship the decision servers' stdout audit lines to audit_log_group"
  value       = aws_iam_policy.audit_log_writer.arn
}

output "helm_values" {
  description = "Values for charts/aegis (helm install -f <(terraform output -raw helm_values))"
  sensitive   = true
  value = yamlencode({
    region      = data.aws_region.current.name
    bundleStore = { type = "s3", bucket = aws_s3_bucket.bundles.bucket }
    # `aegis operator --signer aws-kms --kms-key <arn>` signs bundles and tokens with the current generation.
    signer = { type = "aws-kms", awsKmsKeyId = aws_kms_key.signing[local.current_generation].arn }
    audit = {
      signer         = { type = "aws-kms", kmsKey = aws_kms_key.audit.arn }
      archive        = "s3://${aws_s3_bucket.audit.bucket}/aegis/"
      retentionDays  = var.audit_retention_days
      objectLockMode = var.audit_object_lock_mode
      stdout         = true
    }
    redis    = { url = "rediss://${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379" }
    operator = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.operator.arn } } }
    decision = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.decision.arn } } }
  })
}
