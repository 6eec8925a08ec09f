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
    /// <summary>Deeper nesting is refused: every reader of the tree recurses, and no manifest needs it.</summary>
    public const int MaxDepth = 100;

    /// <summary>
    /// Most nodes a document may hold counting every alias as the copy it stands for, so a few lines of nested aliases
    /// (the "billion laughs") cannot expand into more than any consumer of the tree can walk.
    /// </summary>
    public const int MaxExpandedNodes = 100_000;

    /// <summary>Reads every document; stops at the first syntax error and reports it.</summary>
    public static List<YNode?> ReadAll(string text, Action<Mark, string> onError)
    {
        var documents = new List<YNode?>();
        var scanner = new Scanner(new StringReader(text));
        var parser = new Parser(scanner);
        try
        {
            parser.Consume<StreamStart>();
            while (parser.TryConsume<DocumentStart>(out _))
            {
                var document = new DocumentState();
                var node = parser.Accept<DocumentEnd>(out _) ? null : ReadNode(parser, document, 0, onError);
                parser.Consume<DocumentEnd>();
                documents.Add(node);
            }

            parser.Consume<StreamEnd>();
        }
        catch (YamlException e)
        {
            onError(e.Start, "YAML syntax error: " + StripMark(e.Message));
        }
        catch (Exception e) when (e.Source == "YamlDotNet" && e is InvalidOperationException or ArgumentException or IndexOutOfRangeException)
        {
            // YamlDotNet's scanner trips its own state checks on some malformed input (an unclosed flow mapping
            // followed by a block, say) instead of raising a YamlException: the same failure, reported the same way.
            onError(scanner.CurrentPosition, "YAML syntax error: cannot be read from here on (look for a bracket, brace or quote left open above)");
        }

        return documents;
    }

    /// <summary>What one document's aliases may refer to, and how large aliases have made it.</summary>
    private sealed class DocumentState
    {
        public Dictionary<string, YNode> Anchors { get; } = new(StringComparer.Ordinal);

        /// <summary>Collections still being read: an alias to one of them would make the tree a cycle.</summary>
        public HashSet<YNode> Open { get; } = new(ReferenceEqualityComparer.Instance);

        /// <summary>Nodes read so far, each alias counted as the size of what it copies.</summary>
        public long Expanded { get; set; }

        /// <summary>The size of each anchored node's subtree, for counting its aliases.</summary>
        public Dictionary<YNode, long> Sizes { get; } = new(ReferenceEqualityComparer.Instance);
    }

    private static string StripMark(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; we print our own position.
        var idx = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith('(') && idx > 0 ? message[(idx + 3)..] : message;
    }

    private static YNode ReadNode(IParser parser, DocumentState document, int depth, Action<Mark, string> onError)
    {
        var startedAt = document.Expanded;
        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            if (!document.Anchors.TryGetValue(alias.Value.Value, out var target))
            {
                throw new YamlException(alias.Start, alias.End, $"alias *{alias.Value.Value} refers to no anchor");
            }

            if (document.Open.Contains(target))
            {
                throw new YamlException(alias.Start, alias.End, $"alias *{alias.Value.Value} refers to a node that contains it");
            }

            Count(document.Sizes.TryGetValue(target, out var size) ? size : 1, alias.Start, alias.End);
            return target;
        }

        Count(1, parser.Current?.Start ?? Mark.Empty, parser.Current?.End ?? Mark.Empty);
        if (depth >= MaxDepth && parser.Current is SequenceStart or MappingStart)
        {
            throw new YamlException(parser.Current.Start, parser.Current.End, $"nested deeper than {MaxDepth} levels");
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
            document.Open.Add(node);
            while (!parser.TryConsume<SequenceEnd>(out _))
            {
                items.Add(ReadNode(parser, document, depth + 1, onError));
            }

            document.Open.Remove(node);
            document.Sizes[node] = document.Expanded - startedAt;
            return node;
        }

        if (parser.TryConsume<MappingStart>(out var mapStart))
        {
            var entries = new List<KeyValuePair<YScalar, YNode>>();
            var node = new YMapping(mapStart.Start, entries);
            Remember(mapStart.Anchor, node);
            document.Open.Add(node);
            var seen = new Dictionary<string, Mark>(StringComparer.Ordinal);
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var keyNode = ReadNode(parser, document, depth + 1, onError);
                var value = ReadNode(parser, document, depth + 1, onError);
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

            document.Open.Remove(node);
            document.Sizes[node] = document.Expanded - startedAt;
            return node;
        }

        var unexpected = parser.Current;
        throw unexpected is null
            ? new YamlException("the document ends in the middle of a node")
            : new YamlException(unexpected.Start, unexpected.End, $"unexpected {unexpected.GetType().Name}");

        void Remember(AnchorName anchor, YNode node)
        {
            if (!anchor.IsEmpty)
            {
                document.Anchors[anchor.Value] = node;
            }
        }

        void Count(long nodes, Mark start, Mark end)
        {
            document.Expanded += nodes;
            if (document.Expanded > MaxExpandedNodes)
            {
                throw new YamlException(start, end, $"the document expands to more than {MaxExpandedNodes} nodes (aliases count as copies of what they refer to)");
            }
        }
    }
}
