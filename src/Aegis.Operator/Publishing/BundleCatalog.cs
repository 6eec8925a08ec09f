using System.Collections.Concurrent;
using Microsoft.Net.Http.Headers;

namespace Aegis.Operator.Publishing;

/// <summary>Where signed bundles go: a ConfigMap, S3, GCS, or the operator's own HTTP endpoint.</summary>
public interface IBundlePublisher
{
    /// <summary>The revision last published for <paramref name="tenant"/>, or null.</summary>
    Task<string?> CurrentRevisionAsync(string tenant, CancellationToken cancellationToken = default);

    Task PublishAsync(string tenant, string revision, byte[] bundle, CancellationToken cancellationToken = default);
}

/// <summary>The bundles this replica serves at <c>/bundles/{tenant}</c>, with the revision as ETag.</summary>
public sealed class BundleCatalog : IBundlePublisher
{
    private readonly ConcurrentDictionary<string, (string Revision, byte[] Bundle)> _bundles = new(StringComparer.Ordinal);

    /// <summary>The tenant's bundle as served, if there is one.</summary>
    public bool TryGet(string tenant, out string revision, out byte[] bundle)
    {
        var found = _bundles.TryGetValue(tenant, out var entry);
        (revision, bundle) = found ? entry : ("", []);
        return found;
    }

    public Task<string?> CurrentRevisionAsync(string tenant, CancellationToken cancellationToken = default) =>
        Task.FromResult(_bundles.TryGetValue(tenant, out var b) ? b.Revision : null);

    public Task PublishAsync(string tenant, string revision, byte[] bundle, CancellationToken cancellationToken = default)
    {
        _bundles[tenant] = (revision, bundle);
        return Task.CompletedTask;
    }

    /// <summary>Maps <c>GET /bundles/{tenant}</c>: 200 with ETag, 304 for a matching If-None-Match, 404 for an unknown tenant.</summary>
    public void Map(IEndpointRouteBuilder app) => app.MapGet("/bundles/{tenant}", (string tenant, HttpRequest request, HttpResponse response) =>
    {
        if (!_bundles.TryGetValue(tenant, out var entry))
        {
            return Results.NotFound(new { reason = "no_bundle", message = $"no bundle for tenant \"{tenant}\"" });
        }

        var etag = new EntityTagHeaderValue($"\"{entry.Revision}\"");
        if (request.GetTypedHeaders().IfNoneMatch.Any(tag => tag.Compare(etag, useStrongComparison: true) || tag.Equals(EntityTagHeaderValue.Any)))
        {
            response.Headers.ETag = etag.ToString();
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        response.Headers.ETag = etag.ToString();
        return Results.Bytes(entry.Bundle, "application/gzip");
    });
}
