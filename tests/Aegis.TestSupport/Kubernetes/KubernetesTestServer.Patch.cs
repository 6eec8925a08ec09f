using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>Patches: RFC 7386 merge patch and RFC 6902 JSON patch.</summary>
public sealed partial class KubernetesTestServer
{
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
}
