using System.Buffers;
using System.Text;

namespace Aegis.Policy.Conditions.Regex;

/// <summary>
/// An RE2 regular expression compiled to a Thompson automaton and searched without backtracking: by a DFA built
/// lazily from the automaton's state sets (cached per pattern), or by simulating all states at once when that
/// cache is full. Either way time is linear in the text, whatever the pattern or text. Only answers whether the
/// pattern matches a substring, which is all CEL's <c>matches</c> needs, so greedy and lazy forms are the same
/// here. Safe to share between threads.
/// </summary>
internal sealed class Re2Regex
{
    private const int MaxInstructions = 20_000;

    private readonly Instruction[] _program;
    private readonly bool _anchoredAtStart;
    private readonly Re2Dfa _dfa;

    private Re2Regex(Instruction[] program, bool anchoredAtStart)
    {
        _program = program;
        _anchoredAtStart = anchoredAtStart;
        _dfa = new Re2Dfa(program, anchoredAtStart);
    }

    /// <summary>Compiles <paramref name="pattern"/>, or says why RE2 would refuse it.</summary>
    public static bool TryCompile(string pattern, out Re2Regex? regex, out string error)
    {
        try
        {
            var root = Re2Parser.Parse(pattern);
            var program = new List<Instruction>();
            Emit(root, program);
            program.Add(new Instruction(OpCode.Match));
            regex = new Re2Regex([.. program], StartsWithBeginText(root));
            error = "";
            return true;
        }
        catch (Re2SyntaxException e)
        {
            regex = null;
            error = e.Message;
            return false;
        }
    }

    /// <summary>True when some substring of <paramref name="text"/> matches.</summary>
    public bool IsMatch(string text) => _dfa.TryMatch(text) ?? IsMatchBySimulation(text);

