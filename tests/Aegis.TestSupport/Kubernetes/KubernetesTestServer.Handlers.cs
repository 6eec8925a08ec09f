using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Aegis.TestSupport.Kubernetes;

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

    private IResult List(ResourceType type, string? ns, LabelSelector selector)
    {
        lock (_lock)
        {
            var items = new JsonArray();
            foreach (var obj in Matching(type, ns, selector))
            {
                items.Add(obj.DeepClone());
            }

            return Results.Json(new JsonObject
            {
                ["apiVersion"] = type.ApiVersion,
                ["kind"] = type.Kind + "List",
                ["metadata"] = new JsonObject { ["resourceVersion"] = _rv.ToString(CultureInfo.InvariantCulture) },
                ["items"] = items,
            });
        }
    }

    private IEnumerable<JsonObject> Matching(ResourceType type, string? ns, LabelSelector selector)
    {
        var prefix = Key(type.Group, type.Plural) + "/" + (ns is null ? "" : ns + "/");
        return _objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal) && selector.Matches(o.Value)).Select(o => o.Value);
    }

    private IResult Create(ResourceType type, string? ns, JsonObject body)
    {
        var metadata = body["metadata"] as JsonObject ?? [];
        body["metadata"] = metadata;
        var name = metadata["name"]?.ToString();
        if (string.IsNullOrEmpty(name))
        {
            return Invalid(type, "", "metadata.name: Required value: name is required");
        }

        if (type.Namespaced)
        {
            if (metadata["namespace"] is { } bodyNs && bodyNs.ToString() != ns)
            {
                return BadRequest($"the namespace of the object ({bodyNs}) does not match the namespace on the request ({ns})");
            }

            metadata["namespace"] = ns;
        }

        body["apiVersion"] = type.ApiVersion;
        body["kind"] = type.Kind;
        if (Validate(type, body) is { } error)
        {
            return Invalid(type, name, error);
        }

        lock (_lock)
        {
            var key = ObjectKey(type, ns, name);
            if (_objects.ContainsKey(key))
            {
                return StatusResult(HttpStatusCode.Conflict, "AlreadyExists", $"{type.Plural}{(type.Group.Length > 0 ? "." + type.Group : "")} \"{name}\" already exists");
            }

            metadata["uid"] = Guid.NewGuid().ToString();
            metadata["generation"] = 1L;
            metadata["creationTimestamp"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            if (type.HasStatus)
            {
                // With a status subresource, status is written only through it.
                body.Remove("status");
            }

            var stored = Store(type, ns, body, "ADDED");
            if (type.Kind == "CustomResourceDefinition")
            {
                Register(stored);
            }

            return Results.Json(stored, statusCode: 201);
        }
    }

    private IResult Update(ResourceType type, string? ns, string name, Func<JsonObject, JsonObject> change, bool status, bool requireVersion)
    {
        lock (_lock)
        {
            var key = ObjectKey(type, ns, name);
            if (!_objects.TryGetValue(key, out var current))
            {
                return NotFound(type, name);
            }

            JsonObject proposed;
            try
            {
                proposed = change((JsonObject)current.DeepClone());
            }
            catch (Exception e) when (e is InvalidOperationException or JsonException or FormatException or KeyNotFoundException)
            {
                return StatusResult(HttpStatusCode.UnprocessableEntity, "Invalid", "the patch could not be applied: " + e.Message);
            }

            var metadata = proposed["metadata"] as JsonObject ?? [];
            var sentVersion = metadata["resourceVersion"]?.ToString();
            var conditional = requireVersion || sentVersion is not null;

            // Another writer got there first: the object moves on (new resourceVersion, a watch event), so this
            // conditional write is stale. Unconditional patches never conflict, as on a real server.
            if (conditional && _racingWriters.TryGetValue(type.Plural, out var racing) && racing > 0)
            {
                _racingWriters[type.Plural] = racing - 1;
                current = Store(type, ns, (JsonObject)current.DeepClone(), "MODIFIED");
            }

            if (conditional && sentVersion != current["metadata"]!["resourceVersion"]!.ToString())
            {
                return StatusResult(HttpStatusCode.Conflict, "Conflict",
                    $"Operation cannot be fulfilled on {type.Plural}{(type.Group.Length > 0 ? "." + type.Group : "")} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
            }

            // The main resource never changes status and the status subresource never changes anything else.
            var next = (JsonObject)current.DeepClone();
            if (status)
            {
                next["status"] = proposed["status"]?.DeepClone();
            }
            else
            {
                foreach (var (k, v) in proposed)
                {
                    if (k is not ("status" or "metadata") || !type.HasStatus && k == "status")
                    {
                        next[k] = v?.DeepClone();
                    }
                }

                var nextMeta = (JsonObject)next["metadata"]!;
                foreach (var field in new[] { "labels", "annotations", "finalizers", "ownerReferences" })
                {
                    nextMeta[field] = metadata[field]?.DeepClone();
                }

                if (!JsonNode.DeepEquals(current["spec"], next["spec"]))
                {
                    nextMeta["generation"] = long.Parse(current["metadata"]!["generation"]!.ToJsonString(), CultureInfo.InvariantCulture) + 1;
                }
            }

            if (Validate(type, next) is { } error)
            {
                return Invalid(type, name, error);
            }

            if (JsonNode.DeepEquals(current, next))
            {
                return Results.Json(current);
            }

            var finalizers = next["metadata"]!["finalizers"] as JsonArray;
            if (next["metadata"]!["deletionTimestamp"] is not null && (finalizers is null || finalizers.Count == 0))
            {
                _objects.Remove(key);
                Emit("DELETED", type, Bump(next));
                return Results.Json(next);
            }

            return Results.Json(Store(type, ns, next, "MODIFIED"));
        }
    }

    private IResult Delete(ResourceType type, string? ns, string name)
    {
        lock (_lock)
        {
            var key = ObjectKey(type, ns, name);
            if (!_objects.TryGetValue(key, out var current))
            {
                return NotFound(type, name);
            }

            if (current["metadata"]!["finalizers"] is JsonArray { Count: > 0 })
            {
                if (current["metadata"]!["deletionTimestamp"] is null)
                {
                    current = (JsonObject)current.DeepClone();
                    current["metadata"]!["deletionTimestamp"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                    current = Store(type, ns, current, "MODIFIED");
                }

                return Results.Json(current, statusCode: 202);
            }

            _objects.Remove(key);
            Emit("DELETED", type, Bump((JsonObject)current.DeepClone()));
            return Results.Json(new JsonObject { ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Success", ["details"] = new JsonObject { ["name"] = name, ["kind"] = type.Plural } });
        }
    }

    private JsonObject Store(ResourceType type, string? ns, JsonObject obj, string eventType)
    {
        var name = obj["metadata"]!["name"]!.ToString();
        Bump(obj);
        _objects[ObjectKey(type, ns, name)] = obj;
        Emit(eventType, type, obj);
        return obj;
    }

    private JsonObject Bump(JsonObject obj)
    {
        obj["metadata"]!["resourceVersion"] = (++_rv).ToString(CultureInfo.InvariantCulture);
        return obj;
    }

    private void Emit(string eventType, ResourceType type, JsonObject obj)
    {
        _history.Add((_rv, eventType, type, (JsonObject)obj.DeepClone()));
        if (_history.Count > 10_000)
        {
            _compactedThrough = _history[0].Rv;
            _history.RemoveAt(0);
        }

        var line = WatchLine(eventType, obj);
        foreach (var watcher in _watchers.Where(w => w.Type == type && Selects(w, obj)))
        {
            watcher.Events.Writer.TryWrite(line);
        }
    }

    private static bool Selects(Watcher watcher, JsonObject obj) =>
        (watcher.Namespace is null || obj["metadata"]?["namespace"]?.ToString() == watcher.Namespace) && watcher.Selector.Matches(obj);

    private static string WatchLine(string type, JsonNode obj) => new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() }.ToJsonString() + "\n";

    private async Task WatchAsync(HttpContext context, ResourceType type, string? ns, LabelSelector selector, string fromVersion, bool bookmarks, int timeoutSeconds)
    {
        await _watchGate.Task.WaitAsync(context.RequestAborted);
        var watcher = new Watcher(type, ns, selector, bookmarks);
        lock (_lock)
        {
            if (long.TryParse(fromVersion, CultureInfo.InvariantCulture, out var from) && from > 0)
            {
                if (from < _compactedThrough)
                {
                    // As a real server does: 200, then one ERROR event carrying a 410 Status.
                    watcher.Events.Writer.TryWrite(WatchLine("ERROR", new JsonObject
                    {
                        ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure",
                        ["message"] = $"too old resource version: {from} ({_compactedThrough})", ["reason"] = "Expired", ["code"] = 410,
                    }));
                    watcher.Events.Writer.TryComplete();
                }
                else
                {
                    foreach (var (rv, eventType, resource, obj) in _history.Where(h => h.Rv > from && h.Resource == type && Selects(watcher, h.Object)))
                    {
                        watcher.Events.Writer.TryWrite(WatchLine(eventType, obj));
                    }
                }
            }
            else
            {
                foreach (var obj in Matching(type, ns, selector))
                {
                    watcher.Events.Writer.TryWrite(WatchLine("ADDED", obj));
                }
            }

            if (!watcher.Events.Reader.Completion.IsCompleted)
            {
                _watchers.Add(watcher);
            }
        }

        var response = context.Response;
        response.ContentType = "application/json";
        await response.StartAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        if (timeoutSeconds > 0)
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds));
        }

        try
        {
            while (true)
            {
                var read = watcher.Events.Reader.WaitToReadAsync(timeout.Token).AsTask();
                if (bookmarks)
                {
                    var first = await Task.WhenAny(read, Task.Delay(BookmarkInterval, timeout.Token));
                    if (first != read)
                    {
                        string bookmark;
                        lock (_lock)
                        {
                            bookmark = WatchLine("BOOKMARK", new JsonObject
                            {
                                ["kind"] = type.Kind, ["apiVersion"] = type.ApiVersion,
                                ["metadata"] = new JsonObject { ["resourceVersion"] = _rv.ToString(CultureInfo.InvariantCulture) },
                            });
                        }

                        await response.WriteAsync(bookmark, timeout.Token);
                        await response.Body.FlushAsync(timeout.Token);
                        continue;
                    }
                }

                if (!await read)
                {
                    return;
                }

                while (watcher.Events.Reader.TryRead(out var line))
                {
                    await response.WriteAsync(line, timeout.Token);
                }

                await response.Body.FlushAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away or the watch timed out: end the stream as the server does.
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(watcher);
            }
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

    /// <summary>RFC 7386 JSON merge patch.</summary>
    private static JsonNode? MergePatch(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject is { } t ? (JsonObject)t.DeepClone() : [];
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result[key] = MergePatch(result[key], value);
            }
        }

        return result;
    }

    /// <summary>RFC 6902 JSON patch: add, remove, replace and test.</summary>
    private static JsonObject JsonPatch(JsonObject target, JsonNode patch)
    {
        foreach (var op in patch.AsArray())
        {
            var path = op!["path"]!.ToString().Split('/').Skip(1).Select(p => p.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
            var parent = path[..^1].Aggregate((JsonNode)target, (node, segment) => node is JsonArray a ? a[int.Parse(segment, CultureInfo.InvariantCulture)]! : node[segment] ?? throw new KeyNotFoundException($"path /{string.Join('/', path)} does not exist"));
            var last = path[^1];
            var value = op["value"]?.DeepClone();
            switch (op["op"]!.ToString())
            {
                case "add" when parent is JsonArray array:
                    if (last == "-")
                    {
                        array.Add(value);
                    }
                    else
                    {
                        array.Insert(int.Parse(last, CultureInfo.InvariantCulture), value);
                    }

                    break;
                case "add" or "replace" when parent is JsonObject obj:
                    obj[last] = value;
                    break;
                case "replace" when parent is JsonArray array:
                    array[int.Parse(last, CultureInfo.InvariantCulture)] = value;
                    break;
                case "remove" when parent is JsonObject obj:
                    if (!obj.Remove(last))
                    {
                        throw new KeyNotFoundException($"path /{string.Join('/', path)} does not exist");
                    }

                    break;
                case "remove" when parent is JsonArray array:
                    array.RemoveAt(int.Parse(last, CultureInfo.InvariantCulture));
                    break;
                case "test":
                    var actual = parent is JsonArray a2 ? a2[int.Parse(last, CultureInfo.InvariantCulture)] : parent[last];
                    if (!JsonNode.DeepEquals(actual, value))
                    {
                        throw new InvalidOperationException($"test failed at /{string.Join('/', path)}");
                    }

                    break;
                default:
                    throw new InvalidOperationException($"unsupported JSON patch op {op["op"]}");
            }
        }

        return target;
    }

    /// <summary>openAPIV3Schema checks a real server makes: types, required, enums, patterns, minItems, minimum.</summary>
    private static string? Validate(ResourceType type, JsonObject obj)
    {
        if (type.Kind == "MutatingWebhookConfiguration")
        {
            return AdmissionValidation.MutatingWebhookConfiguration(obj);
        }

        if (type.Schema is null)
        {
            return null;
        }

        var errors = new List<string>();
        Check(type.Schema, obj, "", errors, root: true);
        return errors.Count == 0 ? null : string.Join(", ", errors);
    }

    private static void Check(JsonNode schema, JsonNode? value, string path, List<string> errors, bool root = false)
    {
        if (value is null)
        {
            return;
        }

        var expected = schema["type"]?.ToString();
        var kind = value.GetValueKind();
        var ok = expected switch
        {
            "object" => kind == JsonValueKind.Object,
            "array" => kind == JsonValueKind.Array,
            "string" => kind == JsonValueKind.String,
            "integer" => kind == JsonValueKind.Number && long.TryParse(value.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _),
            "number" => kind == JsonValueKind.Number,
            "boolean" => kind is JsonValueKind.True or JsonValueKind.False,
            _ => true,
        };
        if (!ok)
        {
            errors.Add($"{path}: Invalid value: \"{kind.ToString().ToLowerInvariant()}\": {path} in body must be of type {expected}: \"{kind.ToString().ToLowerInvariant()}\"");
            return;
        }

        if (schema["enum"] is JsonArray allowed && !allowed.Any(a => JsonNode.DeepEquals(a, value)))
        {
            errors.Add($"{path}: Unsupported value: {value.ToJsonString()}: supported values: {string.Join(", ", allowed.Select(a => a!.ToJsonString()))}");
        }

        if (schema["pattern"]?.ToString() is { } pattern && kind == JsonValueKind.String && !Regex.IsMatch(value.GetValue<string>(), pattern))
        {
            errors.Add($"{path}: Invalid value: {value.ToJsonString()}: {path} in body should match '{pattern}'");
        }

        if (schema["minimum"] is { } minimum && kind == JsonValueKind.Number
            && double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture) < double.Parse(minimum.ToJsonString(), CultureInfo.InvariantCulture))
        {
            errors.Add($"{path}: Invalid value: {value.ToJsonString()}: {path} in body should be greater than or equal to {minimum}");
        }

        if (value is JsonObject obj)
        {
            foreach (var required in schema["required"]?.AsArray() ?? [])
            {
                if (!obj.ContainsKey(required!.ToString()))
                {
                    errors.Add($"{Join(path, required.ToString())}: Required value");
                }
            }

            var properties = schema["properties"] as JsonObject;
            foreach (var (key, child) in obj)
            {
                if (root && key is "apiVersion" or "kind" or "metadata")
                {
                    continue;
                }

                if (properties?[key] is { } childSchema)
                {
                    Check(childSchema, child, Join(path, key), errors);
                }
                else if (schema["additionalProperties"] is JsonObject additional)
                {
                    Check(additional, child, Join(path, key), errors);
                }
            }
        }

        if (value is JsonArray array)
        {
            if (schema["minItems"] is { } minItems && array.Count < int.Parse(minItems.ToJsonString(), CultureInfo.InvariantCulture))
            {
                errors.Add($"{path}: Invalid value: {array.Count}: {path} in body should have at least {minItems} items");
            }

            for (var i = 0; i < array.Count; i++)
            {
                if (schema["items"] is { } items)
                {
                    Check(items, array[i], $"{path}[{i}]", errors);
                }
            }
        }
    }

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";

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

/// <summary>Equality-based label selectors: <c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, <c>a</c>, <c>!a</c>, comma-separated.</summary>
internal sealed class LabelSelector
{
    private readonly List<(string Key, string Op, string? Value)> _requirements = [];

    public static LabelSelector Parse(string? text)
    {
        var selector = new LabelSelector();
        foreach (var part in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Contains("!=", StringComparison.Ordinal))
            {
                var kv = part.Split("!=", 2);
                selector._requirements.Add((kv[0], "!=", kv[1]));
            }
            else if (part.Contains('=', StringComparison.Ordinal))
            {
                var kv = part.Split('=', 2);
                selector._requirements.Add((kv[0], "=", kv[1].TrimStart('=')));
            }
            else if (part.StartsWith('!'))
            {
                selector._requirements.Add((part[1..], "!", null));
            }
            else
            {
                selector._requirements.Add((part, "exists", null));
            }
        }

        return selector;
    }

    public bool Matches(JsonObject obj)
    {
        var labels = obj["metadata"]?["labels"] as JsonObject;
        foreach (var (key, op, value) in _requirements)
        {
            var actual = labels?[key]?.ToString();
            var ok = op switch
            {
                "=" => actual == value,
                "!=" => actual != value,
                "!" => actual is null,
                _ => actual is not null,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }
}
