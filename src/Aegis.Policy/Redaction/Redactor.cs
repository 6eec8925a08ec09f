using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Resources;

namespace Aegis.Policy.Redaction;

/// <summary>What one redaction pattern replaced at one place in the arguments.</summary>
public sealed record RedactionRecord(string Path, string Detector, int Count);

/// <summary>A request header a sanitize rule redacts: removed, or its value replaced when <see cref="Replacement"/> is set.</summary>
public sealed record HeaderRedaction(string Name, string? Replacement);

/// <summary>
/// Applies a fixed list of redaction patterns to every string value, every number (as its JSON text) and every
/// object key inside a JSON value, over <see cref="TextFold"/>ed text; a replaced number becomes a string, so the
/// result is still valid JSON. Also names the request headers a rule removes or replaces.
/// </summary>
public sealed class Redactor
{
    private readonly RedactionPattern[] _patterns;
    private readonly HeaderRedaction[] _headers;

    public Redactor(IEnumerable<RedactionPattern> patterns, IEnumerable<HeaderRedaction>? headers = null)
    {
        _patterns = [.. patterns];
        _headers = [.. headers ?? []];
    }

    /// <summary>The patterns applied, in order.</summary>
    public IReadOnlyList<RedactionPattern> Patterns => _patterns;

    /// <summary>Headers removed or replaced outright (lower-case names); detectors also run over every other header value.</summary>
    public IReadOnlyList<HeaderRedaction> Headers => _headers;

    /// <summary>
    /// Compiles a rule's <c>redact</c> list: built-in detectors most specific first (so a phone pattern never eats a
    /// card number), then custom patterns in order, and the headers. False with the reason for a pattern that does not compile.
    /// </summary>
    public static bool TryCompile(IReadOnlyList<RedactionSpec> specs, out Redactor redactor, out string error)
    {
        ArgumentNullException.ThrowIfNull(specs);
        redactor = null!;
        var patterns = new List<RedactionPattern>();
        foreach (var name in Detectors.Names)
        {
            if (specs.FirstOrDefault(r => r.Detector == name) is { } d)
            {
                patterns.Add(Detectors.Create(name, d.Replacement));
            }
        }

        foreach (var spec in specs.Where(r => r.Pattern is not null))
        {
            if (!Detectors.TryCreatePattern(spec.Pattern!, spec.Replacement, out var pattern, out error))
            {
                return false;
            }

            patterns.Add(pattern);
        }

        var headers = specs.Where(r => r.Headers is not null)
            .SelectMany(r => r.Headers!.Select(h => new HeaderRedaction(h.ToLowerInvariant(), r.Replacement)))
            .DistinctBy(h => h.Name);
        redactor = new Redactor(patterns, headers);
        error = "";
        return true;
    }

    /// <summary>Returns a redacted copy of <paramref name="value"/>, adding what was replaced to <paramref name="records"/>.</summary>
    public JsonNode? Redact(JsonElement value, string path, List<RedactionRecord> records) => Redact(value, path, null, records);

    private JsonNode? Redact(JsonElement value, string path, string? key, List<RedactionRecord> records)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var property in value.EnumerateObject())
                {
                    // Keys are data too ({"jane@example.com": ...}); their redacted form names the path of what is inside.
                    var name = RedactString(property.Name, path + ".(key)", records);
                    var unique = name;
                    for (var n = 2; obj.ContainsKey(unique); n++)
                    {
                        unique = $"{name}#{n.ToString(CultureInfo.InvariantCulture)}";
                    }

                    obj[unique] = Redact(property.Value, $"{path}.{unique}", property.Name, records);
                }

                return obj;
            case JsonValueKind.Array:
                var array = new JsonArray();
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    array.Add(Redact(item, $"{path}[{i++}]", key, records));
                }

                return array;
            case JsonValueKind.String:
                return JsonValue.Create(RedactString(value.GetString()!, path, records, key));
            case JsonValueKind.Number:
                var raw = value.GetRawText();
                var text = IntegralText(raw) ?? raw;
                var redacted = RedactString(text, path, records, key);
                return redacted == text ? JsonNode.Parse(raw) : JsonValue.Create(redacted);
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

    /// <summary>
    /// Redacts one string: each pattern runs over the folded text and replaces, in the original, exactly the characters
    /// its accepted matches came from. <paramref name="key"/> is the object key or header name the string belongs to.
    /// </summary>
    public string RedactString(string text, string path, List<RedactionRecord> records, string? key = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        foreach (var pattern in _patterns)
        {
            var folded = TextFold.Fold(text);
            StringBuilder? output = null;
            var copied = 0;
            var count = 0;
            foreach (var match in pattern.Regex.EnumerateMatches(folded.Text))
            {
                var m = pattern.Accept is null ? null : pattern.Regex.Match(folded.Text, match.Index, match.Length);
                if (m is not null && !pattern.Accept!(folded.Text, m, key))
                {
                    continue;
                }

                var (start, length) = folded.Source(match.Index, match.Length);
                output ??= new StringBuilder(text.Length);
                output.Append(text, copied, start - copied).Append(pattern.Replacement);
                copied = start + length;
                count++;
            }

            if (output is not null)
            {
                text = output.Append(text, copied, text.Length - copied).ToString();
                records.Add(new RedactionRecord(path, pattern.Name, count));
            }
        }

        return text;
    }

    // 4.111111111111111e15 or 4111111111111111.0 is the same number as 4111111111111111: detectors see its digits.
    private static string? IntegralText(string raw)
    {
        if (raw.AsSpan().IndexOfAny('.', 'e', 'E') < 0)
        {
            return null;
        }

        return decimal.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value == decimal.Truncate(value)
            ? value.ToString("0", CultureInfo.InvariantCulture)
            : null;
    }
}
