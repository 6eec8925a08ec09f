using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.Policy.Redaction;

/// <summary>What one redaction pattern replaced at one place in the arguments.</summary>
public sealed record RedactionRecord(string Path, string Detector, int Count);

/// <summary>Applies a fixed list of redaction patterns to every string inside a JSON value.</summary>
public sealed class Redactor
{
    private readonly RedactionPattern[] _patterns;

    public Redactor(IEnumerable<RedactionPattern> patterns) => _patterns = [.. patterns];

    /// <summary>The patterns applied, in order.</summary>
    public IReadOnlyList<RedactionPattern> Patterns => _patterns;

    /// <summary>Returns a redacted copy of <paramref name="value"/>, adding what was replaced to <paramref name="records"/>.</summary>
    public JsonNode? Redact(JsonElement value, string path, List<RedactionRecord> records)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var property in value.EnumerateObject())
                {
                    obj[property.Name] = Redact(property.Value, $"{path}.{property.Name}", records);
                }

                return obj;
            case JsonValueKind.Array:
                var array = new JsonArray();
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    array.Add(Redact(item, $"{path}[{i++}]", records));
                }

                return array;
            case JsonValueKind.String:
                return JsonValue.Create(RedactString(value.GetString()!, path, records));
            default:
                return JsonNode.Parse(value.GetRawText());
        }
    }

    /// <summary>
    /// Applies every redactor in turn (each sees what the previous one left), adding what was replaced to
    /// <paramref name="records"/>. <paramref name="redactors"/> must not be empty.
    /// </summary>
    public static JsonNode? RedactAll(JsonElement value, IReadOnlyList<Redactor> redactors, string path, List<RedactionRecord> records)
    {
        ArgumentNullException.ThrowIfNull(redactors);
        var node = redactors[0].Redact(value, path, records);
        for (var i = 1; i < redactors.Count; i++)
        {
            using var doc = JsonDocument.Parse(node!.ToJsonString());
            node = redactors[i].Redact(doc.RootElement, path, records);
        }

        return node;
    }

    /// <summary>Redacts one string.</summary>
    public string RedactString(string text, string path, List<RedactionRecord> records)
    {
        foreach (var pattern in _patterns)
        {
            var count = 0;
            var current = text;
            text = pattern.Regex.Replace(text, m =>
            {
                if (pattern.Accept is null || pattern.Accept(current, m))
                {
                    count++;
                    return pattern.Replacement;
                }

                return m.Value;
            });
            if (count > 0)
            {
                records.Add(new RedactionRecord(path, pattern.Name, count));
            }
        }

        return text;
    }
}
