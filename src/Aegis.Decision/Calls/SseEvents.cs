using System.Text;

namespace Aegis.Decision.Calls;

/// <summary>One server-sent event: its raw bytes (terminator included), and its event name and data as parsed.</summary>
public sealed record SseEvent(byte[] Raw, string? Name, string Data, string? Id);

/// <summary>
/// Reassembles server-sent events (the WHATWG event-stream format) from chunks split anywhere, even inside a UTF-8
/// sequence or between the CR and LF of a line end. Bounded: an event larger than <see cref="MaxEventBytes"/> is a
/// stream error, never unbounded buffering.
/// </summary>
public sealed class SseEventReader
{
    /// <summary>The largest event held while waiting for its end.</summary>
    public const int MaxEventBytes = 4 * 1024 * 1024;

    private readonly List<byte> _pending = [];

    /// <summary>True once an event was too large; the reader then yields nothing more.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Bytes received but not yet part of a complete event.</summary>
    public int PendingBytes => _pending.Count;

    /// <summary>Adds a chunk and returns the events it completed, in order.</summary>
    public List<SseEvent> Push(ReadOnlySpan<byte> chunk)
    {
        var events = new List<SseEvent>();
        if (Overflowed)
        {
            return events;
        }

        foreach (var b in chunk)
        {
            _pending.Add(b);
            if (EndsEvent(b))
            {
                events.Add(Parse([.. _pending]));
                _pending.Clear();
            }
            else if (_pending.Count > MaxEventBytes)
            {
                Overflowed = true;
                _pending.Clear();
                break;
            }
        }

        return events;
    }

    /// <summary>The bytes of an unterminated last event, when the stream ends (they are passed on unchanged).</summary>
    public byte[] Drain()
    {
        var rest = _pending.ToArray();
        _pending.Clear();
        return rest;
    }

    private bool _lastWasCr;
    private int _lineLength;

    // Lines end with CR, LF or CRLF; an empty line ends the event. The LF of a CRLF was counted at its CR, so a
    // split between the two changes nothing (the LF then opens the next event's bytes, and is passed on in order).
    private bool EndsEvent(byte b)
    {
        if (b == '\n' && _lastWasCr)
        {
            _lastWasCr = false;
            return false;
        }

        _lastWasCr = b == '\r';
        if (b is (byte)'\n' or (byte)'\r')
        {
            var empty = _lineLength == 0;
            _lineLength = 0;
            return empty;
        }

        _lineLength++;
        return false;
    }

    private static SseEvent Parse(byte[] raw)
    {
        string? name = null, id = null;
        var data = new StringBuilder();
        var text = Encoding.UTF8.GetString(raw);
        var first = true;
        foreach (var line in text.Split(["\r\n", "\n", "\r"], StringSplitOptions.None))
        {
            if (line.Length == 0 || line[0] == ':')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }

            switch (field)
            {
                case "event":
                    name = value;
                    break;
                case "data":
                    if (!first)
                    {
                        data.Append('\n');
                    }

                    data.Append(value);
                    first = false;
                    break;
                case "id":
                    id = value;
                    break;
            }
        }

        return new SseEvent(raw, name, data.ToString(), id);
    }
}
