using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;

namespace Aegis.Policy.Loading;

/// <summary>Reads YAML documents as JSON values (plain scalars typed the YAML 1.2 core way, quoted ones as strings).</summary>
public static class YamlJson
{
    /// <summary>Parses every document of <paramref name="text"/>; syntax errors are reported with their position.</summary>
    public static List<JsonNode?> Parse(string text, string source, List<LoadError> errors)
    {
        var documents = YamlDocumentReader.ReadAll(text, (mark, reason) =>
            errors.Add(new LoadError(source, (int)mark.Line, (int)mark.Column, null, null, reason)));
        return [.. documents.Select(d => d is null ? null : Convert(d))];
    }

    private static JsonNode? Convert(YNode node) => node switch
    {
        YMapping map => new JsonObject(map.Entries.Select(e => KeyValuePair.Create(e.Key.Value, Convert(e.Value)))),
        YSequence seq => new JsonArray([.. seq.Items.Select(Convert)]),
        YScalar s => Scalar(s),
        _ => null,
    };

    private static JsonValue? Scalar(YScalar s)
    {
        if (s.Style != ScalarStyle.Plain || s.Tag is not null)
        {
            return JsonValue.Create(s.Value);
        }

        if (s.IsNull)
        {
            return null;
        }

        if (s.Value is "true" or "True" or "TRUE")
        {
            return JsonValue.Create(true);
        }

        if (s.Value is "false" or "False" or "FALSE")
        {
            return JsonValue.Create(false);
        }

        if (long.TryParse(s.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
        {
            return JsonValue.Create(l);
        }

        if (double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
        {
            return JsonValue.Create(d);
        }

        return JsonValue.Create(s.Value);
    }
}