    /// <summary>The automaton's states simulated directly: the fallback when the DFA's state cache is full.</summary>
    internal bool IsMatchBySimulation(string text)
    {
        var n = _program.Length;
        var pool = ArrayPool<int>.Shared;
        var stamps = pool.Rent(n);
        var current = pool.Rent(n);
        var pending = pool.Rent(n);
        var stack = pool.Rent((2 * n) + 2);
        try
        {
            Array.Clear(stamps, 0, n);
            var generation = 0;
            var pendingCount = 0;
            var prev = -1;
            var i = 0;
            while (true)
            {
                int cp, width;
                if (i < text.Length)
                {
                    // A lone surrogate is not a code point; it reads as U+FFFD and matches only what that matches.
                    Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out width);
                    cp = rune.Value;
                }
                else
                {
                    cp = -1;
                    width = 0;
                }

                generation++;
                var count = 0;
                var matched = false;
                for (var p = 0; p < pendingCount && !matched; p++)
                {
                    matched = Closure(pending[p], prev, cp, generation, stamps, current, ref count, stack);
                }

                if (!matched && (!_anchoredAtStart || i == 0))
                {
                    matched = Closure(0, prev, cp, generation, stamps, current, ref count, stack);
                }

                if (matched)
                {
                    return true;
                }

                if (cp < 0)
                {
                    return false;
                }

                pendingCount = 0;
                for (var p = 0; p < count; p++)
                {
                    var pc = current[p];
                    if (_program[pc].Set!.Contains(cp))
                    {
                        pending[pendingCount++] = pc + 1;
                    }
                }

                if (pendingCount == 0 && _anchoredAtStart)
                {
                    return false;
                }

                prev = cp;
                i += width;
            }
        }
        finally
        {
            pool.Return(stamps);
            pool.Return(current);
            pool.Return(pending);
            pool.Return(stack);
        }
    }

    // Follows jumps, splits and assertions from pc; collects the character instructions reached. True on a match.
    private bool Closure(int start, int prev, int next, int generation, int[] stamps, int[] current, ref int count, int[] stack)
    {
        var top = 0;
        stack[top++] = start;
        while (top > 0)
        {
            var pc = stack[--top];
            if (stamps[pc] == generation)
            {
                continue;
            }

            stamps[pc] = generation;
            ref readonly var inst = ref _program[pc];
            switch (inst.Op)
            {
                case OpCode.Chars:
                    current[count++] = pc;
                    break;
                case OpCode.Jump:
                    stack[top++] = inst.X;
                    break;
                case OpCode.Split:
                    stack[top++] = inst.Y;
                    stack[top++] = inst.X;
                    break;
                case OpCode.Assert:
                    if (Holds(inst.Assertion, prev, next))
                    {
                        stack[top++] = pc + 1;
                    }

                    break;
                case OpCode.Match:
                    return true;
            }
        }

        return false;
    }

    internal static bool Holds(ReAssertion assertion, int prev, int next) => assertion switch
    {
        ReAssertion.BeginText => prev < 0,
        ReAssertion.EndText => next < 0,
        ReAssertion.BeginLine => prev is < 0 or '\n',
        ReAssertion.EndLine => next is < 0 or '\n',
        ReAssertion.WordBoundary => IsWordChar(prev) != IsWordChar(next),
        _ => IsWordChar(prev) == IsWordChar(next),
    };

    // RE2's \b is ASCII: a word character is [0-9A-Za-z_].
    internal static bool IsWordChar(int c) => c is (>= '0' and <= '9') or (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or '_';

    private static bool StartsWithBeginText(ReNode node) => node switch
    {
        ReAssert { Kind: ReAssertion.BeginText } => true,
        ReConcat concat => StartsWithBeginText(concat.Items[0]),
        _ => false,
    };

    private static void Emit(ReNode node, List<Instruction> program)
    {
        if (program.Count > MaxInstructions)
        {
            throw new Re2SyntaxException($"expression too large (more than {MaxInstructions} states)");
        }

        switch (node)
        {
            case ReChars chars:
                program.Add(new Instruction(OpCode.Chars) { Set = chars.Set });
                break;
            case ReEmpty:
                break;
            case ReAssert assert:
                program.Add(new Instruction(OpCode.Assert) { Assertion = assert.Kind });
                break;
            case ReConcat concat:
                foreach (var item in concat.Items)
                {
                    Emit(item, program);
                }

                break;
            case ReAlternate alternate:
                var jumps = new List<int>();
                for (var i = 0; i < alternate.Items.Count; i++)
                {
                    var split = -1;
                    if (i < alternate.Items.Count - 1)
                    {
                        split = program.Count;
                        program.Add(new Instruction(OpCode.Split));
                    }

                    Emit(alternate.Items[i], program);
                    if (split >= 0)
                    {
                        jumps.Add(program.Count);
                        program.Add(new Instruction(OpCode.Jump));
                        program[split] = new Instruction(OpCode.Split) { X = split + 1, Y = program.Count };
                    }
                }

                foreach (var jump in jumps)
                {
                    program[jump] = new Instruction(OpCode.Jump) { X = program.Count };
                }

                break;
            case ReRepeat repeat:
                EmitRepeat(repeat, program);
                break;
        }
    }

    private static void EmitRepeat(ReRepeat repeat, List<Instruction> program)
    {
        for (var i = 0; i < repeat.Min; i++)
        {
            Emit(repeat.Item, program);
        }

        if (repeat.Max < 0)
        {
            var loop = program.Count;
            program.Add(new Instruction(OpCode.Split));
            Emit(repeat.Item, program);
            program.Add(new Instruction(OpCode.Jump) { X = loop });
            program[loop] = new Instruction(OpCode.Split) { X = loop + 1, Y = program.Count };
            return;
        }

        var splits = new List<int>();
        for (var i = repeat.Min; i < repeat.Max; i++)
        {
            splits.Add(program.Count);
            program.Add(new Instruction(OpCode.Split));
            Emit(repeat.Item, program);
        }

        foreach (var split in splits)
        {
            program[split] = new Instruction(OpCode.Split) { X = split + 1, Y = program.Count };
        }
    }

}

internal enum OpCode : byte
{
    Chars,
    Split,
    Jump,
    Assert,
    Match,
}

/// <summary>One automaton instruction: a code point set to consume, a split, a jump, an assertion, or the match.</summary>
internal readonly record struct Instruction(OpCode Op)
{
    public int X { get; init; }
    public int Y { get; init; }
    public CodePointSet? Set { get; init; }
    public ReAssertion Assertion { get; init; }
}
