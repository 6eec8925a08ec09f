using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;

namespace Aegis.Operator.Tests.Install;

/// <summary>
/// charts/aegis with the real helm: lint, render each values file of charts/aegis/ci, apply the output with the
/// machine's kubectl to the test API server, and read back what must be there. Kinds the test server does not serve
/// (ServiceMonitor, PrometheusRule, cert-manager's Certificate and Issuer) are checked in the rendered YAML instead.
/// </summary>
public partial class HelmChartTests
{
    private const string Namespace = "aegis-system";

    private static readonly string Chart = Path.Combine(RepositoryPaths.Root, "charts", "aegis");

    private static readonly string[] NotServed = ["ServiceMonitor", "PrometheusRule", "Certificate", "Issuer"];

    private static string RequireHelm()
    {
        var helm = InstallTools.Helm();
        if (helm is null)
        {
            Assert.Skip("helm not found in .tools/helm/helm; " + InstallTools.FetchHint);
        }

        return helm!;
    }

    private static Task<(int Exit, string Out, string Err)> HelmAsync(string helm, TempDirectory home, params string[] args) =>
        InstallTools.RunAsync(helm, new Dictionary<string, string>
        {
            ["HELM_CACHE_HOME"] = Path.Combine(home.Path, "cache"),
            ["HELM_CONFIG_HOME"] = Path.Combine(home.Path, "config"),
            ["HELM_DATA_HOME"] = Path.Combine(home.Path, "data"),
        }, null, args);

    [Theory]
    [InlineData("charts/aegis/crds")]
    [InlineData("config/crd")]
    public void CopiedCrds_AreIdenticalToTheGeneratedCrds(string folder)
    {
        var generated = Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var copied = Directory.GetFiles(Path.Combine(RepositoryPaths.Root, folder), "aegis.dev_*.yaml").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();

        Assert.Equal(generated, copied);
        Assert.Equal(5, copied.Count);
        foreach (var name in copied)
        {
            Assert.True(
                File.ReadAllText(Path.Combine(RepositoryPaths.Root, "crds", name!)) == File.ReadAllText(Path.Combine(RepositoryPaths.Root, folder, name!)),
                $"{folder}/{name} differs from crds/{name}: copy it again (cp crds/aegis.dev_*.yaml {folder}/)");
        }
    }

    [Theory]
    [InlineData("default-values.yaml")]
    [InlineData("aws-values.yaml")]
    [InlineData("gcp-values.yaml")]
    [InlineData("minimal-values.yaml")]
    public async Task HelmLint_ValuesFile_Passes(string values)
    {
        var helm = RequireHelm();
        using var home = new TempDirectory();

        var lint = await HelmAsync(helm, home, "lint", Chart, "--strict", "-f", Path.Combine(Chart, "ci", values));

        Assert.True(lint.Exit == 0, lint.Out + lint.Err);
        Assert.Contains("1 chart(s) linted, 0 chart(s) failed", lint.Out, StringComparison.Ordinal);
    }

