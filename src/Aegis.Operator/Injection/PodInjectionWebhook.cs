using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.Operator.Injection;

/// <summary>An HTTP answer to the API server: 200 with an AdmissionReview, or 400 with what is wrong with the request.</summary>
public sealed record WebhookAnswer(int StatusCode, string ContentType, string Body);

/// <summary>
/// The mutating webhook at <c>/mutate-pods</c>: AdmissionReview v1 in, AdmissionReview v1 out with the request's uid
/// and a base64 RFC 6902 patch. A malformed review is answered 400 with the field at fault, never 500. The webhook
/// has no side effects, so dry-run requests get the same answer and are merely not counted.
/// </summary>
public sealed partial class PodInjectionWebhook(PodInjector injector, INamespaceLabels namespaces, ILogger<PodInjectionWebhook> logger)
{
    public const string Path = "/mutate-pods";
    public const string ApiVersion = "admission.k8s.io/v1";

    /// <summary>Larger than any pod the API server admits (etcd's request limit is 1.5 MiB).</summary>
    public const int MaxBodyBytes = 3 * 1024 * 1024;

    private long _injected;

    /// <summary>Pods injected, not counting dry runs.</summary>
    public long Injected => Interlocked.Read(ref _injected);

    public void Map(IEndpointRouteBuilder endpoints) => endpoints.MapPost(Path, async (HttpContext context) =>
    {
        var answer = await ReadAsync(context.Request, context.RequestAborted).ConfigureAwait(false) is { } body
            ? await ReviewAsync(body, context.RequestAborted).ConfigureAwait(false)
            : BadRequest($"the body is larger than {MaxBodyBytes} bytes");
        return Results.Text(answer.Body, answer.ContentType, Encoding.UTF8, answer.StatusCode);
    });

    /// <summary>Answers one AdmissionReview given as JSON bytes.</summary>
    public async Task<WebhookAnswer> ReviewAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        // Strings are decoded only when read, and an invalid UTF-8 one would throw there rather than here.
        if (!System.Text.Unicode.Utf8.IsValid(body.Span))
        {
            return BadRequest("the body is not JSON: it is not valid UTF-8");
        }

