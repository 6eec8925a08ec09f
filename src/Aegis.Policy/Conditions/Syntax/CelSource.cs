using System.Globalization;

namespace Aegis.Policy.Conditions.Syntax;

/// <summary>An expression's text with its line starts, to turn offsets into "line:column" (both from 1).</summary>
internal sealed class CelSource
{
    private readonly List<int> _lineStarts = [0];

    public CelSource(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '\n')
            {
                _lineStarts.Add(i + 1);
            }
        }
    }

    public string Location(int offset)
    {
        var line = _lineStarts.BinarySearch(offset);
        if (line < 0)
        {
            line = ~line - 1;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{line + 1}:{offset - _lineStarts[line] + 1}");
    }
}
