using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>Routing: discovery documents and the REST paths of collections, objects and the status subresource.</summary>
public sealed partial class KubernetesTestServer
{
    private async Task<IResult> HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var segments = request.Path.Value!.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments is ["api"])
        {
            return Results.Json(new JsonObject { ["kind"] = "APIVersions", ["versions"] = new JsonArray("v1"), ["serverAddressByClientCIDRs"] = new JsonArray() });
        }

        if (segments is ["apis"])
        {
            return Results.Json(GroupList());
        }

        string group, version;
        string[] rest;
        switch (segments)
        {
            case ["api", var v, .. var r]:
                (group, version, rest) = ("", v, r);
                break;
            case ["apis", var g, var v, .. var r]:
                (group, version, rest) = (g, v, r);
                break;
            default:
                return StatusResult(HttpStatusCode.NotFound, "NotFound", $"the server could not find the requested resource ({request.Path})");
        }

        if (rest.Length == 0)
        {
            return Results.Json(ResourceList(group, version));
        }

        // Paths: {plural}, {plural}/{name}[/status], namespaces/{ns}/{plural}[/{name}[/status]].
        string? ns = null, name = null, sub = null, plural;
        if (rest[0] == "namespaces" && rest.Length >= 3)
        {
            (ns, plural) = (rest[1], rest[2]);
            name = rest.Length > 3 ? rest[3] : null;
            sub = rest.Length > 4 ? rest[4] : null;
        }
        else
        {
            plural = rest[0];
            name = rest.Length > 1 ? rest[1] : null;
            sub = rest.Length > 2 ? rest[2] : null;
        }

        ResourceType? type;
        lock (_lock)
        {
            _types.TryGetValue(Key(group, plural), out type);
        }

        if (type is null || type.Version != version || (sub is not null && (sub != "status" || !type.HasStatus)))
        {
            return StatusResult(HttpStatusCode.NotFound, "NotFound", $"the server could not find the requested resource ({request.Path})");
        }

        var method = request.Method;
        if (name is null)
        {
            if (method == "GET")
            {
                var query = request.Query;
                var selector = LabelSelector.Parse(query["labelSelector"]);
                if (query["watch"] is { Count: > 0 } w && w[0] is "true" or "1")
                {
                    Count("watch", type);
                    await WatchAsync(context, type, ns, selector, query["resourceVersion"].ToString(),
                        query["allowWatchBookmarks"].ToString() == "true",
                        int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var t) ? t : 0);
                    return Results.Empty;
                }

                Count("list", type);
                return List(type, ns, selector);
            }

            if (method == "POST")
            {
                var body = await ReadBodyAsync(request);
                return body is null ? BadRequest($"the body is not a JSON object (content type {request.ContentType})") : Create(type, ns, body);
            }

            return StatusResult(HttpStatusCode.MethodNotAllowed, "MethodNotAllowed", $"{method} is not supported on a collection here");
        }

        var key = ObjectKey(type, ns, name);
        switch (method)
        {
            case "GET":
                Count("get", type);
                lock (_lock)
                {
                    return _objects.TryGetValue(key, out var found) ? Results.Json(found) : NotFound(type, name);
                }

            case "PUT":
                var replacement = await ReadBodyAsync(request);
                return replacement is null ? BadRequest("the body is not a JSON object") : Update(type, ns, name, _ => replacement, sub == "status", requireVersion: true);
            case "PATCH":
                var patch = await ReadNodeAsync(request);
                if (patch is null)
                {
                    return BadRequest("the patch is not valid JSON");
                }

                var contentType = request.ContentType ?? "";
                Func<JsonObject, JsonObject> apply = contentType.StartsWith("application/json-patch+json", StringComparison.Ordinal)
                    ? current => JsonPatch(current, patch)
                    : current => (JsonObject)MergePatch(current, patch)!;
                return Update(type, ns, name, apply, sub == "status", requireVersion: false);
            case "DELETE":
                return Delete(type, ns, name);
            default:
                return StatusResult(HttpStatusCode.MethodNotAllowed, "MethodNotAllowed", $"{method} is not supported");
        }
    }
    private static string ObjectKey(ResourceType type, string? ns, string name) => $"{Key(type.Group, type.Plural)}/{(type.Namespaced ? ns + "/" : "")}{name}";

    private static async Task<JsonObject?> ReadBodyAsync(HttpRequest request) => await ReadNodeAsync(request) as JsonObject;

    private static async Task<JsonNode?> ReadNodeAsync(HttpRequest request)
    {
        try
        {
            using var reader = new StreamReader(request.Body, Encoding.UTF8);
            return JsonNode.Parse(await reader.ReadToEndAsync());
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static IResult NotFound(ResourceType type, string name) =>
        StatusResult(HttpStatusCode.NotFound, "NotFound", $"{type.Plural}{(type.Group.Length > 0 ? "." + type.Group : "")} \"{name}\" not found");

    private static IResult BadRequest(string message) => StatusResult(HttpStatusCode.BadRequest, "BadRequest", message);

    private static IResult Invalid(ResourceType type, string name, string error) =>
        StatusResult(HttpStatusCode.UnprocessableEntity, "Invalid", $"{type.Kind}{(type.Group.Length > 0 ? "." + type.Group : "")} \"{name}\" is invalid: {error}");
    private JsonObject GroupList()
    {
        lock (_lock)
        {
            var groups = new JsonArray();
            foreach (var g in _types.Values.Where(t => t.Group.Length > 0).GroupBy(t => t.Group).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var version = g.First().Version;
                var gv = new JsonObject { ["groupVersion"] = $"{g.Key}/{version}", ["version"] = version };
                groups.Add(new JsonObject { ["name"] = g.Key, ["versions"] = new JsonArray(gv.DeepClone()), ["preferredVersion"] = gv });
            }

            return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = groups };
        }
    }

    private JsonObject ResourceList(string group, string version)
    {
        lock (_lock)
        {
            var resources = new JsonArray();
            foreach (var t in _types.Values.Where(t => t.Group == group && t.Version == version).OrderBy(t => t.Plural, StringComparer.Ordinal))
            {
                var verbs = new JsonArray("create", "delete", "get", "list", "patch", "update", "watch");
                var resource = new JsonObject { ["name"] = t.Plural, ["singularName"] = t.Kind.ToLowerInvariant(), ["namespaced"] = t.Namespaced, ["kind"] = t.Kind, ["verbs"] = verbs };
                if (t.ShortNames is { } shortNames)
                {
                    resource["shortNames"] = new JsonArray([.. shortNames.Select(n => (JsonNode)n)]);
                }

                if (t.Categories is { } categories)
                {
                    resource["categories"] = new JsonArray([.. categories.Select(n => (JsonNode)n)]);
                }

                resources.Add(resource);
                if (t.HasStatus)
                {
                    resources.Add(new JsonObject { ["name"] = t.Plural + "/status", ["singularName"] = "", ["namespaced"] = t.Namespaced, ["kind"] = t.Kind, ["verbs"] = new JsonArray("get", "patch", "update") });
                }
            }

            return new JsonObject { ["kind"] = "APIResourceList", ["apiVersion"] = "v1", ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}", ["resources"] = resources };
        }
    }
}
