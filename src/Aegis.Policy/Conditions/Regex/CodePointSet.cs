namespace Aegis.Policy.Conditions.Regex;

/// <summary>An immutable set of Unicode code points as sorted, disjoint, non-adjacent inclusive ranges.</summary>
internal sealed class CodePointSet
{
    public const int MaxCodePoint = 0x10FFFF;

    public static readonly CodePointSet Empty = new([]);
    public static readonly CodePointSet All = new([0, MaxCodePoint]);

    // Pairs: [lo0, hi0, lo1, hi1, ...].
    private readonly int[] _ranges;

    private CodePointSet(int[] ranges) => _ranges = ranges;

    public int RangeCount => _ranges.Length / 2;

    public int Low(int range) => _ranges[range * 2];

    public int High(int range) => _ranges[(range * 2) + 1];

    public static CodePointSet Of(int codePoint) => new([codePoint, codePoint]);

    public static CodePointSet Range(int lo, int hi) => new([lo, hi]);

    /// <summary>A set from ranges in any order, overlapping or not.</summary>
    public static CodePointSet FromRanges(List<(int Lo, int Hi)> ranges)
    {
        if (ranges.Count == 0)
        {
            return Empty;
        }

        ranges.Sort((a, b) => a.Lo.CompareTo(b.Lo));
        var merged = new List<int>(ranges.Count * 2);
        var (lo, hi) = ranges[0];
        for (var i = 1; i < ranges.Count; i++)
        {
            var (l, h) = ranges[i];
            if (l <= hi + 1)
            {
                hi = Math.Max(hi, h);
            }
            else
            {
                merged.Add(lo);
                merged.Add(hi);
                (lo, hi) = (l, h);
            }
        }

        merged.Add(lo);
        merged.Add(hi);
        return new CodePointSet([.. merged]);
    }

    public bool Contains(int codePoint)
    {
        var ranges = _ranges;

        // Most sets in policies are a few ASCII ranges: a linear scan beats a binary search there.
        if (ranges.Length <= 8)
        {
            for (var i = 0; i < ranges.Length; i += 2)
            {
                if (codePoint < ranges[i])
                {
                    return false;
                }

                if (codePoint <= ranges[i + 1])
                {
                    return true;
                }
            }

            return false;
        }

        int lo = 0, hi = (ranges.Length / 2) - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            if (codePoint < ranges[mid * 2])
            {
                hi = mid - 1;
            }
            else if (codePoint > ranges[(mid * 2) + 1])
            {
                lo = mid + 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }

    public CodePointSet Union(CodePointSet other)
    {
        if (other._ranges.Length == 0)
        {
            return this;
        }

        if (_ranges.Length == 0)
        {
            return other;
        }

        var list = new List<(int, int)>(RangeCount + other.RangeCount);
        AddTo(list);
        other.AddTo(list);
        return FromRanges(list);
    }

    public CodePointSet Negate()
    {
        var result = new List<int>(_ranges.Length + 2);
        var next = 0;
        for (var i = 0; i < _ranges.Length; i += 2)
        {
            if (_ranges[i] > next)
            {
                result.Add(next);
                result.Add(_ranges[i] - 1);
            }

            next = _ranges[i + 1] + 1;
        }

        if (next <= MaxCodePoint)
        {
            result.Add(next);
            result.Add(MaxCodePoint);
        }

        return new CodePointSet([.. result]);
    }

    public void AddTo(List<(int Lo, int Hi)> list)
    {
        for (var i = 0; i < _ranges.Length; i += 2)
        {
            list.Add((_ranges[i], _ranges[i + 1]));
        }
    }

    /// <summary>The set closed under simple case folding: every code point with all code points that fold to the same.</summary>
    public CodePointSet CaseFolded()
    {
        var list = new List<(int, int)>(RangeCount + 8);
        AddTo(list);
        foreach (var orbit in UnicodeTables.FoldOrbitList)
        {
            foreach (var member in orbit)
            {
                if (Contains(member))
                {
                    foreach (var m in orbit)
                    {
                        list.Add((m, m));
                    }

                    break;
                }
            }
        }

        return FromRanges(list);
    }
}
