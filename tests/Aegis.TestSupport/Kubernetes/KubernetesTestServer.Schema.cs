using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>Schema validation: openAPIV3Schema types, required, enums, patterns, minimums, defaults and x-kubernetes-validations rules.</summary>
public sealed partial class KubernetesTestServer
{
    // Compiled once per rule text: the evaluator is telus-oss/cel-net, independent of Aegis's own CEL compiler.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Cel.CelProgramDelegate> CompiledRules = new(StringComparer.Ordinal);
    private static readonly Cel.CelEnvironment RuleEnvironment = new([], "");

    /// <summary>Fills in the schema's defaults for absent properties, as a real server does before it validates and stores.</summary>
    private static void ApplyDefaults(JsonNode? schema, JsonNode? value)
    {
        if (schema is null || value is null)
        {
            return;
        }

        if (value is JsonObject obj)
        {
            if (schema["properties"] is JsonObject properties)
            {
                foreach (var (name, property) in properties)
                {
                    if (!obj.ContainsKey(name) && property?["default"] is { } fallback)
                    {
                        obj[name] = fallback.DeepClone();
                    }
                }

                foreach (var (name, child) in obj.ToList())
                {
                    ApplyDefaults(properties[name], child);
                }
            }
            else if (schema["additionalProperties"] is JsonObject additional)
            {
                foreach (var (_, child) in obj.ToList())
                {
                    ApplyDefaults(additional, child);
                }
            }
        }
        else if (value is JsonArray array)
        {
            foreach (var item in array)
            {
                ApplyDefaults(schema["items"], item);
            }
        }
    }

    /// <summary>
    /// The node's <c>x-kubernetes-validations</c>, each evaluated with <c>self</c> bound to the node, reported as a real
    /// server reports them: <c>path: Invalid value: "object": message</c>.
    /// </summary>
    private static void CheckRules(JsonNode schema, JsonNode value, string path, List<string> errors)
    {
        if (schema["x-kubernetes-validations"] is not JsonArray rules)
        {
            return;
        }

        var self = ToCelValue(value);
        foreach (var rule in rules)
        {
            var text = rule!["rule"]!.ToString();
            var message = rule["message"]?.ToString() ?? $"failed rule: {text}";
            object? result;
            try
            {
                result = CompiledRules.GetOrAdd(text, t => RuleEnvironment.Compile(t))(new Dictionary<string, object?> { ["self"] = self });
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                errors.Add($"{path}: Internal error: rule \"{text}\" could not be evaluated: {e.Message}");
                continue;
            }

            if (result is not true)
            {
                var kind = value is JsonObject ? "object" : value is JsonArray ? "array" : value.ToJsonString();
                errors.Add($"{path}: Invalid value: \"{kind}\": {message}");
            }
        }
    }

    private static object? ToCelValue(JsonNode? node) => node switch
    {
        JsonObject obj => obj.ToDictionary(p => p.Key, p => ToCelValue(p.Value), StringComparer.Ordinal),
        JsonArray array => array.Select(ToCelValue).ToList(),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => long.TryParse(v.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) ? l : v.GetValue<double>(),
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => null,
    };

    /// <summary>openAPIV3Schema checks a real server makes: types, required, enums, patterns, minItems, minimum, then the CEL rules.</summary>
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

        var before = errors.Count;
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

        // As a real server, rules run on a node whose own schema checks passed.
        if (errors.Count == before)
        {
            CheckRules(schema, value, path, errors);
        }
    }

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";
}
