using System.Buffers;
using System.Text.Json;
using Aegis.Policy.Resources;
using Aegis.Policy.Tools;

namespace Aegis.Decision.Calls;

/// <summary>
/// Reads a request to an http ToolServer: the first declared operation whose method and path glob match is the tool
/// <c>&lt;prefix&gt;&lt;name&gt;</c>, with the JSON body or the query string as its arguments; any other request to
/// the host is plain egress, decided by egress rules only.
/// </summary>
public static class HttpOperationReader
{
    public static ObservedCall Read(ObservedRequest request, CompiledToolServer server)
    {
        var path = request.PathWithoutQuery();
        foreach (var operation in server.Operations)
        {
            if (operation.Method != request.Method || !operation.Path.IsMatch(path))
            {
                continue;
            }

            return operation.Args == OperationArgs.Query ? FromQuery(request, server, operation) : FromBody(request, server, operation);
        }

        return ObservedCall.Egress(server);
    }

    private static ObservedCall FromBody(ObservedRequest request, CompiledToolServer server, CompiledOperation operation)
    {
        if (request.Body.IsEmpty)
        {
            return new ObservedCall { Kind = CallKind.Tool, Server = server, Tool = operation.Tool, Args = McpCallReader.EmptyObject.Value };
        }

        JsonDocument document;
        try
        {
            document = CallReader.ParseBody(request.Body);
        }
        catch (JsonException e)
        {
            return ObservedCall.Refuse(CallReasons.OperationArgsInvalid, $"operation {operation.Tool} takes a JSON object body: " + e.Message, server);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return ObservedCall.Refuse(CallReasons.OperationArgsInvalid, $"operation {operation.Tool} takes a JSON object body", server);
        }

        return new ObservedCall { Kind = CallKind.Tool, Server = server, Tool = operation.Tool, Args = document.RootElement, Body = document };
    }

    /// <summary>The query string as an object of strings; a repeated name becomes a list of strings.</summary>
    private static ObservedCall FromQuery(ObservedRequest request, CompiledToolServer server, CompiledOperation operation)
    {
        var values = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in request.Query().Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Decode(equals < 0 ? pair : pair[..equals]);
            var value = equals < 0 ? "" : Decode(pair[(equals + 1)..]);
            if (!values.TryGetValue(name, out var list))
            {
                values[name] = list = [];
            }

            list.Add(value);
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, list) in values)
            {
                if (list.Count == 1)
                {
                    writer.WriteString(name, list[0]);
                    continue;
                }

                writer.WriteStartArray(name);
                list.ForEach(writer.WriteStringValue);
                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        var document = JsonDocument.Parse(buffer.WrittenMemory);
        return new ObservedCall { Kind = CallKind.Tool, Server = server, Tool = operation.Tool, Args = document.RootElement, Body = document, ArgsInQuery = true };
    }

    private static string Decode(string text) => Uri.UnescapeDataString(text.Replace('+', ' '));
}
