using Aegis.Policy.Resources;
using YamlDotNet.Core;

namespace Aegis.Policy.Loading;

/// <summary>
/// Loads Aegis objects from multi-document YAML (or JSON) files and folders. Every problem becomes a
/// <see cref="LoadError"/>; a bad object is left out and never stops the others from loading.
/// </summary>
public static class ManifestLoader
{
    private static readonly Dictionary<string, Func<AegisObject>> Kinds = new(StringComparer.Ordinal)
    {
        [AgentPolicy.KindName] = () => new AgentPolicy(),
        [AgentBudget.KindName] = () => new AgentBudget(),
        [TenantRegion.KindName] = () => new TenantRegion(),
        [ApprovalRequest.KindName] = () => new ApprovalRequest(),
        [ToolServer.KindName] = () => new ToolServer(),
    };

    /// <summary>True for table-driven test files (<c>*_test.yaml</c>), which folders skip.</summary>
    public static bool IsTestFile(string path)
    {
        var name = Path.GetFileName(path);
        return name.EndsWith("_test.yaml", StringComparison.Ordinal) || name.EndsWith("_test.yml", StringComparison.Ordinal);
    }

    /// <summary>Loads files and folders (recursively: *.yaml, *.yml, *.json except *_test.yaml) in a stable order.</summary>
    public static LoadResult LoadPaths(IEnumerable<string> paths)
    {
        var result = new LoadResult();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                // Hidden entries are judged below the folder given, never on the path to it: "../manifests" (or a
                // folder under ~/.config) is the user's choice, while .git inside it is not manifests.
                List<string> files;
                try
                {
                    files = [.. Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                        .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal))
                        .Where(f => !IsTestFile(f) && !IsHidden(Path.GetRelativePath(path, f)))
                        .Order(StringComparer.Ordinal)];
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    result.Errors.Add(new LoadError(path, 0, 0, null, null, "cannot list: " + e.Message));
                    continue;
                }

                foreach (var file in files)
                {
                    LoadFile(file, result, seen);
                }
            }
            else if (File.Exists(path))
            {
                LoadFile(path, result, seen);
            }
            else
            {
                result.Errors.Add(new LoadError(path, 0, 0, null, null, "no such file or directory"));
            }
        }

        return result;
    }

    private static bool IsHidden(string relativePath) =>
        relativePath.Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.') && part.Length > 1);

    private static void LoadFile(string file, LoadResult result, Dictionary<string, string> seen)
    {
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            result.Errors.Add(new LoadError(file, 0, 0, null, null, "cannot read: " + e.Message));
            return;
        }

        LoadText(text, file, result, seen);
    }

    /// <summary>Loads every document of <paramref name="text"/>; <paramref name="source"/> names it in errors.</summary>
    public static LoadResult LoadText(string text, string source)
    {
        var result = new LoadResult();
        LoadText(text, source, result, new Dictionary<string, string>(StringComparer.Ordinal));
        return result;
    }

    private static void LoadText(string text, string source, LoadResult result, Dictionary<string, string> seen)
    {
        var documents = YamlDocumentReader.ReadAll(text, (mark, reason) =>
            result.Errors.Add(new LoadError(source, (int)mark.Line, (int)mark.Column, null, null, reason)));
        foreach (var document in documents)
        {
            if (document is null or YScalar { IsNull: true })
            {
                continue;
            }

            LoadDocument(document, source, result, seen);
        }
    }

    private static void LoadDocument(YNode document, string source, LoadResult result, Dictionary<string, string> seen)
    {
        void Error(Mark mark, string? obj, string? field, string reason) =>
            result.Errors.Add(new LoadError(source, (int)mark.Line, (int)mark.Column, obj, field, reason));

        if (document is not YMapping root)
        {
            Error(document.Start, null, null, "a document must be a mapping with apiVersion, kind, metadata and spec");
            return;
        }

        var apiVersion = Scalar(root, "apiVersion");
        var kind = Scalar(root, "kind");
        var name = (Find(root, "metadata") as YMapping) is { } meta ? Scalar(meta, "name")?.Value : null;
        var ns = (Find(root, "metadata") as YMapping) is { } meta2 ? Scalar(meta2, "namespace")?.Value : null;
        var objectRef = $"{kind?.Value ?? "?"} {ns ?? "default"}/{name ?? "?"}";
        if (apiVersion is null && kind is null)
        {
            // Not a Kubernetes object at all (a decision input beside the policies, say).
            result.Ignored++;
            return;
        }

        if (apiVersion is null)
        {
            Error(root.Start, objectRef, "apiVersion", $"is required ({AegisObject.ApiVersionValue})");
            return;
        }

        if (!apiVersion.Value.StartsWith(AegisObject.Group + "/", StringComparison.Ordinal))
        {
            result.Ignored++;
            return;
        }

        if (apiVersion.Value != AegisObject.ApiVersionValue)
        {
            Error(apiVersion.Start, objectRef, "apiVersion", $"unsupported version \"{apiVersion.Value}\"; this release reads {AegisObject.ApiVersionValue}");
            return;
        }

        if (kind is null || !Kinds.TryGetValue(kind.Value, out var create))
        {
            Error(kind?.Start ?? root.Start, objectRef, "kind", $"must be one of {string.Join(", ", Kinds.Keys)}; got \"{kind?.Value}\"");
            return;
        }

        var errorCount = result.Errors.Count;
        var binder = new ObjectBinder((mark, field, reason) => Error(mark, objectRef, field, reason));
        binder.ReportDuplicates(root, "");
        var obj = create();
        foreach (var (key, value) in root.Entries)
        {
            // Only the object's own top-level fields, spelled exactly: "" or "Id" must not reach reflection.
            var property = key.Value is "apiVersion" or "kind" or "metadata" or "spec" or "status"
                ? obj.GetType().GetProperty(char.ToUpperInvariant(key.Value[0]) + key.Value[1..])
                : null;
            if (property is null)
            {
                Error(key.Start, objectRef, key.Value, $"unknown field \"{key.Value}\" (known fields: apiVersion, kind, metadata, spec, status)");
                continue;
            }

            if (key.Value is "apiVersion" or "kind")
            {
                continue;
            }

            var bound = binder.Bind(value, property.PropertyType, key.Value);
            if (bound is not null)
            {
                property.SetValue(obj, bound);
            }
        }

        obj.Metadata.Namespace ??= "default";
        void Invalid(string field, string reason)
        {
            // A field that failed to bind has been reported; its default value would only add noise.
            if (!binder.FailedPaths.Contains(field))
            {
                Error(PositionOf(binder.Positions, field, root.Start), objectRef, field, reason);
            }
        }

        if (Find(root, "spec") is null)
        {
            Error(root.Start, objectRef, "spec", "is required");
            ResourceValidator.ValidateMetadata(obj.Metadata, Invalid);
        }
        else
        {
            ResourceValidator.Validate(obj, Invalid);
        }

        // Report in document order, however the checks were ordered.
        result.Errors.Sort(errorCount, result.Errors.Count - errorCount, LoadErrorPositionComparer.Instance);

        var key2 = $"{obj.Kind} {obj.Id}";
        if (result.Errors.Count == errorCount && seen.TryGetValue(key2, out var firstSource))
        {
            Error(root.Start, objectRef, null, $"duplicate object: {key2} is also defined in {firstSource}");
        }

        if (result.Errors.Count > errorCount)
        {
            var tenant = obj.Tenant;
            result.Rejected.Add(new RejectedObject(obj.Kind, obj.Id, string.IsNullOrEmpty(tenant) ? null : tenant, source));
            return;
        }

        seen[key2] = $"{source}:{root.Start.Line}";
        result.Objects.Add(obj);
    }

    private sealed class LoadErrorPositionComparer : IComparer<LoadError>
    {
        public static readonly LoadErrorPositionComparer Instance = new();

        public int Compare(LoadError? x, LoadError? y) =>
            x!.Line != y!.Line ? x.Line.CompareTo(y.Line) : x.Column.CompareTo(y.Column);
    }

    private static Mark PositionOf(Dictionary<string, Mark> positions, string field, Mark fallback)
    {
        // Validation errors can name a field that was absent; point at the nearest present parent.
        for (var path = field; path.Length > 0;)
        {
            if (positions.TryGetValue(path, out var mark))
            {
                return mark;
            }

            var cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
            path = cut > 0 ? path[..cut] : "";
        }

        return fallback;
    }

    private static YNode? Find(YMapping map, string key)
    {
        foreach (var (k, v) in map.Entries)
        {
            if (k.Value == key)
            {
                return v;
            }
        }

        return null;
    }

    private static YScalar? Scalar(YMapping map, string key) => Find(map, key) as YScalar;
}
