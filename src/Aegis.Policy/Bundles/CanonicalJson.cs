using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Aegis.Policy.Bundles;

/// <summary>
/// Canonical JSON as OPA hashes bundle files: object keys sorted by their UTF-8 bytes, no whitespace, numbers
/// as written, strings escaped like Go's encoder without HTML escaping. Equal documents give equal bytes.
/// </summary>
public static class CanonicalJson
{
    /// <summary>Canonical bytes of a parsed value.</summary>
    public static byte[] Serialize(JsonElement element)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var builder = new StringBuilder();
        Write(element, builder);
        buffer.Write(Encoding.UTF8.GetBytes(builder.ToString()));
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Canonical bytes of any JSON text (parsed first, so whitespace and key order do not matter).</summary>
    public static byte[] Canonicalize(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        using var document = JsonDocument.ParseValue(ref reader);
        return Serialize(document.RootElement);
    }

    /// <summary>Canonical bytes of a value serialized with <paramref name="options"/>.</summary>
    public static byte[] SerializeValue<T>(T value, JsonSerializerOptions options) =>
        Serialize(JsonSerializer.SerializeToElement(value, options));

    private static void Write(JsonElement element, StringBuilder sb)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                sb.Append('{');
                var properties = element.EnumerateObject().ToList();
                properties.Sort(static (a, b) => CompareUtf8(a.Name, b.Name));
                for (var i = 0; i < properties.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(',');
                    }

                    WriteString(properties[i].Name, sb);
                    sb.Append(':');
                    Write(properties[i].Value, sb);
                }

                sb.Append('}');
                break;
            case JsonValueKind.Array:
                sb.Append('[');
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first)
                    {
                        sb.Append(',');
                    }

                    first = false;
                    Write(item, sb);
                }

                sb.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(element.GetString()!, sb);
                break;
            case JsonValueKind.Number:
                sb.Append(element.GetRawText());
                break;
            case JsonValueKind.True:
                sb.Append("true");
                break;
            case JsonValueKind.False:
                sb.Append("false");
                break;
            default:
                sb.Append("null");
                break;
        }
    }

    /// <summary>Orders strings by their UTF-8 bytes, as Go's sort.Strings does.</summary>
    public static int CompareUtf8(string a, string b)
    {
        // UTF-16 ordinal order equals UTF-8 byte order except for surrogate pairs versus U+E000..U+FFFF.
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            var x = a[i];
            var y = b[i];
            if (x != y)
            {
                return Rank(x).CompareTo(Rank(y));
            }
        }

        return a.Length.CompareTo(b.Length);

        static int Rank(char c) => char.IsSurrogate(c) ? c + 0x2000 : c >= 0xE000 ? c - 0x800 : c;
    }

    private static void WriteString(string value, StringBuilder sb)
    {
        sb.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\u2028' or '\u2029':
                    sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}
