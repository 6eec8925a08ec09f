# terraform -chdir=terraform/gcp/examples/basic init && terraform apply
provider "google" {
  project = "acme-prod"
  region  = "europe-west4"
}

module "aegis" {
  source = "../.."

  project_id         = "acme-prod"
  region             = "europe-west4"
  bundle_bucket_name = "acme-aegis-bundles"
  audit_bucket_name  = "acme-aegis-audit"
  network            = "projects/acme-prod/global/networks/gke"
  labels             = { team = "platform" }
}

output "helm_values" {
  value     = module.aegis.helm_values
  sensitive = true
}
