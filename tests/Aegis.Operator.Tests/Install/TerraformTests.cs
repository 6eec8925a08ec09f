using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Aegis.TestSupport;

namespace Aegis.Operator.Tests.Install;

/// <summary>
/// terraform/aws and terraform/gcp parsed by HashiCorp's HCL parser (npm @cdktf/hcl2json, fetched by `make tools`,
/// run with node): every file parses, the resources the issue names exist with the settings that matter, every
/// variable is described and typed, and every reference points at something declared.
/// </summary>
public partial class TerraformTests
{
    private const string ParseScript = """
        const { parse } = require(process.argv[2]);
        (async () => {
          const out = {};
          for (const f of process.argv.slice(3)) { out[f] = await parse(f, require('fs').readFileSync(f, 'utf8')); }
          process.stdout.write(JSON.stringify(out));
        })().catch(e => { console.error(String(e)); process.exit(1); });
        """;

    private static async Task<(int Exit, JsonObject? Files, string Err)> ParseAsync(params string[] files)
    {
        var node = InstallTools.OnPath("node");
        var parser = Path.Combine(InstallTools.NodeModules, "@cdktf", "hcl2json");
        if (node is null || !Directory.Exists(parser))
        {
            Assert.Skip("node or @cdktf/hcl2json missing; " + InstallTools.FetchHint);
        }

        using var dir = new TempDirectory();
        var run = await InstallTools.RunAsync(node!, null, null, [dir.Write("parse.js", ParseScript), parser, .. files]);
        return (run.Exit, run.Exit == 0 ? JsonNode.Parse(run.Out)!.AsObject() : null, run.Err);
    }

