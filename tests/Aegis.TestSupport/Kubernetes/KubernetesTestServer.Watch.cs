using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>Watches: newline-delimited events from a resourceVersion, bookmarks, 410 Gone after compaction, server-side timeouts.</summary>
public sealed partial class KubernetesTestServer
{
    private static bool Selects(Watcher watcher, JsonObject obj) =>
        (watcher.Namespace is null || obj["metadata"]?["namespace"]?.ToString() == watcher.Namespace) && watcher.Selector.Matches(obj);

    private static string WatchLine(string type, JsonNode obj) => new JsonObject { ["type"] = type, ["object"] = obj.DeepClone() }.ToJsonString() + "\n";

    private async Task WatchAsync(HttpContext context, ResourceType type, string? ns, LabelSelector selector, string fromVersion, bool bookmarks, int timeoutSeconds)
    {
        await _watchGate.Task.WaitAsync(context.RequestAborted);
        var watcher = new Watcher(type, ns, selector, bookmarks);
        lock (_lock)
        {
            if (long.TryParse(fromVersion, CultureInfo.InvariantCulture, out var from) && from > 0)
            {
                if (from < _compactedThrough)
                {
                    // As a real server does: 200, then one ERROR event carrying a 410 Status.
                    watcher.Events.Writer.TryWrite(WatchLine("ERROR", new JsonObject
                    {
                        ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure",
                        ["message"] = $"too old resource version: {from} ({_compactedThrough})", ["reason"] = "Expired", ["code"] = 410,
                    }));
                    watcher.Events.Writer.TryComplete();
                }
                else
                {
                    foreach (var (rv, eventType, resource, obj) in _history.Where(h => h.Rv > from && h.Resource == type && Selects(watcher, h.Object)))
                    {
                        watcher.Events.Writer.TryWrite(WatchLine(eventType, obj));
                    }
                }
            }
            else
            {
                foreach (var obj in Matching(type, ns, selector))
                {
                    watcher.Events.Writer.TryWrite(WatchLine("ADDED", obj));
                }
            }

            if (!watcher.Events.Reader.Completion.IsCompleted)
            {
                _watchers.Add(watcher);
            }
        }

        var response = context.Response;
        response.ContentType = "application/json";
        await response.StartAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        if (timeoutSeconds > 0)
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds));
        }

        try
        {
            while (true)
            {
                var read = watcher.Events.Reader.WaitToReadAsync(timeout.Token).AsTask();
                if (bookmarks)
                {
                    var first = await Task.WhenAny(read, Task.Delay(BookmarkInterval, timeout.Token));
                    if (first != read)
                    {
                        string bookmark;
                        lock (_lock)
                        {
                            bookmark = WatchLine("BOOKMARK", new JsonObject
                            {
                                ["kind"] = type.Kind, ["apiVersion"] = type.ApiVersion,
                                ["metadata"] = new JsonObject { ["resourceVersion"] = _rv.ToString(CultureInfo.InvariantCulture) },
                            });
                        }

                        await response.WriteAsync(bookmark, timeout.Token);
                        await response.Body.FlushAsync(timeout.Token);
                        continue;
                    }
                }

                if (!await read)
                {
                    return;
                }

                while (watcher.Events.Reader.TryRead(out var line))
                {
                    await response.WriteAsync(line, timeout.Token);
                }

                await response.Body.FlushAsync(timeout.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away or the watch timed out: end the stream as the server does.
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(watcher);
            }
        }
    }
}
