using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.JsonPatch.SystemTextJson;

namespace Aegis.TestSupport.Admission;

/// <summary>Applies RFC 6902 patches with Microsoft's implementation, so tests check a patch by its effect and not by our own reading of it.</summary>
public static class JsonPatches
{
    /// <summary>A copy of <paramref name="document"/> with <paramref name="patchJson"/> applied; throws when an operation cannot apply.</summary>
    public static JsonObject Apply(JsonObject document, string patchJson)
    {
        var patch = JsonSerializer.Deserialize<JsonPatchDocument>(patchJson) ?? throw new InvalidOperationException("the patch is JSON null");
        var target = (JsonObject)document.DeepClone();
        patch.ApplyTo(target, error => throw new InvalidOperationException($"patch operation {error.Operation.op} {error.Operation.path} failed: {error.ErrorMessage}"));
        return target;
    }
}
