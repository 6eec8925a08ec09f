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

output "helm_values" {
  description = "Values for charts/aegis (helm install -f <(terraform output -raw helm_values))"
  sensitive   = true
  value = yamlencode({
    region      = data.aws_region.current.name
    bundleStore = { type = "s3", bucket = aws_s3_bucket.bundles.bucket }
    # signer stays "local" until `aegis operator` can sign with KMS (the chart refuses aws-kms until then);
    # signing_key_arn is ready for it.
    redis       = { url = "rediss://${aws_elasticache_replication_group.redis.primary_endpoint_address}:6379" }
    operator    = { serviceAccount = { annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.operator.arn } } }
  })
}
