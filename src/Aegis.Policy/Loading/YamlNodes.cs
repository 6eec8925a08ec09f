using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Aegis.Policy.Loading;

/// <summary>A parsed YAML node that remembers where it starts, for error messages.</summary>
internal abstract record YNode(Mark Start);

/// <summary>A scalar with its style (a quoted "20.00" is a string, a plain 20.00 is a number).</summary>
internal sealed record YScalar(Mark Start, string Value, ScalarStyle Style, string? Tag) : YNode(Start)
{
    /// <summary>A plain scalar YAML reads as null.</summary>
    public bool IsNull => Style == ScalarStyle.Plain && Tag is null && Value is "" or "~" or "null" or "Null" or "NULL";
}

/// <summary>A sequence node.</summary>
internal sealed record YSequence(Mark Start, List<YNode> Items) : YNode(Start);

/// <summary>A mapping node; entries keep document order. Repeated keys are kept aside for the binder to report.</summary>
internal sealed record YMapping(Mark Start, List<KeyValuePair<YScalar, YNode>> Entries) : YNode(Start)
{
    /// <summary>Keys that appeared again, with where they first appeared.</summary>
    public List<(YScalar Key, Mark First)> Duplicates { get; } = [];
}

/// <summary>
/// Builds <see cref="YNode"/> trees from YamlDotNet's event parser, one document at a time, so that a
/// syntax error late in a file keeps the documents before it and duplicate keys become load errors.
/// </summary>
internal static class YamlDocumentReader
{
    /// <summary>Reads every document; stops at the first syntax error and reports it.</summary>
    public static List<YNode?> ReadAll(string text, Action<Mark, string> onError)
    {
        var documents = new List<YNode?>();
        var parser = new Parser(new StringReader(text));
        try
        {
            parser.Consume<StreamStart>();
            while (parser.TryConsume<DocumentStart>(out _))
            {
                var anchors = new Dictionary<string, YNode>(StringComparer.Ordinal);
                var node = parser.Accept<DocumentEnd>(out _) ? null : ReadNode(parser, anchors, onError);
                parser.Consume<DocumentEnd>();
                documents.Add(node);
            }

            parser.Consume<StreamEnd>();
        }
        catch (YamlException e)
        {
            onError(e.Start, "YAML syntax error: " + StripMark(e.Message));
        }

        return documents;
    }

    private static string StripMark(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; we print our own position.
        var idx = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith('(') && idx > 0 ? message[(idx + 3)..] : message;
    }

    private static YNode ReadNode(IParser parser, Dictionary<string, YNode> anchors, Action<Mark, string> onError)
    {
        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            if (anchors.TryGetValue(alias.Value.Value, out var target))
            {
                return target;
            }

            throw new YamlException(alias.Start, alias.End, $"alias *{alias.Value.Value} refers to no anchor");
        }

        if (parser.TryConsume<Scalar>(out var scalar))
        {
            var node = new YScalar(scalar.Start, scalar.Value, scalar.Style, scalar.Tag.IsEmpty ? null : scalar.Tag.Value);
            Remember(scalar.Anchor, node);
            return node;
        }

        if (parser.TryConsume<SequenceStart>(out var seqStart))
        {
            var items = new List<YNode>();
            var node = new YSequence(seqStart.Start, items);
            Remember(seqStart.Anchor, node);
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                items.Add(ReadNode(parser, anchors, onError));
            }

            return node;
        }

        if (parser.TryConsume<MappingStart>(out var mapStart))
        {
            var entries = new List<KeyValuePair<YScalar, YNode>>();
            var node = new YMapping(mapStart.Start, entries);
            Remember(mapStart.Anchor, node);
            var seen = new Dictionary<string, Mark>(StringComparer.Ordinal);
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var keyNode = ReadNode(parser, anchors, onError);
                var value = ReadNode(parser, anchors, onError);
                if (keyNode is not YScalar key)
                {
                    onError(keyNode.Start, "mapping keys must be plain strings");
                    continue;
                }

                if (seen.TryGetValue(key.Value, out var first))
                {
                    node.Duplicates.Add((key, first));
                    continue;
                }

                seen[key.Value] = key.Start;
                entries.Add(new(key, value));
            }

            return node;
        }

        var unexpected = parser.Current!;
        throw new YamlException(unexpected.Start, unexpected.End, $"unexpected {unexpected.GetType().Name}");

        void Remember(AnchorName anchor, YNode node)
        {
            if (!anchor.IsEmpty)
            {
                anchors[anchor.Value] = node;
            }
        }
    }
}
