namespace Aegis.Policy.Loading;

/// <summary>One problem found while loading: where it is (file, line:column, object, field) and why.</summary>
public sealed record LoadError(string File, int Line, int Column, string? ObjectRef, string? Field, string Reason)
{
    /// <summary>"file:line:col: Kind ns/name: field: reason", the form every tool prints.</summary>
    public override string ToString()
    {
        var text = $"{File}:{Line}:{Column}: ";
        if (ObjectRef is not null)
        {
            text += ObjectRef + ": ";
        }

        if (!string.IsNullOrEmpty(Field))
        {
            text += Field + ": ";
        }

        return text + Reason;
    }
}

/// <summary>An object that failed to load, with as much identity as could be read (the tenant may be unknown).</summary>
public sealed record RejectedObject(string Kind, string Id, string? Tenant, string File);

/// <summary>What a load produced: the valid objects, every error, and the objects left out.</summary>
public sealed class LoadResult
{
    public List<Resources.AegisObject> Objects { get; } = [];
    public List<LoadError> Errors { get; } = [];
    public List<RejectedObject> Rejected { get; } = [];

    /// <summary>Documents skipped because they are not Aegis kinds (a Namespace in the same folder, say).</summary>
    public int Ignored { get; set; }

    /// <summary>True when nothing failed.</summary>
    public bool Succeeded => Errors.Count == 0;
}
