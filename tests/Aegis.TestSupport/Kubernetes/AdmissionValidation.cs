using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>The checks the API server makes on admissionregistration.k8s.io/v1 objects, with its field paths and wording.</summary>
internal static class AdmissionValidation
{
    private static readonly string[] SideEffects = ["None", "NoneOnDryRun"];
    private static readonly string[] FailurePolicies = ["Ignore", "Fail"];
    private static readonly string[] ReinvocationPolicies = ["Never", "IfNeeded"];
    private static readonly string[] MatchPolicies = ["Exact", "Equivalent"];
    private static readonly string[] ReviewVersions = ["v1", "v1beta1"];

    public static string? MutatingWebhookConfiguration(JsonObject obj)
    {
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var webhooks = obj["webhooks"] as JsonArray ?? [];
        for (var i = 0; i < webhooks.Count; i++)
        {
            var path = $"webhooks[{i}]";
            var hook = webhooks[i] as JsonObject ?? [];
            var name = hook["name"]?.ToString();
            if (string.IsNullOrEmpty(name))
            {
                errors.Add($"{path}.name: Required value");
            }
            else if (name.Split('.').Length < 3)
            {
                errors.Add($"{path}.name: Invalid value: \"{name}\": should be a domain with at least three segments separated by dots");
            }
            else if (!names.Add(name))
            {
                errors.Add($"{path}.name: Duplicate value: \"{name}\"");
            }

            Enum(hook, "sideEffects", SideEffects, path, errors, required: true);
            Enum(hook, "failurePolicy", FailurePolicies, path, errors);
            Enum(hook, "reinvocationPolicy", ReinvocationPolicies, path, errors);
            Enum(hook, "matchPolicy", MatchPolicies, path, errors);
            if (hook["admissionReviewVersions"] is not JsonArray { Count: > 0 } versions)
            {
                errors.Add($"{path}.admissionReviewVersions: Required value: must specify one of v1, v1beta1");
            }
            else if (!versions.Any(v => ReviewVersions.Contains(v?.ToString())))
            {
                errors.Add($"{path}.admissionReviewVersions: Invalid value: must include at least one of v1, v1beta1");
            }

            if (hook["timeoutSeconds"] is { } timeout && (timeout.GetValueKind() != JsonValueKind.Number || timeout.GetValue<int>() is < 1 or > 30))
            {
                errors.Add($"{path}.timeoutSeconds: Invalid value: {timeout.ToJsonString()}: the timeout value must be between 1 and 30 seconds");
            }

            ClientConfig(hook["clientConfig"] as JsonObject, $"{path}.clientConfig", errors);
        }

        return errors.Count == 0 ? null : string.Join(", ", errors);
    }

    private static void ClientConfig(JsonObject? config, string path, List<string> errors)
    {
        if (config is null || (config["url"] is null) == (config["service"] is null))
        {
            errors.Add($"{path}: Required value: exactly one of url or service is required");
            return;
        }

        if (config["service"] is JsonObject service)
        {
            if (string.IsNullOrEmpty(service["name"]?.ToString()) || string.IsNullOrEmpty(service["namespace"]?.ToString()))
            {
                errors.Add($"{path}.service: Required value: name and namespace are required");
            }

            if (service["path"]?.ToString() is { } servicePath && !servicePath.StartsWith('/'))
            {
                errors.Add($"{path}.service.path: Invalid value: \"{servicePath}\": must start with a '/'");
            }

            if (service["port"] is { } port && int.Parse(port.ToJsonString(), CultureInfo.InvariantCulture) is < 1 or > 65535)
            {
                errors.Add($"{path}.service.port: Invalid value: {port}: port is not valid: must be between 1 and 65535, inclusive");
            }
        }

        if (config["caBundle"] is { } bundle)
        {
            try
            {
                Convert.FromBase64String(bundle.ToString());
            }
            catch (FormatException)
            {
                errors.Add($"{path}.caBundle: Invalid value: not base64-encoded bytes");
            }
        }
    }

    private static void Enum(JsonObject hook, string field, string[] allowed, string path, List<string> errors, bool required = false)
    {
        var value = hook[field]?.ToString();
        if (value is null)
        {
            if (required)
            {
                errors.Add($"{path}.{field}: Required value: must specify one of {string.Join(", ", allowed)}");
            }
        }
        else if (!allowed.Contains(value))
        {
            errors.Add($"{path}.{field}: Unsupported value: \"{value}\": supported values: {string.Join(", ", allowed.Select(a => $"\"{a}\""))}");
        }
    }
}
