namespace Aegis.Policy.Resources;

/// <summary>Regular expressions shared by the loader's checks and the generated CRD schemas.</summary>
public static class ResourcePatterns
{
    public const string DnsLabel = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
    public const string RuleName = "^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$";
    public const string Region = "^[a-z0-9]+(-[a-z0-9]+)*$";
    public const string Approver = "^(slack:[A-Z0-9]+|group:[A-Za-z0-9][-A-Za-z0-9_.]*)$";
    public const string Money = "^[0-9]+(\\.[0-9]{1,6})?$";
    public const string Duration = "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$";
    public const string Sha256Hex = "^[0-9a-f]{64}$";
    public const string Method = "^([A-Za-z]+|\\*)$";
    public const string ServerUrl = "^https?://[^/?#@\\s]+(/[^?#\\s]*)?$";
    public const string ToolPrefix = "^[A-Za-z0-9_.-]{0,64}$";
    public const string ToolName = "^[A-Za-z0-9_.-]{1,128}$";
}

/// <summary>OpenAPI facts about a property that its C# type does not carry.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SchemaAttribute : Attribute
{
    public bool Required { get; init; }
    public string? Pattern { get; init; }

    /// <summary>Pattern for each item of a string list.</summary>
    public string? ItemPattern { get; init; }

    /// <summary>The default as its YAML text ("enforce", "deny").</summary>
    public string? Default { get; init; }

    public long Minimum { get; init; } = long.MinValue;
    public int MinItems { get; init; } = -1;

    /// <summary>Key of a list of objects that must be unique (x-kubernetes-list-type: map).</summary>
    public string? ListMapKey { get; init; }

    public string? Description { get; init; }
}

/// <summary>A CEL rule (x-kubernetes-validations) on an object, checked by the API server.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class CelValidationAttribute(string rule, string message) : Attribute
{
    public string Rule { get; } = rule;
    public string Message { get; } = message;
}

/// <summary>How a kind appears to kubectl: short name, and its printer columns as "Name|type|jsonPath".</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class KindAttribute(string plural, string shortName, params string[] columns) : Attribute
{
    public string Plural { get; } = plural;
    public string ShortName { get; } = shortName;
    public string[] Columns { get; } = columns;
}

/// <summary>Marks a type whose unknown fields the loader ignores instead of refusing (Kubernetes-owned metadata).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class AcceptUnknownFieldsAttribute : Attribute
{
}