    /// <summary>The module's files merged: block kind → type → name → body (as hcl2json gives them).</summary>
    private static async Task<(JsonObject Merged, string Text)> ModuleAsync(string cloud)
    {
        var files = Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "terraform", cloud), "*.tf");
        var parsed = await ParseAsync(files);
        Assert.True(parsed.Exit == 0, parsed.Err);
        var merged = new JsonObject();
        foreach (var (_, file) in parsed.Files!)
        {
            foreach (var (block, content) in file!.AsObject())
            {
                var target = merged[block] as JsonObject ?? (JsonObject)(merged[block] = new JsonObject());
                if (content is JsonObject byType)
                {
                    foreach (var (type, value) in byType)
                    {
                        if (value is JsonObject byName && block is "resource" or "data")
                        {
                            var t = target[type] as JsonObject ?? (JsonObject)(target[type] = new JsonObject());
                            foreach (var (name, body) in byName)
                            {
                                t[name] = body!.DeepClone();
                            }
                        }
                        else
                        {
                            target[type] = value!.DeepClone();
                        }
                    }
                }
            }
        }

        return (merged, merged.ToJsonString());
    }

    private static JsonObject Resource(JsonObject module, string type, string name)
    {
        Assert.True(module["resource"]?[type]?[name] is not null, $"resource {type}.{name} is missing");
        return module["resource"]![type]![name]![0]!.AsObject();
    }

    [Fact]
    public async Task Parse_EveryTerraformFile_Parses()
    {
        var files = Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "terraform"), "*.tf", SearchOption.AllDirectories);

        var parsed = await ParseAsync(files);

        Assert.True(parsed.Exit == 0, parsed.Err);
        Assert.Equal(files.Length, parsed.Files!.Count);
        Assert.True(files.Length >= 10, $"only {files.Length} .tf files");
    }

    [Fact]
    public async Task Parse_SyntaxError_IsRejected()
    {
        using var dir = new TempDirectory();

        var parsed = await ParseAsync(dir.Write("broken.tf", "resource \"aws_s3_bucket\" \"b\" {\n  bucket = \n"));

        Assert.NotEqual(0, parsed.Exit);
        Assert.Contains("broken.tf", parsed.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AwsModule_HasTheBucketKeyRoleRedisAndLogGroup()
    {
        var (module, _) = await ModuleAsync("aws");

        Assert.Equal("Enabled", Resource(module, "aws_s3_bucket_versioning", "bundles")["versioning_configuration"]![0]!["status"]!.GetValue<string>());
        Assert.Equal("${aws_s3_bucket.bundles.id}", Resource(module, "aws_s3_bucket_versioning", "bundles")["bucket"]!.GetValue<string>());
        Assert.Equal("${aws_s3_bucket.bundles.id}", Resource(module, "aws_s3_bucket_server_side_encryption_configuration", "bundles")["bucket"]!.GetValue<string>());
        var key = Resource(module, "aws_kms_key", "signing");
        Assert.Equal("ECC_NIST_EDWARDS25519", key["customer_master_key_spec"]!.GetValue<string>());
        Assert.Equal("SIGN_VERIFY", key["key_usage"]!.GetValue<string>());
        Assert.Equal("${aws_iam_role.operator.id}", Resource(module, "aws_iam_role_policy", "operator")["role"]!.GetValue<string>());
        var policy = module["data"]!["aws_iam_policy_document"]!["operator"]!.ToJsonString();
        Assert.Contains("aws_s3_bucket.bundles.arn", policy, StringComparison.Ordinal);
        Assert.Contains("aws_kms_key.signing", policy, StringComparison.Ordinal);
        Assert.Contains("kms:Sign", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("\"*\"", policy, StringComparison.Ordinal);
        Assert.Contains("system:serviceaccount:${var.namespace}:${var.operator_service_account}", module["data"]!["aws_iam_policy_document"]!["operator_trust"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.True(Resource(module, "aws_elasticache_replication_group", "redis")["transit_encryption_enabled"]!.GetValue<bool>());
        Assert.Equal("${var.audit_log_retention_days}", Resource(module, "aws_cloudwatch_log_group", "audit")["retention_in_days"]!.GetValue<string>());
        Assert.All(["bundle_bucket", "signing_key_arn", "operator_role_arn", "redis_url", "audit_log_group", "audit_bucket", "audit_key_arn", "decision_role_arn", "audit_log_writer_policy_arn", "helm_values"], o => Assert.NotNull(module["output"]![o]));
    }

    [Fact]
    public async Task AwsModule_HasTheWormAuditBucketAuditKeyAndADecisionIdentityThatCannotDelete()
    {
        var (module, _) = await ModuleAsync("aws");

        Assert.True(Resource(module, "aws_s3_bucket", "audit")["object_lock_enabled"]!.GetValue<bool>());
        Assert.Equal("Enabled", Resource(module, "aws_s3_bucket_versioning", "audit")["versioning_configuration"]![0]!["status"]!.GetValue<string>());
        var retention = Resource(module, "aws_s3_bucket_object_lock_configuration", "audit")["rule"]![0]!["default_retention"]![0]!;
        Assert.Equal(("${var.audit_object_lock_mode}", "${var.audit_retention_days}"), (retention["mode"]!.GetValue<string>(), retention["days"]!.GetValue<string>()));
        Assert.Equal("${aws_s3_bucket.audit.id}", Resource(module, "aws_s3_bucket_public_access_block", "audit")["bucket"]!.GetValue<string>());
        var key = Resource(module, "aws_kms_key", "audit");
        Assert.Equal(("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"), (key["customer_master_key_spec"]!.GetValue<string>(), key["key_usage"]!.GetValue<string>()));
        Assert.Contains("system:serviceaccount:${var.namespace}:${var.decision_service_account}", module["data"]!["aws_iam_policy_document"]!["decision_trust"]!.ToJsonString(), StringComparison.Ordinal);
        var policy = module["data"]!["aws_iam_policy_document"]!["decision"]!.ToJsonString();
        Assert.Contains("s3:PutObject", policy, StringComparison.Ordinal);
        Assert.Contains("s3:PutObjectRetention", policy, StringComparison.Ordinal);
        Assert.Contains("aws_kms_key.audit.arn", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("Delete", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("Bypass", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("aws_kms_key.signing", policy, StringComparison.Ordinal);
        Assert.Contains("aws_cloudwatch_log_group.audit.arn", module["data"]!["aws_iam_policy_document"]!["audit_log_writer"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains("COMPLIANCE", module["variable"]!["audit_object_lock_mode"]![0]!["default"]!.GetValue<string>(), StringComparison.Ordinal);

        // helm_values configures both KMS signers it creates, the archive and the decision servers' identity.
        var values = module["output"]!["helm_values"]![0]!["value"]!.GetValue<string>();
        foreach (var expected in new[] { "type = \"aws-kms\", awsKmsKeyId = aws_kms_key.signing[local.current_generation].arn", "kmsKey = aws_kms_key.audit.arn", "archive        = \"s3://${aws_s3_bucket.audit.bucket}/aegis/\"", "aws_iam_role.decision.arn", "stdout         = true" })
        {
            Assert.Contains(expected, values, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("stays local", values, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GcpModule_HasTheLockedRetentionAuditBucketAuditKeyAndADecisionIdentity()
    {
        var (module, _) = await ModuleAsync("gcp");

        var bucket = Resource(module, "google_storage_bucket", "audit");
        var retention = bucket["retention_policy"]![0]!;
        Assert.Equal(("${var.audit_retention_days * 86400}", "${var.audit_retention_locked}"), (retention["retention_period"]!.GetValue<string>(), retention["is_locked"]!.GetValue<string>()));
        Assert.True(module["variable"]!["audit_retention_locked"]![0]!["default"]!.GetValue<bool>());
        Assert.Equal("EC_SIGN_ED25519", Resource(module, "google_kms_crypto_key", "audit")["version_template"]![0]!["algorithm"]!.GetValue<string>());
        Assert.Equal("serviceAccount:${var.project_id}.svc.id.goog[${var.namespace}/${var.decision_service_account}]",
            Resource(module, "google_service_account_iam_member", "decision_workload_identity")["member"]!.GetValue<string>());
        Assert.Equal("roles/storage.objectCreator", Resource(module, "google_storage_bucket_iam_member", "decision_audit_create")["role"]!.GetValue<string>());
        Assert.Equal("${google_storage_bucket.audit.name}", Resource(module, "google_storage_bucket_iam_member", "decision_audit_create")["bucket"]!.GetValue<string>());
        Assert.Equal("${google_kms_crypto_key.audit.id}", Resource(module, "google_kms_crypto_key_iam_member", "decision_audit")["crypto_key_id"]!.GetValue<string>());
        Assert.Contains("jsonPayload.prev:*", Resource(module, "google_logging_project_sink", "audit")["filter"]!.GetValue<string>(), StringComparison.Ordinal);
        var values = module["output"]!["helm_values"]![0]!["value"]!.GetValue<string>();
        foreach (var expected in new[] { "type = \"gcp-kms\", gcpKmsKey = \"${google_kms_crypto_key.signing.id}/cryptoKeyVersions/1\"", "kmsKey = \"${google_kms_crypto_key.audit.id}/cryptoKeyVersions/1\"", "archive       = \"gs://${google_storage_bucket.audit.name}/aegis/\"", "google_service_account.decision.email" })
        {
            Assert.Contains(expected, values, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TerraformFmt_EveryModule_IsFormatted()
    {
        var terraform = InstallTools.OnPath("terraform");
        if (terraform is null)
        {
            Assert.Skip("terraform is not on PATH (the project's Debian machines have it; CI runs this test)");
        }

        var run = await InstallTools.RunAsync(terraform!, null, RepositoryPaths.Root, "fmt", "-check", "-recursive", "-diff", "terraform");

        Assert.True(run.Exit == 0, run.Out + run.Err);
    }

    [Fact]
    public async Task GcpModule_HasTheBucketKeyIdentityRedisAndSink()
    {
        var (module, _) = await ModuleAsync("gcp");

        Assert.True(Resource(module, "google_storage_bucket", "bundles")["versioning"]![0]!["enabled"]!.GetValue<bool>());
        var key = Resource(module, "google_kms_crypto_key", "signing");
        Assert.Equal("EC_SIGN_ED25519", key["version_template"]![0]!["algorithm"]!.GetValue<string>());
        Assert.Equal("ASYMMETRIC_SIGN", key["purpose"]!.GetValue<string>());
        Assert.Equal("${google_kms_key_ring.aegis.id}", key["key_ring"]!.GetValue<string>());
        var wi = Resource(module, "google_service_account_iam_member", "workload_identity");
        Assert.Equal("roles/iam.workloadIdentityUser", wi["role"]!.GetValue<string>());
        Assert.Equal("serviceAccount:${var.project_id}.svc.id.goog[${var.namespace}/${var.operator_service_account}]", wi["member"]!.GetValue<string>());
        Assert.Equal("${google_kms_crypto_key.signing.id}", Resource(module, "google_kms_crypto_key_iam_member", "operator")["crypto_key_id"]!.GetValue<string>());
        Assert.Equal("${google_storage_bucket.bundles.name}", Resource(module, "google_storage_bucket_iam_member", "operator")["bucket"]!.GetValue<string>());
        Assert.Equal("STANDARD_HA", Resource(module, "google_redis_instance", "aegis")["tier"]!.GetValue<string>());
        Assert.Contains("google_logging_project_bucket_config.audit.id", Resource(module, "google_logging_project_sink", "audit")["destination"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.All(["bundle_bucket", "signing_key", "operator_service_account_email", "redis_url", "audit_bucket", "audit_key", "decision_service_account_email", "helm_values"], o => Assert.NotNull(module["output"]![o]));
    }

    [Theory]
    [InlineData("aws")]
    [InlineData("gcp")]
    public async Task Module_EveryReference_PointsAtSomethingDeclared(string cloud)
    {
        var (module, text) = await ModuleAsync(cloud);
        var variables = module["variable"]!.AsObject();
        var resources = module["resource"]!.AsObject().SelectMany(t => t.Value!.AsObject().Select(n => $"{t.Key}.{n.Key}")).ToHashSet(StringComparer.Ordinal);
        var data = module["data"]?.AsObject().SelectMany(t => t.Value!.AsObject().Select(n => $"{t.Key}.{n.Key}")).ToHashSet(StringComparer.Ordinal) ?? [];

        Assert.All(variables, v =>
        {
            Assert.True(v.Value![0]!["description"] is not null, $"variable {v.Key} has no description");
            Assert.True(v.Value![0]!["type"] is not null, $"variable {v.Key} has no type");
        });
        Assert.True(variables.Count(v => v.Value![0]!["validation"] is not null) >= 5, "fewer than five variables are validated");
        Assert.All(VarReference().Matches(text).Select(m => m.Groups[1].Value).Distinct(), name => Assert.True(variables.ContainsKey(name), $"var.{name} is not declared"));
        Assert.All(DataReference().Matches(text).Select(m => m.Groups[1].Value).Distinct(), name => Assert.True(data.Contains(name), $"data.{name} is not declared"));
        Assert.All(ResourceReference().Matches(text).Where(m => !text[..m.Index].EndsWith("data.", StringComparison.Ordinal)).Select(m => m.Groups[1].Value).Distinct(),
            name => Assert.True(resources.Contains(name), $"{name} is not declared"));
        Assert.All(module["output"]!.AsObject(), o => Assert.True(o.Value![0]!["description"] is not null, $"output {o.Key} has no description"));
    }

    [Theory]
    [InlineData("aws")]
    [InlineData("gcp")]
    public async Task Example_SetsEveryRequiredVariableOfTheModule(string cloud)
    {
        var (module, _) = await ModuleAsync(cloud);
        var example = Path.Combine(RepositoryPaths.Root, "terraform", cloud, "examples", "basic", "main.tf");
        var parsed = await ParseAsync(example);
        Assert.True(parsed.Exit == 0, parsed.Err);

        var call = parsed.Files![example]!["module"]!["aegis"]![0]!.AsObject();
        var required = module["variable"]!.AsObject().Where(v => v.Value![0]!["default"] is null).Select(v => v.Key).ToList();

        Assert.Equal("../..", call["source"]!.GetValue<string>());
        Assert.NotEmpty(required);
        Assert.All(required, name => Assert.True(call.ContainsKey(name), $"examples/basic does not set {name}"));
        Assert.All(call.Where(p => p.Key != "source"), p => Assert.True(module["variable"]![p.Key] is not null, $"examples/basic sets unknown variable {p.Key}"));
    }

    [GeneratedRegex(@"\bvar\.([a-z_][a-z0-9_]*)")]
    private static partial Regex VarReference();

    [GeneratedRegex(@"\bdata\.((?:aws|google)_[a-z0-9_]+\.[a-z0-9_]+)")]
    private static partial Regex DataReference();

    [GeneratedRegex(@"(?<![\w.])((?:aws|google)_[a-z0-9_]+\.[a-z0-9_]+)")]
    private static partial Regex ResourceReference();
}
