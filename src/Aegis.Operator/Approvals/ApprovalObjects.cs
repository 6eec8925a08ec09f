using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Aegis.Policy.Loading;
using Aegis.Policy.Resources;
using k8s;
using k8s.Models;

namespace Aegis.Operator.Approvals;

/// <summary>Reading, naming and status-patching ApprovalRequest objects.</summary>
public static class ApprovalObjects
{
    public const string Plural = "approvalrequests";

    /// <summary>Label holding the coalescing key: the same (tenant, agent, tool, argsDigest) gives the same key.</summary>
    public const string KeyLabel = "aegis.dev/approval-key";

    /// <summary>The coalescing key: hex sha-256 of tenant, agent, tool and digest, cut to fit a label value.</summary>
    public static string Key(string tenant, string agentId, string tool, string argsDigest) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{tenant}\n{agentId}\n{tool}\n{argsDigest}")))[..40];

    /// <summary>
    /// The deterministic name of the <paramref name="attempt"/>-th request for <paramref name="key"/>: two replicas
    /// filing the same call at once pick the same name, and the API server lets only one create it.
    /// </summary>
    public static string Name(string key, int attempt) => $"ar-{key[..16]}-{attempt.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The attempt number in a name made by <see cref="Name"/>, or 0.</summary>
    public static int Attempt(string name) =>
        name.LastIndexOf('-') is var dash and > 0 && int.TryParse(name.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;

    /// <summary>The typed object, or null (with the loader's reason) when it does not load.</summary>
    public static ApprovalRequest? Load(JsonObject json, out string error)
    {
        var meta = json["metadata"];
        var load = ManifestLoader.LoadText(json.ToJsonString(), $"{ApprovalRequest.KindName} {meta?["namespace"]}/{meta?["name"]}");
        if (load.Succeeded && load.Objects is [ApprovalRequest request])
        {
            error = "";
            return request;
        }

        error = string.Join("; ", load.Errors.Select(e => e.ToString()));
        return null;
    }

    /// <summary>
    /// The loader's checks on a request read from the cache: null when it is valid, else "field: reason; ..." (or why it
    /// could not be read into the model at all).
    /// </summary>
    public static string? Validate(ApprovalRequest request, string? readError)
    {
        if (readError is not null)
        {
            return readError;
        }

        var errors = new List<string>();
        ResourceValidator.Validate(request, (field, reason) => errors.Add($"{field}: {reason}"));
        return errors.Count == 0 ? null : string.Join("; ", errors);
    }

    /// <summary>Parses an RFC 3339 time field, or null.</summary>
    public static DateTimeOffset? Time(string? text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : null;

    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Merge-patches <paramref name="status"/> through the status subresource. With <paramref name="resourceVersion"/>
    /// the write only succeeds on that version (409 otherwise), so two people deciding at once cannot both win.
    /// </summary>
    public static Task PatchStatusAsync(IKubernetes client, string ns, string name, JsonObject status, string? resourceVersion, CancellationToken cancellationToken)
    {
        var patch = new JsonObject { ["status"] = status };
        if (resourceVersion is not null)
        {
            patch["metadata"] = new JsonObject { ["resourceVersion"] = resourceVersion };
        }

        return client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch),
            AegisObject.Group, AegisObject.Version, ns, Plural, name, cancellationToken: cancellationToken);
    }

    /// <summary>The status fields a decision sets.</summary>
    public static JsonObject Decision(ApprovalPhase phase, string decidedBy, DateTimeOffset decidedAt, string reason) => new()
    {
        ["phase"] = phase.ToString(),
        ["decidedBy"] = decidedBy,
        ["decidedAt"] = Format(decidedAt),
        ["reason"] = reason,
    };
}
