using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;

namespace Aegis.Operator.Caching;

/// <summary>
/// Deep copies of cached objects, so no reader ever holds a live cache entry: classes with a parameterless
/// constructor are copied property by property, lists and dictionaries element by element; strings, primitives,
/// enums and other value types are immutable or copied by value. The property lists are reflected once per type.
/// </summary>
public static class ResourceCopier
{
    private static readonly ConcurrentDictionary<Type, PropertyInfo[]> Properties = new();

    /// <summary>A deep copy of <paramref name="value"/>.</summary>
    public static T Copy<T>(T value)
        where T : class => (T)CopyValue(value)!;

    private static object? CopyValue(object? value)
    {
        if (value is null or string || value.GetType().IsValueType)
        {
            // JsonElement and the other structs the client hands out are immutable values.
            return value;
        }

        var type = value.GetType();
        if (value is IDictionary dictionary)
        {
            var copy = (IDictionary)Activator.CreateInstance(DictionaryType(type))!;
            foreach (DictionaryEntry entry in dictionary)
            {
                copy[CopyValue(entry.Key)!] = CopyValue(entry.Value);
            }

            return copy;
        }

        if (value is IList list)
        {
            var copy = (IList)Activator.CreateInstance(ListType(type))!;
            foreach (var item in list)
            {
                copy.Add(CopyValue(item));
            }

            return copy;
        }

        var result = Activator.CreateInstance(type)
            ?? throw new InvalidOperationException($"{type.Name} cannot be copied: it has no parameterless constructor");
        foreach (var property in Properties.GetOrAdd(type, Settable))
        {
            property.SetValue(result, CopyValue(property.GetValue(value)));
        }

        return result;
    }

    private static PropertyInfo[] Settable(Type type) =>
        [.. type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.CanWrite && p.GetIndexParameters().Length == 0)];

    private static Type ListType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) ? type
        : typeof(List<>).MakeGenericType(type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IList<>))?.GetGenericArguments()[0] ?? typeof(object));

    private static Type DictionaryType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>) ? type
        : type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>)) is { } generic
            ? typeof(Dictionary<,>).MakeGenericType(generic.GetGenericArguments())
            : typeof(Hashtable);
}