    public static TheoryData<string, string[], string[]> Matrix() => new()
    {
        {
            "default-values.yaml",
            ["deployment.apps/aegis-operator", "deployment.apps/aegis-decision", "service/aegis-operator", "service/aegis-operator-webhook", "service/aegis-decision",
             "serviceaccount/aegis-operator", "serviceaccount/aegis-decision", "secret/aegis-signing-key", "secret/aegis-audit-key", "configmap/aegis-dashboard",
             "networkpolicy.networking.k8s.io/aegis-operator", "networkpolicy.networking.k8s.io/aegis-decision",
             "poddisruptionbudget.policy/aegis-operator", "role.rbac.authorization.k8s.io/aegis-operator", "rolebinding.rbac.authorization.k8s.io/aegis-operator"],
            []
        },
        {
            "aws-values.yaml",
            ["deployment.apps/aegis-operator", "deployment.apps/aegis-decision", "horizontalpodautoscaler.autoscaling/aegis-decision",
             "poddisruptionbudget.policy/aegis-decision", "poddisruptionbudget.policy/aegis-operator", "configmap/aegis-dashboard"],
            ["ServiceMonitor", "PrometheusRule"]
        },
        {
            "gcp-values.yaml",
            ["deployment.apps/aegis-operator", "deployment.apps/aegis-decision", "poddisruptionbudget.policy/aegis-decision", "service/aegis-operator-webhook"],
            ["Certificate", "Issuer"]
        },
        {
            "minimal-values.yaml",
            ["deployment.apps/aegis-operator", "deployment.apps/aegis-decision", "service/aegis-operator", "service/aegis-decision"],
            []
        },
    };

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task HelmTemplate_ValuesFile_AppliesToTheTestServerWithItsObjects(string values, string[] mustExist, string[] renderedOnly)
    {
        var helm = RequireHelm();
        var kubectl = InstallTools.OnPath("kubectl");
        if (kubectl is null)
        {
            Assert.Skip("kubectl is not on PATH (Debian machines of this project have it; CI runs this test)");
        }

        using var dir = new TempDirectory();
        var render = await HelmAsync(helm, dir, "template", "aegis", Chart, "-n", Namespace, "--include-crds", "-f", Path.Combine(Chart, "ci", values));
        Assert.True(render.Exit == 0, render.Err);
        var documents = Documents(render.Out);
        foreach (var kind in renderedOnly)
        {
            Assert.Contains(documents, d => d.Kind == kind);
        }

        await using var server = await KubernetesTestServer.StartAsync();
        var env = new Dictionary<string, string> { ["KUBECONFIG"] = InstallTools.Kubeconfig(dir, server.Url) };
        // kubectl's typed commands (create namespace) speak protobuf, which the test server does not; apply sends JSON.
        var manifest = dir.Write("rendered.yaml", $"apiVersion: v1\nkind: Namespace\nmetadata: {{ name: {Namespace} }}\n---\n" + string.Join("\n---\n", documents.Where(d => !NotServed.Contains(d.Kind)).Select(d => d.Text)));

        var apply = await InstallTools.RunAsync(kubectl!, env, null, "apply", "--validate=false", "-f", manifest);

        Assert.True(apply.Exit == 0, apply.Out + apply.Err);
        var names = (await InstallTools.RunAsync(kubectl!, env, null, "get", "-n", Namespace, "-o", "name",
            "deployments,services,serviceaccounts,secrets,configmaps,networkpolicies,poddisruptionbudgets,horizontalpodautoscalers,roles,rolebindings")).Out
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(mustExist, name => Assert.Contains(name, names));
        Assert.Contains("customresourcedefinition.apiextensions.k8s.io/agentpolicies.aegis.dev", apply.Out, StringComparison.Ordinal);

        var operatorArgs = await JsonAsync(kubectl!, env, "deployment", "aegis-operator");
        var decisionArgs = await JsonAsync(kubectl!, env, "deployment", "aegis-decision");
        Assert.Contains("--listen=0.0.0.0", Args(operatorArgs));
        Assert.Contains($"--decision-address=aegis-decision.{Namespace}.svc:9191", Args(operatorArgs));
        // Without the webhook there is no operator CA (and no cert-manager): only then is :8080 plain HTTP.
        var tls = values != "minimal-values.yaml";
        Assert.Contains($"--bundle-url={(tls ? "https" : "http")}://aegis-operator.{Namespace}.svc:8080/bundles/{{tenant}}", Args(decisionArgs));
        Assert.Equal(tls, Args(decisionArgs).Contains("--ca-file=/etc/aegis/ca/ca.crt"));
        Assert.Contains("--listen=0.0.0.0", Args(decisionArgs));
    }