        JsonNode? review;
        try
        {
            // A member named twice would throw on first access; the API server never sends one.
            review = JsonNode.Parse(body.Span, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            return BadRequest($"the body is not JSON: {e.Message}");
        }

        if (Validate(review) is { } problem)
        {
            return BadRequest(problem);
        }

        var request = review!["request"]!.AsObject();
        var uid = request["uid"]!.GetValue<string>();
        if (request["kind"]?["kind"]?.ToString() != "Pod" || request["operation"]?.ToString() != "CREATE")
        {
            // A webhook configured more broadly than ours lets everything else through unchanged.
            return Respond(uid, new InjectionResult(InjectionOutcome.Skipped, "only pod creation is mutated"));
        }

        if (request["object"] is not JsonObject pod)
        {
            return BadRequest("AdmissionReview request.object: required for a pod CREATE, and must be an object");
        }

        // The injector reads these as objects; the API server sends them typed, a direct caller might not.
        if (pod["metadata"] is not (null or JsonObject) || pod["spec"] is not (null or JsonObject)
            || pod["metadata"]?["labels"] is not (null or JsonObject) || pod["metadata"]?["annotations"] is not (null or JsonObject))
        {
            return BadRequest("AdmissionReview request.object: metadata, metadata.labels, metadata.annotations and spec must be objects");
        }

        var ns = request["namespace"]?.ToString() is { Length: > 0 } requestNs ? requestNs : pod["metadata"]?["namespace"]?.ToString();
        if (string.IsNullOrEmpty(ns))
        {
            return BadRequest("AdmissionReview request.namespace: required for a pod");
        }

        NamespaceMetadata? metadata;
        try
        {
            metadata = await namespaces.GetAsync(ns, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            // Fail closed: this pod's namespace (or the pod) asked for injection, and we cannot tell what it wants.
            LogNamespaceUnavailable(logger, ns, e.Message);
            return Respond(uid, new InjectionResult(InjectionOutcome.Rejected, $"the labels of namespace {ns} cannot be read: {e.Message}"));
        }

        InjectionResult result;
        try
        {
            result = injector.Decide(pod, ns, metadata ?? NamespaceMetadata.Empty);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            // System.Text.Json's answer to a node of the wrong type (a securityContext that is a string, say) anywhere
            // in the pod: the API server sends pods typed, so this is a caller that is not one, refused like any other.
            return BadRequest("AdmissionReview request.object is not a well-formed Pod: " + e.Message);
        }
        var dryRun = request["dryRun"]?.GetValueKind() == JsonValueKind.True;
        if (result.Outcome == InjectionOutcome.Injected && !dryRun)
        {
            Interlocked.Increment(ref _injected);
        }

        var name = pod["metadata"]?["name"]?.ToString() ?? pod["metadata"]?["generateName"]?.ToString() ?? "";
        LogDecision(logger, ns, name, result.Outcome, result.Reason, dryRun);
        return Respond(uid, result);
    }

    private static string? Validate(JsonNode? review)
    {
        if (review is not JsonObject obj)
        {
            return "the body must be an AdmissionReview object";
        }

        if (obj["apiVersion"]?.ToString() != ApiVersion || obj["kind"]?.ToString() != "AdmissionReview")
        {
            return $"AdmissionReview apiVersion/kind: expected {ApiVersion} AdmissionReview, got \"{obj["apiVersion"]}\" \"{obj["kind"]}\" (set admissionReviewVersions: [v1])";
        }

        if (obj["request"] is not JsonObject request)
        {
            return "AdmissionReview request: required";
        }

        if (request["uid"] is not JsonValue uid || uid.GetValueKind() != JsonValueKind.String || uid.GetValue<string>().Length == 0)
        {
            return "AdmissionReview request.uid: required, a non-empty string";
        }

        if (request["kind"] is not (null or JsonObject) || request["operation"] is not (null or JsonValue))
        {
            return "AdmissionReview request.kind must be an object and request.operation a string";
        }

        return null;
    }

    private static WebhookAnswer Respond(string uid, InjectionResult result)
    {
        var response = new JsonObject { ["uid"] = uid, ["allowed"] = result.Outcome != InjectionOutcome.Rejected };
        if (result.Outcome == InjectionOutcome.Injected)
        {
            response["patchType"] = "JSONPatch";
            response["patch"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(result.Patch!.ToJsonString()));
        }
        else if (result.Outcome == InjectionOutcome.Rejected)
        {
            response["status"] = new JsonObject { ["status"] = "Failure", ["code"] = 403, ["reason"] = "Forbidden", ["message"] = "aegis: " + result.Reason };
        }

        if (result.Warnings is { Count: > 0 } warnings)
        {
            response["warnings"] = new JsonArray([.. warnings.Select(w => (JsonNode)w)]);
        }

        var review = new JsonObject { ["apiVersion"] = ApiVersion, ["kind"] = "AdmissionReview", ["response"] = response };
        return new WebhookAnswer(StatusCodes.Status200OK, "application/json", review.ToJsonString());
    }

    private static WebhookAnswer BadRequest(string message) => new(StatusCodes.Status400BadRequest, "text/plain", message + "\n");

    private static async Task<byte[]?> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBodyBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "pod {Namespace}/{Pod}: {Outcome}, {Reason} (dry run: {DryRun})")]
    private static partial void LogDecision(ILogger logger, string @namespace, string pod, InjectionOutcome outcome, string reason, bool dryRun);

    [LoggerMessage(Level = LogLevel.Warning, Message = "namespace {Namespace}: labels unavailable ({Reason}); the pod is refused")]
    private static partial void LogNamespaceUnavailable(ILogger logger, string @namespace, string reason);
}
