using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>The object store: list, create, update (optimistic concurrency, generation, status subresource), delete and finalizers.</summary>
public sealed partial class KubernetesTestServer
{
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
        ApplyDefaults(type.Schema, body);
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

                ApplyDefaults(type.Schema, next);
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
}
