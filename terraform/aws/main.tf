locals {
  current_generation = var.signing_key_generations[length(var.signing_key_generations) - 1]
  oidc_issuer        = replace(var.oidc_provider_arn, "/^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider\\//", "")
  tags               = merge({ "app.kubernetes.io/part-of" = "aegis" }, var.tags)
}

data "aws_region" "current" {}

# --- Bundles: versioned, encrypted, private ---------------------------------------------------------
resource "aws_s3_bucket" "bundles" {
  bucket = var.bundle_bucket_name
  tags   = local.tags
}

resource "aws_s3_bucket_versioning" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "bundles" {
  bucket                  = aws_s3_bucket.bundles.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "bundles" {
  bucket = aws_s3_bucket.bundles.id
  rule {
    id     = "old-bundle-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }
}

# --- Signing: Ed25519 in KMS, rotated by generation ------------------------------------------------
resource "aws_kms_key" "signing" {
  for_each                 = toset(var.signing_key_generations)
  description              = "Aegis bundle and token signing key, generation ${each.key}"
  customer_master_key_spec = "ECC_NIST_EDWARDS25519"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = var.key_deletion_window_days
  # KMS rotates only symmetric keys; asymmetric ones rotate by generation (see signing_key_generations).
  enable_key_rotation = false
  tags                = merge(local.tags, { "aegis.dev/key-generation" = each.key })
}

resource "aws_kms_alias" "signing" {
  name          = "alias/${var.name}-signing"
  target_key_id = aws_kms_key.signing[local.current_generation].key_id
}

# --- The operator's identity: IRSA, limited to that bucket and those keys ----------------------------
data "aws_iam_policy_document" "operator_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.operator_service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "operator" {
  name               = "${var.name}-operator"
  assume_role_policy = data.aws_iam_policy_document.operator_trust.json
  tags               = local.tags
}

data "aws_iam_policy_document" "operator" {
  statement {
    sid       = "PublishBundles"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.bundles.arn}/*"]
  }
  statement {
    sid       = "ListBundles"
    actions   = ["s3:ListBucket", "s3:GetBucketVersioning"]
    resources = [aws_s3_bucket.bundles.arn]
  }
  statement {
    sid       = "Sign"
    actions   = ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"]
    resources = [for k in aws_kms_key.signing : k.arn]
  }
}

resource "aws_iam_role_policy" "operator" {
  name   = "${var.name}-operator"
  role   = aws_iam_role.operator.id
  policy = data.aws_iam_policy_document.operator.json
}

# --- Redis: budgets, rate limits, one-time token ids ------------------------------------------------
resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.name}-redis"
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Aegis decision servers and operator to Redis"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each                     = toset(var.redis_allowed_security_group_ids)
  security_group_id            = aws_security_group.redis.id
  referenced_security_group_id = each.value
  from_port                    = 6379
  to_port                      = 6379
  ip_protocol                  = "tcp"
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id       = "${var.name}-redis"
  description                = "Aegis budgets, rate limits and token ids"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.redis.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  transit_encryption_enabled = true
  tags                       = local.tags
}

# --- Audit: the WORM bucket closed segments are archived to ---------------------------------------
# Object Lock is enabled at creation (it cannot be added later) with a default COMPLIANCE retention: nobody, the
# account root included, can delete or overwrite a segment before it expires. The decision servers also lock
# each object themselves (x-amz-object-lock-mode / retain-until-date), so the bucket default is the floor.
resource "aws_s3_bucket" "audit" {
  bucket              = var.audit_bucket_name
  object_lock_enabled = true
  tags                = local.tags
}

resource "aws_s3_bucket_versioning" "audit" {
  bucket = aws_s3_bucket.audit.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    default_retention {
      mode = var.audit_object_lock_mode
      days = var.audit_retention_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.audit]
}

resource "aws_s3_bucket_server_side_encryption_configuration" "audit" {
  bucket = aws_s3_bucket.audit.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "audit" {
  bucket                  = aws_s3_bucket.audit.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Checkpoints are signed with a key of their own purpose: a leaked bundle key cannot forge an audit log.
resource "aws_kms_key" "audit" {
  description              = "Aegis audit checkpoint signing key (purpose: audit)"
  customer_master_key_spec = "ECC_NIST_EDWARDS25519"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = var.key_deletion_window_days
  enable_key_rotation      = false
  tags                     = merge(local.tags, { "aegis.dev/key-purpose" = "audit" })
}

resource "aws_kms_alias" "audit" {
  name          = "alias/${var.name}-audit"
  target_key_id = aws_kms_key.audit.key_id
}

# --- The decision servers' identity: IRSA, allowed to add segments and sign checkpoints, never to delete ----------
data "aws_iam_policy_document" "decision_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.decision_service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "decision" {
  name               = "${var.name}-decision"
  assume_role_policy = data.aws_iam_policy_document.decision_trust.json
  tags               = local.tags
}

data "aws_iam_policy_document" "decision" {
  statement {
    sid       = "ArchiveAuditSegments"
    actions   = ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject"]
    resources = ["${aws_s3_bucket.audit.arn}/*"]
  }
  statement {
    sid       = "ListAuditSegments"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.audit.arn]
  }
  statement {
    sid       = "SignAuditCheckpoints"
    actions   = ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"]
    resources = [aws_kms_key.audit.arn]
  }
}

resource "aws_iam_role_policy" "decision" {
  name   = "${var.name}-decision"
  role   = aws_iam_role.decision.id
  policy = data.aws_iam_policy_document.decision.json
}

# --- Audit stream: what the node log collector ships ------------------------------------------------------------
# With audit.stdout (set by helm_values) every decision server writes each committed audit line to stdout. A
# collector on the nodes (aws-for-fluent-bit / Container Insights) routes the decision containers' stdout here;
# give its role the policy below. The lines are the chain's own bytes, so the copy here verifies too and its
# checkpoint lines serve as anchors (aegis audit verify --anchors).
resource "aws_cloudwatch_log_group" "audit" {
  name              = "/aegis/${var.name}/audit"
  retention_in_days = var.audit_log_retention_days
  tags              = local.tags
}

data "aws_iam_policy_document" "audit_log_writer" {
  statement {
    sid       = "ShipAuditLines"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.audit.arn}:*"]
  }
}

resource "aws_iam_policy" "audit_log_writer" {
  name        = "${var.name}-audit-log-writer"
  description = "Lets the node log collector write the Aegis audit stream to its log group"
  policy      = data.aws_iam_policy_document.audit_log_writer.json
  tags        = local.tags
}
