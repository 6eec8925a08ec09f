# terraform -chdir=terraform/aws/examples/basic init && terraform apply
provider "aws" {
  region = "eu-west-1"
}

module "aegis" {
  source = "../.."

  name                             = "aegis"
  bundle_bucket_name               = "acme-aegis-bundles"
  audit_bucket_name                = "acme-aegis-audit"
  oidc_provider_arn                = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
  vpc_id                           = "vpc-0123456789abcdef0"
  subnet_ids                       = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  redis_allowed_security_group_ids = ["sg-0123456789abcdef0"]
  tags                             = { team = "platform" }
}

output "helm_values" {
  value     = module.aegis.helm_values
  sensitive = true
}
