using System.Globalization;

namespace Aegis.Policy.Conditions.Regex;

/// <summary>
/// The Unicode classes of RE2's <c>\p{...}</c>: general categories from .NET's character data, scripts and case
/// folding orbits from the Unicode Character Database (<see cref="Version"/>, generated into UnicodeTables.g.cs).
/// Each table is built on first use and shared.
/// </summary>
internal static partial class UnicodeTables
{
    private static readonly Lazy<int[][]> Orbits = new(ParseOrbits);
    private static readonly Lazy<Dictionary<string, CodePointSet>> Categories = new(BuildCategories);
    private static readonly Dictionary<string, CodePointSet> Scripts = new(StringComparer.Ordinal);

    /// <summary>Every simple case folding orbit of two or more code points.</summary>
    public static int[][] FoldOrbitList => Orbits.Value;

    /// <summary>The class RE2 names <paramref name="name"/> (Any, a general category such as L or Lu, or a script).</summary>
    public static bool TryGetClass(string name, out CodePointSet set)
    {
        if (name == "Any")
        {
            set = CodePointSet.All;
            return true;
        }

        if (Categories.Value.TryGetValue(name, out set!))
        {
            return true;
        }

        lock (Scripts)
        {
            if (Scripts.TryGetValue(name, out set!))
            {
                return true;
            }

            if (!ScriptRanges.TryGetValue(name, out var text))
            {
                set = CodePointSet.Empty;
                return false;
            }

            set = ParseRanges(text);
            Scripts[name] = set;
            return true;
        }
    }

    private static CodePointSet ParseRanges(string text)
    {
        var ranges = new List<(int, int)>();
        foreach (var part in text.Split(' '))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            var lo = int.Parse(dash < 0 ? part : part[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            var hi = dash < 0 ? lo : int.Parse(part[(dash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            ranges.Add((lo, hi));
        }

        return CodePointSet.FromRanges(ranges);
    }

    private static int[][] ParseOrbits() =>
        [.. FoldOrbits.Split(';').Select(g => g.Split(' ').Select(c => int.Parse(c, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)).ToArray())];

    // RE2's category names; "C" is the union of the other-categories RE2 supports (Cn, unassigned, is not one).
    private static readonly (string Name, UnicodeCategory Category)[] CategoryNames =
    [
        ("Cc", UnicodeCategory.Control), ("Cf", UnicodeCategory.Format), ("Co", UnicodeCategory.PrivateUse), ("Cs", UnicodeCategory.Surrogate),
        ("Ll", UnicodeCategory.LowercaseLetter), ("Lm", UnicodeCategory.ModifierLetter), ("Lo", UnicodeCategory.OtherLetter),
        ("Lt", UnicodeCategory.TitlecaseLetter), ("Lu", UnicodeCategory.UppercaseLetter),
        ("Mc", UnicodeCategory.SpacingCombiningMark), ("Me", UnicodeCategory.EnclosingMark), ("Mn", UnicodeCategory.NonSpacingMark),
        ("Nd", UnicodeCategory.DecimalDigitNumber), ("Nl", UnicodeCategory.LetterNumber), ("No", UnicodeCategory.OtherNumber),
        ("Pc", UnicodeCategory.ConnectorPunctuation), ("Pd", UnicodeCategory.DashPunctuation), ("Pe", UnicodeCategory.ClosePunctuation),
        ("Pf", UnicodeCategory.FinalQuotePunctuation), ("Pi", UnicodeCategory.InitialQuotePunctuation), ("Po", UnicodeCategory.OtherPunctuation),
        ("Ps", UnicodeCategory.OpenPunctuation),
        ("Sc", UnicodeCategory.CurrencySymbol), ("Sk", UnicodeCategory.ModifierSymbol), ("Sm", UnicodeCategory.MathSymbol), ("So", UnicodeCategory.OtherSymbol),
        ("Zl", UnicodeCategory.LineSeparator), ("Zp", UnicodeCategory.ParagraphSeparator), ("Zs", UnicodeCategory.SpaceSeparator),
    ];

    private static Dictionary<string, CodePointSet> BuildCategories()
    {
        var byCategory = new Dictionary<UnicodeCategory, List<(int, int)>>();
        var start = 0;
        var current = CharUnicodeInfo.GetUnicodeCategory(0);
        for (var cp = 1; cp <= CodePointSet.MaxCodePoint + 1; cp++)
        {
            var category = cp <= CodePointSet.MaxCodePoint ? CharUnicodeInfo.GetUnicodeCategory(cp) : (UnicodeCategory)(-1);
            if (category != current)
            {
                if (!byCategory.TryGetValue(current, out var list))
                {
                    byCategory[current] = list = [];
                }

                list.Add((start, cp - 1));
                start = cp;
                current = category;
            }
        }

        var result = new Dictionary<string, CodePointSet>(StringComparer.Ordinal);
        foreach (var (name, category) in CategoryNames)
        {
            result[name] = byCategory.TryGetValue(category, out var ranges) ? CodePointSet.FromRanges(ranges) : CodePointSet.Empty;
        }

        foreach (var major in new[] { "C", "L", "M", "N", "P", "S", "Z" })
        {
            var union = CodePointSet.Empty;
            foreach (var (name, _) in CategoryNames)
            {
                if (name[0] == major[0])
                {
                    union = union.Union(result[name]);
                }
            }

            result[major] = union;
        }

        return result;
    }
}
