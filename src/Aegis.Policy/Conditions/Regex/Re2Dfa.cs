using System.Text;

namespace Aegis.Policy.Conditions.Regex;

/// <summary>
/// A DFA over an automaton's instructions, built on demand: a state is the set of instructions waiting for the next
/// code point plus what the previous one was (start of text, newline, word character, other) for the assertions.
/// Code points are grouped into classes that every set of the program treats alike, so transitions are a table
/// per state. States are built under a lock and published with volatile writes; readers take no lock.
/// </summary>
internal sealed class Re2Dfa
{
    private const int MaxStates = 4096;

    // Transition cells per pattern: a pattern with many classes (\p{L} has hundreds) gets fewer states.
    private const int MaxCells = 1 << 20;
    private const int Unknown = -1;
    private const int Matched = -2;

    private readonly Instruction[] _program;
    private readonly bool _anchored;
    private readonly int[] _classStarts;
    private readonly byte[] _asciiClass = new byte[128];
    private readonly State[] _states;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private int _count;

    public Re2Dfa(Instruction[] program, bool anchored)
    {
        _program = program;
        _anchored = anchored;

        // Class boundaries: every set's ranges, plus '\n' and the word characters the assertions look at.
        var starts = new SortedSet<int> { 0, '\n', '\n' + 1, '0', '9' + 1, 'A', 'Z' + 1, '_', '_' + 1, 'a', 'z' + 1 };
        foreach (var inst in program)
        {
            if (inst.Set is { } set)
            {
                for (var r = 0; r < set.RangeCount; r++)
                {
                    starts.Add(set.Low(r));
                    if (set.High(r) < CodePointSet.MaxCodePoint)
                    {
                        starts.Add(set.High(r) + 1);
                    }
                }
            }
        }

        _classStarts = [.. starts];
        _states = new State[Math.Clamp(MaxCells / _classStarts.Length, 16, MaxStates)];
        for (var c = 0; c < 128; c++)
        {
            _asciiClass[c] = (byte)ClassOfSlow(c);
        }

        lock (_lock)
        {
            Intern([0], Context.Start);
        }
    }

    private enum Context : byte
    {
        Start,
        Newline,
        Word,
        Other,
    }

    /// <summary>Whether the text has a matching substring, or null when the state cache is full (the caller simulates).</summary>
    public bool? TryMatch(string text)
    {
        var state = _states[0];
        var i = 0;
        while (i < text.Length)
        {
            int cp, width = 1;
            var ch = text[i];
            if (ch < 128)
            {
                cp = ch;
            }
            else
            {
                Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out width);
                cp = rune.Value;
            }

            var k = cp < 128 ? _asciiClass[cp] : ClassOfSlow(cp);
            var next = Volatile.Read(ref state.Next[k]);
            if (next == Unknown)
            {
                next = Step(state, k, cp);
                if (next == Unknown)
                {
                    return null;
                }
            }

            if (next == Matched)
            {
                return true;
            }

            state = _states[next];
            if (state.Dead)
            {
                return false;
            }

            i += width;
        }

        var atEnd = Volatile.Read(ref state.MatchAtEnd);
        if (atEnd == 0)
        {
            lock (_lock)
            {
                atEnd = Closure(state, -1, out _) ? (sbyte)1 : (sbyte)-1;
                Volatile.Write(ref state.MatchAtEnd, atEnd);
            }
        }

        return atEnd > 0;
    }

    private int ClassOfSlow(int cp)
    {
        var index = Array.BinarySearch(_classStarts, cp);
        return index >= 0 ? index : ~index - 1;
    }

    private int Step(State state, int k, int cp)
    {
        lock (_lock)
        {
            var known = state.Next[k];
            if (known != Unknown)
            {
                return known;
            }

            int result;
            if (Closure(state, cp, out var consuming))
            {
                result = Matched;
            }
            else
            {
                var pending = new List<int>();
                foreach (var pc in consuming)
                {
                    if (_program[pc].Set!.Contains(cp))
                    {
                        pending.Add(pc + 1);
                    }
                }

                if (!_anchored)
                {
                    // Unanchored search: a match may start at every position.
                    pending.Add(0);
                }

                pending.Sort();
                result = Intern(pending, ContextOf(cp));
                if (result == Unknown)
                {
                    return Unknown;
                }
            }

            Volatile.Write(ref state.Next[k], result);
            return result;
        }
    }

    private static Context ContextOf(int cp) => cp == '\n' ? Context.Newline : Re2Regex.IsWordChar(cp) ? Context.Word : Context.Other;

    // Follows splits, jumps and assertions from the state's instructions with the next code point known (-1 at the end).
    private bool Closure(State state, int next, out List<int> consuming)
    {
        consuming = [];
        var prev = state.Context switch
        {
            Context.Start => -1,
            Context.Newline => '\n',
            Context.Word => 'a',
            _ => ' ',
        };
        var seen = new bool[_program.Length];
        var stack = new Stack<int>(state.Pending.Reverse());
        while (stack.Count > 0)
        {
            var pc = stack.Pop();
            if (seen[pc])
            {
                continue;
            }

            seen[pc] = true;
            var inst = _program[pc];
            switch (inst.Op)
            {
                case OpCode.Chars:
                    consuming.Add(pc);
                    break;
                case OpCode.Jump:
                    stack.Push(inst.X);
                    break;
                case OpCode.Split:
                    stack.Push(inst.Y);
                    stack.Push(inst.X);
                    break;
                case OpCode.Assert:
                    if (Re2Regex.Holds(inst.Assertion, prev, next))
                    {
                        stack.Push(pc + 1);
                    }

                    break;
                case OpCode.Match:
                    return true;
            }
        }

        return false;
    }

    private int Intern(List<int> pending, Context context)
    {
        var key = new StringBuilder(pending.Count + 1).Append((char)context);
        var last = -1;
        foreach (var pc in pending)
        {
            if (pc != last)
            {
                key.Append((char)pc);
                last = pc;
            }
        }

        var text = key.ToString();
        if (_index.TryGetValue(text, out var id))
        {
            return id;
        }

        if (_count == _states.Length)
        {
            return Unknown;
        }

        var next = new int[_classStarts.Length];
        Array.Fill(next, Unknown);
        var state = new State
        {
            Pending = [.. pending.Distinct()],
            Context = context,
            Next = next,
            Dead = pending.Count == 0,
        };
        id = _count;
        _states[id] = state;
        _index[text] = id;
        Volatile.Write(ref _count, _count + 1);
        return id;
    }

    private sealed class State
    {
        public required int[] Pending { get; init; }
        public required Context Context { get; init; }

        // Per class: the next state's id, Matched, or Unknown until computed.
        public required int[] Next { get; init; }
        public required bool Dead { get; init; }

        // 0 unknown, 1 a match ends here, -1 none.
        public sbyte MatchAtEnd;
    }
}
