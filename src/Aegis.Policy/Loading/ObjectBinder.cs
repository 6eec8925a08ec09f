using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using YamlDotNet.Core;

namespace Aegis.Policy.Loading;

/// <summary>
/// Binds a YAML node tree onto the resource model strictly: unknown fields, wrong node types and unknown enum
/// values are errors with the field path; every bound field's position is recorded for later validation errors.
/// </summary>
internal sealed class ObjectBinder
{
    private static readonly Dictionary<Type, PropertyMap> PropertyMaps = [];
    private static readonly Lock PropertyMapsLock = new();

    private readonly Action<Mark, string, string> _onError;

    public ObjectBinder(Action<Mark, string, string> onError) => _onError = onError;

    /// <summary>Field path ("spec.rules[0].when") to the position of its value.</summary>
    public Dictionary<string, Mark> Positions { get; } = new(StringComparer.Ordinal);

    /// <summary>Field paths whose value could not be bound; validation does not report them again.</summary>
    public HashSet<string> FailedPaths { get; } = new(StringComparer.Ordinal);

    /// <summary>Reports keys that appear twice in <paramref name="map"/>.</summary>
    public void ReportDuplicates(YMapping map, string path)
    {
        foreach (var (key, first) in map.Duplicates)
        {
            var fieldPath = path.Length == 0 ? key.Value : $"{path}.{key.Value}";
            FailedPaths.Add(fieldPath);
            _onError(key.Start, fieldPath, $"duplicate key (first at line {first.Line}:{first.Column})");
        }
    }

    public object? Bind(YNode node, Type type, string path)
    {
        if (node is YMapping duplicates)
        {
            ReportDuplicates(duplicates, path);
        }

        Positions.TryAdd(path, node.Start);
        var underlying = Nullable.GetUnderlyingType(type);
        if (node is YScalar { IsNull: true })
        {
            return null;
        }

        type = underlying ?? type;
        if (type == typeof(string))
        {
            if (node is not YScalar s)
            {
                return Fail(node, path, $"must be a string, got {Describe(node)}", null);
            }

            // Kubernetes reads a plain 20.00 or true as a number or a boolean, and a string field refuses it there.
            if (s.Style == ScalarStyle.Plain && s.Tag is null && LooksTyped(s.Value))
            {
                return Fail(node, path, $"must be a string; quote it (\"{s.Value}\") so Kubernetes stores it as one", null);
            }

            return s.Value;
        }

        if (type == typeof(int) || type == typeof(long))
        {
            if (node is YScalar { Style: ScalarStyle.Plain } n && long.TryParse(n.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
                && (type == typeof(long) || number is >= int.MinValue and <= int.MaxValue))
            {
                return type == typeof(int) ? (object)(int)number : number;
            }

            return Fail(node, path, $"must be an integer, got {Describe(node)}", null);
        }

        if (type == typeof(bool))
        {
            if (node is YScalar { Style: ScalarStyle.Plain } b && bool.TryParse(b.Value, out var flag))
            {
                return flag;
            }

            return Fail(node, path, $"must be true or false, got {Describe(node)}", null);
        }

        if (type.IsEnum)
        {
            var names = EnumNames(type);
            if (node is YScalar e)
            {
                foreach (var (name, value) in names)
                {
                    if (name == e.Value)
                    {
                        return value;
                    }
                }
            }

            return Fail(node, path, $"must be one of {string.Join(", ", names.Select(n => n.Name))}; got {Describe(node)}", null);
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            if (node is not YSequence seq)
            {
                return Fail(node, path, $"must be a list, got {Describe(node)}", null);
            }

            var itemType = type.GetGenericArguments()[0];
            var list = (IList)Activator.CreateInstance(type)!;
            for (var i = 0; i < seq.Items.Count; i++)
            {
                var item = Bind(seq.Items[i], itemType, $"{path}[{i}]");
                if (item is not null)
                {
                    list.Add(item);
                }
                else if (seq.Items[i] is YScalar { IsNull: true })
                {
                    Fail(seq.Items[i], $"{path}[{i}]", "must not be null", null);
                }
            }

            return list;
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            if (node is not YMapping map)
            {
                return Fail(node, path, $"must be a mapping, got {Describe(node)}", null);
            }

            var valueType = type.GetGenericArguments()[1];
            var dict = (IDictionary)Activator.CreateInstance(type)!;
            foreach (var (key, valueNode) in map.Entries)
            {
                var value = Bind(valueNode, valueType, $"{path}.{key.Value}");
                if (value is not null)
                {
                    dict[key.Value] = value;
                }
            }

            return dict;
        }

        if (type.IsClass)
        {
            if (node is not YMapping mapping)
            {
                return Fail(node, path, $"must be a mapping, got {Describe(node)}", null);
            }

            var target = Activator.CreateInstance(type)!;
            var properties = PropertiesOf(type);
            foreach (var (key, valueNode) in mapping.Entries)
            {
                var fieldPath = path.Length == 0 ? key.Value : $"{path}.{key.Value}";
                if (!properties.ByName.TryGetValue(key.Value, out var property))
                {
                    if (properties.AcceptUnknown)
                    {
                        continue;
                    }

                    FailedPaths.Add(fieldPath);
                    _onError(key.Start, fieldPath, $"unknown field \"{key.Value}\" (known fields: {string.Join(", ", properties.Names)})");
                    continue;
                }

                var value = Bind(valueNode, property.PropertyType, fieldPath);
                if (value is not null)
                {
                    property.SetValue(target, value);
                }
            }

            return target;
        }

        return Fail(node, path, $"has unsupported type {type.Name}", null);
    }

    private object? Fail(YNode node, string path, string reason, object? result)
    {
        FailedPaths.Add(path);
        _onError(node.Start, path, reason);
        return result;
    }

    private static bool LooksTyped(string value) =>
        value is "true" or "false" or "True" or "False"
        || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static string Describe(YNode node) => node switch
    {
        YScalar s => $"\"{s.Value}\"",
        YSequence => "a list",
        _ => "a mapping",
    };

    /// <summary>The wire name of a property: camelCase of its C# name.</summary>
    public static string WireName(PropertyInfo property) =>
        property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(property.Name);

    /// <summary>Enum values with their wire names, in declaration order.</summary>
    public static (string Name, object Value)[] EnumNames(Type type) =>
        [.. type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? f.Name, f.GetValue(null)!))];

    private static PropertyMap PropertiesOf(Type type)
    {
        lock (PropertyMapsLock)
        {
            if (!PropertyMaps.TryGetValue(type, out var map))
            {
                var props = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                    .Where(p => p.CanWrite && p.GetCustomAttribute<JsonIgnoreAttribute>() is null)
                    .ToDictionary(WireName, StringComparer.Ordinal);
                map = new PropertyMap(props, [.. props.Keys], type.GetCustomAttribute<Resources.AcceptUnknownFieldsAttribute>() is not null);
                PropertyMaps[type] = map;
            }

            return map;
        }
    }

    private sealed record PropertyMap(Dictionary<string, PropertyInfo> ByName, string[] Names, bool AcceptUnknown);
}