    [Fact]
    public async Task HelmTemplate_AwsValues_WiresS3RedisIrsaAndScaling()
    {
        var helm = RequireHelm();
        using var home = new TempDirectory();

        var render = await HelmAsync(helm, home, "template", "aegis", Chart, "-n", Namespace, "-f", Path.Combine(Chart, "ci", "aws-values.yaml"));

        Assert.True(render.Exit == 0, render.Err);
        var docs = Documents(render.Out);
        var op = docs.Single(d => d.Kind == "Deployment" && d.Text.Contains("name: aegis-operator\n", StringComparison.Ordinal)).Text;
        var decision = docs.Single(d => d.Kind == "Deployment" && d.Text.Contains("name: aegis-decision\n", StringComparison.Ordinal)).Text;
        Assert.Contains("- --bundle-store=s3", op, StringComparison.Ordinal);
        Assert.Contains("- --bucket=acme-aegis-bundles", op, StringComparison.Ordinal);
        Assert.Contains("- --redis=$(REDIS_URL)", decision, StringComparison.Ordinal);
        Assert.Contains("- --region=eu-west-1", decision, StringComparison.Ordinal);
        Assert.Contains("- --otlp-endpoint=http://otel-collector.observability:4318", decision, StringComparison.Ordinal);
        Assert.Contains("- --tenant=globex", decision, StringComparison.Ordinal);
        Assert.DoesNotContain("replicas:", decision, StringComparison.Ordinal);
        Assert.Contains("eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/aegis-operator", docs.Single(d => d.Kind == "ServiceAccount" && d.Text.Contains("aegis-operator", StringComparison.Ordinal)).Text, StringComparison.Ordinal);
        Assert.Contains("whenUnsatisfiable: DoNotSchedule", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-signer=aws-kms", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-archive=s3://acme-aegis-audit/aegis/", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-stdout", decision, StringComparison.Ordinal);
        Assert.Contains("eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/aegis-decision", docs.Single(d => d.Kind == "ServiceAccount" && d.Text.Contains("name: aegis-decision", StringComparison.Ordinal)).Text, StringComparison.Ordinal);
        var rule = docs.Single(d => d.Kind == "PrometheusRule").Text;
        Assert.Equal(["AegisAuditLogFailed", "AegisAuditShippingLag", "AegisBudgetStoreUnavailable", "AegisBundleRefused", "AegisBundleStale", "AegisDecisionErrorRate", "AegisDecisionLatencySLO", "AegisPolicyCoverageLow", "AegisWebhookCertificateExpiring"],
            AlertName().Matches(rule).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal));
        Assert.Contains("> 0.02", rule, StringComparison.Ordinal);
        Assert.Contains("sum by (tenant) (rate(aegis_tool_calls_rule_matched_total[1h])) / clamp_min(sum by (tenant) (rate(aegis_tool_calls_total[1h])), 1e-9) < 0.8", rule, StringComparison.Ordinal);
        Assert.Contains("max by (pod, sink) (aegis_audit_shipping_lag_seconds) > 900", rule, StringComparison.Ordinal);
        var dashboard = docs.Single(d => d.Kind == "ConfigMap" && d.Text.Contains("aegis-dashboard", StringComparison.Ordinal)).Text;
        foreach (var panel in new[] { "Policy coverage", "Audit shipping lag", "p99 decision latency", "Budget store failures" })
        {
            Assert.Contains($"\"title\": \"{panel}", dashboard, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("aws-kms", "signer.awsKmsKeyId=arn:aws:kms:eu-west-1:111122223333:key/k1", "arn:aws:kms:eu-west-1:111122223333:key/k1")]
    [InlineData("gcp-kms", "signer.gcpKmsKey=projects/p/locations/europe-west4/keyRings/aegis/cryptoKeys/bundles/cryptoKeyVersions/1", "projects/p/locations/europe-west4/keyRings/aegis/cryptoKeys/bundles/cryptoKeyVersions/1")]
    public async Task HelmTemplate_KmsSigner_PassesTheKeyAndMountsNoLocalKey(string type, string set, string key)
    {
        var helm = RequireHelm();
        using var home = new TempDirectory();

        var render = await HelmAsync(helm, home, "template", "aegis", Chart, "-n", Namespace, "--set", "decision.tenants={acme}", "--set", "signer.type=" + type, "--set", set);

        Assert.True(render.Exit == 0, render.Err);
        var docs = Documents(render.Out);
        var op = docs.Single(d => d.Kind == "Deployment" && d.Text.Contains("name: aegis-operator\n", StringComparison.Ordinal)).Text;
        Assert.Contains($"- --signer={type}", op, StringComparison.Ordinal);
        Assert.Contains($"- --kms-key={key}", op, StringComparison.Ordinal);
        Assert.DoesNotContain("--key=", op, StringComparison.Ordinal);

        // Without a KMS token key, tokens are signed by a local token key (never by the KMS bundle key).
        Assert.Contains("- --token-key=/etc/aegis/signing/token-key.pem", op, StringComparison.Ordinal);
        var secret = docs.Single(d => d.Kind == "Secret" && d.Text.Contains("token-key.pem", StringComparison.Ordinal)).Text;
        Assert.DoesNotContain("signing-key.pem", secret, StringComparison.Ordinal);

        // With one, no local key is mounted or generated at all.
        var tokenKey = key.Replace("k1", "k2", StringComparison.Ordinal).Replace("bundles", "tokens", StringComparison.Ordinal);
        var tokenSet = set.Replace("KeyId=", "TokenKeyId=", StringComparison.Ordinal).Replace("gcpKmsKey=", "gcpKmsTokenKey=", StringComparison.Ordinal)
            .Replace("k1", "k2", StringComparison.Ordinal).Replace("bundles", "tokens", StringComparison.Ordinal);
        var both = await HelmAsync(helm, home, "template", "aegis", Chart, "-n", Namespace, "--set", "decision.tenants={acme}", "--set", "signer.type=" + type, "--set", set, "--set", tokenSet);
        Assert.True(both.Exit == 0, both.Err);
        var allKms = Documents(both.Out);
        var kmsOnly = allKms.Single(d => d.Kind == "Deployment" && d.Text.Contains("name: aegis-operator\n", StringComparison.Ordinal)).Text;
        Assert.Contains($"- --kms-token-key={tokenKey}", kmsOnly, StringComparison.Ordinal);
        Assert.DoesNotContain("signing-key", kmsOnly, StringComparison.Ordinal);
        // (The decision servers' audit key is another matter: audit.signer decides it.)
        Assert.DoesNotContain(allKms, d => d.Kind == "Secret" && (d.Text.Contains("bundle-key.pem", StringComparison.Ordinal) || d.Text.Contains("token-key.pem", StringComparison.Ordinal) || d.Text.Contains("signing-key.pem", StringComparison.Ordinal)));
    }

    private static async Task<(string Decision, List<(string Kind, string Text)> Docs)> DecisionAsync(params string[] sets)
    {
        var helm = RequireHelm();
        using var home = new TempDirectory();
        var render = await HelmAsync(helm, home, ["template", "aegis", Chart, "-n", Namespace, "--set", "decision.tenants={acme}", .. sets.SelectMany(s => new[] { "--set", s })]);
        Assert.True(render.Exit == 0, render.Err);
        var docs = Documents(render.Out).Select(d => (d.Kind, d.Text)).ToList();
        return (docs.Single(d => d.Kind == "Deployment" && d.Text.Contains("name: aegis-decision\n", StringComparison.Ordinal)).Text, docs);
    }

    [Fact]
    public async Task HelmTemplate_AuditByDefault_OneChainPerPodNamedByTheDownwardApiWithAGeneratedAuditKey()
    {
        var (decision, docs) = await DecisionAsync();

        Assert.Contains("- --audit-dir=/var/lib/aegis/audit", decision, StringComparison.Ordinal);
        Assert.Contains("- --replica-id=$(POD_NAME)", decision, StringComparison.Ordinal);
        Assert.Contains("- name: POD_NAME\n              valueFrom:\n                fieldRef: { fieldPath: metadata.name }", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-key=/etc/aegis/audit/audit-key.pem", decision, StringComparison.Ordinal);
        Assert.Contains("- { name: audit, mountPath: /var/lib/aegis/audit }", decision, StringComparison.Ordinal);
        Assert.Contains("- { name: audit-key, mountPath: /etc/aegis/audit, readOnly: true }", decision, StringComparison.Ordinal);
        Assert.Contains("emptyDir: { sizeLimit: \"2Gi\" }", decision, StringComparison.Ordinal);
        Assert.Contains("secretName: aegis-audit-key", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-commit-window-ms=0", decision, StringComparison.Ordinal);
        Assert.DoesNotContain("--audit-stdout", decision, StringComparison.Ordinal);
        Assert.DoesNotContain("--audit-archive", decision, StringComparison.Ordinal);

        // A key of its own, kept when the release is deleted, and never the bundle signing key.
        var secret = docs.Single(d => d.Kind == "Secret" && d.Text.Contains("name: aegis-audit-key", StringComparison.Ordinal)).Text;
        Assert.Contains("helm.sh/resource-policy: keep", secret, StringComparison.Ordinal);
        var pem = System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(Regex.Match(secret, "audit-key.pem: (\\S+)").Groups[1].Value));
        using var key = Aegis.Policy.Signing.LocalEd25519Signer.FromPem(pem, Aegis.Policy.Signing.KeyPurpose.Audit);
        var signing = docs.Single(d => d.Kind == "Secret" && d.Text.Contains("signing-key.pem", StringComparison.Ordinal)).Text;
        Assert.NotEqual(Regex.Match(signing, "signing-key.pem: (\\S+)").Groups[1].Value, Regex.Match(secret, "audit-key.pem: (\\S+)").Groups[1].Value);
    }

    [Theory]
    [InlineData("aws-kms", "arn:aws:kms:eu-west-1:111122223333:key/audit")]
    [InlineData("gcp-kms", "projects/p/locations/europe-west4/keyRings/aegis/cryptoKeys/audit/cryptoKeyVersions/1")]
    public async Task HelmTemplate_AuditKmsSigner_PassesTheKeyAndMountsNoAuditKey(string type, string key)
    {
        var (decision, docs) = await DecisionAsync("audit.signer.type=" + type, "audit.signer.kmsKey=" + key);

        Assert.Contains($"- --audit-signer={type}", decision, StringComparison.Ordinal);
        Assert.Contains($"- --audit-kms-key={key}", decision, StringComparison.Ordinal);
        Assert.DoesNotContain("--audit-key=", decision, StringComparison.Ordinal);
        Assert.DoesNotContain("audit-key", decision, StringComparison.Ordinal);
        Assert.DoesNotContain(docs, d => d.Kind == "Secret" && d.Text.Contains("audit-key.pem", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HelmTemplate_AuditShipping_StdoutOtlpAndTheWormArchive()
    {
        var (decision, _) = await DecisionAsync("audit.stdout=true", "audit.otlpEndpoint=http://otel-collector.observability:4318", "audit.archive=s3://acme-aegis-audit/aegis",
            "audit.retentionDays=2555", "audit.signer.existingSecret=acme-audit-key", "audit.volume.existingClaim=aegis-audit");

        Assert.Contains("- --audit-stdout", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-otlp-endpoint=http://otel-collector.observability:4318", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-archive=s3://acme-aegis-audit/aegis", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-retention-days=2555", decision, StringComparison.Ordinal);
        Assert.Contains("- --audit-object-lock-mode=COMPLIANCE", decision, StringComparison.Ordinal);
        Assert.Contains("secretName: acme-audit-key", decision, StringComparison.Ordinal);
        Assert.Contains("persistentVolumeClaim: { claimName: \"aegis-audit\" }", decision, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HelmTemplate_Slack_BotTokenAndSigningSecretFromTheSecret_AndTheDecisionServerFilesApprovals()
    {
        var helm = RequireHelm();
        using var home = new TempDirectory();

        var render = await HelmAsync(helm, home, "template", "aegis", Chart, "-n", Namespace, "--set", "decision.tenants={acme}", "--set", "slack.enabled=true", "--set", "slack.secretName=aegis-slack");
        var missing = await HelmAsync(helm, home, "template", "aegis", Chart, "-n", Namespace, "--set", "decision.tenants={acme}", "--set", "slack.enabled=true");

        Assert.True(render.Exit == 0, render.Err);
        var docs = Documents(render.Out);
        var op = docs.Single(d => d.Kind == "Deployment" && d.Text.Contains("name: aegis-operator\n", StringComparison.Ordinal)).Text;
        var decision = docs.Single(d => d.Kind == "Deployment" && d.Text.Contains("name: aegis-decision\n", StringComparison.Ordinal)).Text;
        Assert.Contains("name: AEGIS_SLACK_BOT_TOKEN", op, StringComparison.Ordinal);
        Assert.Contains("secretKeyRef: { name: \"aegis-slack\", key: \"bot-token\" }", op, StringComparison.Ordinal);
        Assert.Contains("secretKeyRef: { name: \"aegis-slack\", key: \"signing-secret\" }", op, StringComparison.Ordinal);
        Assert.Contains("- --approvals-url=https://aegis-operator." + Namespace + ".svc:8080/v1/approvals", decision, StringComparison.Ordinal);
        Assert.NotEqual(0, missing.Exit);
        Assert.Contains("at '/slack/secretName': minLength", missing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HelmTemplate_OperatorRbac_ListsExactlyTheVerbsTheOperatorUses()
    {
        var helm = RequireHelm();
        using var home = new TempDirectory();

        var render = await HelmAsync(helm, home, "template", "aegis", Chart, "-n", Namespace, "--show-only", "templates/rbac.yaml", "-f", Path.Combine(Chart, "ci", "default-values.yaml"));

        Assert.True(render.Exit == 0, render.Err);
        var rules = RuleLine().Matches(render.Out).Select(m => m.Value.Trim()).ToList();
        Assert.Equal(
            [
                """resources: ["agentpolicies", "agentbudgets", "tenantregions", "toolservers"]|verbs: ["list", "watch"]""",
                """resources: ["agentpolicies/status", "agentbudgets/status", "tenantregions/status", "toolservers/status"]|verbs: ["patch"]""",
                """resources: ["approvalrequests"]|verbs: ["get", "list", "watch", "create", "delete"]""",
                """resources: ["approvalrequests/status"]|verbs: ["patch"]""",
                """resources: ["events"]|verbs: ["create"]""",
                """resources: ["tokenreviews"]|verbs: ["create"]""",
                """resources: ["subjectaccessreviews"]|verbs: ["create"]""",
                """resources: ["namespaces"]|verbs: ["get", "list", "watch"]""",
                """resources: ["mutatingwebhookconfigurations"]|verbs: ["create"]""",
                """resources: ["mutatingwebhookconfigurations"]|resourceNames: ["aegis-sidecar-injector"]|verbs: ["get", "update"]""",
                """resources: ["tokenrevocations"]|verbs: ["create"]""",
                """resources: ["leases"]|verbs: ["create"]""",
                """resources: ["leases"]|resourceNames: ["aegis-operator"]|verbs: ["get", "update"]""",
                """resources: ["configmaps"]|verbs: ["get", "list", "watch", "create", "update"]""",
                """resources: ["secrets"]|resourceNames: ["aegis-org-keys"]|verbs: ["get"]""",
                """resources: ["secrets"]|verbs: ["create"]""",
                """resources: ["secrets"]|resourceNames: ["aegis-decision-tls", "aegis-webhook-tls"]|verbs: ["get", "update"]""",
            ],
            rules.Select(r => Regex.Replace(r, @"\s*\n\s*", "|")));
        Assert.DoesNotContain("\"*\"", render.Out, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(render.Out, "\"delete\""));
    }

    [Theory]
    [InlineData("decision.replicas=3", "at '/decision/replicas': maximum: got 3, want 1")]
    [InlineData("decision.autoscaling.enabled=true", "at '/decision/autoscaling/enabled'")]
    [InlineData("bundleStore.type=azure", "at '/bundleStore/type': value must be one of 'configmap', 's3', 'gcs'")]
    [InlineData("bundleStore.type=s3", "at '/bundleStore': missing property 'bucket'")]
    [InlineData("webhook.certificates=vault", "at '/webhook/certificates': value must be one of 'operator', 'cert-manager'")]
    [InlineData("redis.url=localhost", "at '/redis/url'")]
    [InlineData("decision.tenants[0]=Not_A_Tenant", "at '/decision/tenants/0'")]
    [InlineData("replicaCount=2", "additional properties 'replicaCount' not allowed")]
    [InlineData("signer.type=aws-kms", "at '/signer'")]
    [InlineData("audit.signer.type=gcp-kms", "at '/audit/signer/kmsKey': minLength")]
    [InlineData("audit.archive=ftp://bucket", "at '/audit/archive'")]
    [InlineData("audit.objectLockMode=NONE", "at '/audit/objectLockMode'")]
    public async Task HelmTemplate_InvalidValues_AreRefusedWithAClearMessage(string set, string message)
    {
        var helm = RequireHelm();
        using var home = new TempDirectory();

        var render = await HelmAsync(helm, home, "template", "aegis", Chart, "--set", "decision.tenants={acme}", "--set", set);

        Assert.NotEqual(0, render.Exit);
        Assert.Contains(message, render.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HelmTemplate_NoTenants_IsRefusedWithTheValueToSet()
    {
        var helm = RequireHelm();
        using var home = new TempDirectory();

        var render = await HelmAsync(helm, home, "template", "aegis", Chart);

        Assert.NotEqual(0, render.Exit);
        Assert.Contains("decision.tenants: list the tenants", render.Err, StringComparison.Ordinal);
    }

    private static async Task<JsonObject> JsonAsync(string kubectl, Dictionary<string, string> env, string kind, string name)
    {
        var get = await InstallTools.RunAsync(kubectl, env, null, "get", kind, name, "-n", Namespace, "-o", "json");
        Assert.True(get.Exit == 0, get.Err);
        return JsonNode.Parse(get.Out)!.AsObject();
    }

    private static List<string> Args(JsonObject deployment) =>
        deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();

    internal static List<(string Kind, string Text)> Documents(string yaml) =>
        DocumentSeparator().Split(yaml)
            .Select(text => (Kind: KindLine().Match(text) is { Success: true } m ? m.Groups[1].Value : "", Text: text))
            .Where(d => d.Kind.Length > 0)
            .ToList();

    [GeneratedRegex(@"^---\s*$", RegexOptions.Multiline)]
    private static partial Regex DocumentSeparator();

    [GeneratedRegex(@"^kind: (\w+)\s*$", RegexOptions.Multiline)]
    private static partial Regex KindLine();

    [GeneratedRegex(@"- alert: (\w+)")]
    private static partial Regex AlertName();

    [GeneratedRegex(@"resources: \[[^\]]*\]\s*\n(\s*resourceNames: \[[^\]]*\]\s*\n)?\s*verbs: \[[^\]]*\]")]
    private static partial Regex RuleLine();
}
