namespace Aegis.Policy.Tests.Conditions;

/// <summary>
/// Numbers as cel-spec defines them: int, uint and double never mix in arithmetic; JSON numbers are doubles; equality
/// and ordering compare across kinds on one number line, exactly; overflow and division by zero are errors.
/// </summary>
public class CelNumberTests
{
    [Theory]
    // arithmetic within one kind
    [InlineData("1 + 2 == 3 && 42 - 12 == 30 && 40 * -2 == -80", "true")]
    [InlineData("7 / 2 == 3 && -7 / 2 == -3 && 7 % 3 == 1 && -7 % 3 == -1", "true")]
    [InlineData("43 % -5 == 3 && -42 % -5 == -2 && -9223372036854775808 % -1 == 0", "true")]
    [InlineData("42u + 2u == 44u && 42u - 12u == 30u && 60u / 2u == 30u && 42u % 5u == 2u", "true")]
    [InlineData("1.5 + 1.5 == 3.0 && 1e3 == 1000.0 && .5 == 0.5 && 0.0625 / 0.002 == 31.25", "true")]
    [InlineData("0x10 == 16 && 0x10u == 16u && -0x55555555 == -1431655765", "true")]
    // no implicit conversions: 1 + 1u is no overload, at load when the types are known, at run time for dyn
    [InlineData("1 + 1u == 2u", "compile: found no matching overload for '+' applied to '(int, uint)'")]
    [InlineData("1 + 1.0 == 2.0", "compile: found no matching overload for '+' applied to '(int, double)'")]
    [InlineData("-(1u) == 1u", "compile: found no matching overload for '-' applied to '(uint)'")]
    [InlineData("2.5 % 2.0 == 0.5", "compile: found no matching overload for '%'")]
    [InlineData("dyn(1) + 1u == 2u", "error: no such overload: _+_(int, uint)")]
    [InlineData("uint(1) + 1u == 2u && double(1) + 1.0 == 2.0 && 1 + int(1u) == 2", "true")]
    // JSON numbers are doubles, so 5 and 5.0 from a client mean the same
    [InlineData("args.amount / 2.0 == 2.5 && args.fraction / 2.0 == 2.5", "true")]
    [InlineData("args.amount == args.fraction && args.amount == 5 && args.amount == 5u && args.amount == 5.0", "true")]
    [InlineData("args.amount + 1 > 0.0", "error: no such overload: _+_(double, int)")]
    [InlineData("args.fraction + 1 > 0.0", "error: no such overload: _+_(double, int)")]
    [InlineData("args.amount % 2 == 1", "error: no such overload: _%_(double, int)")]
    [InlineData("int(args.amount) / 2 == 2 && int(args.amount) % 2 == 1", "true")]
    [InlineData("args.big == 9223372036854775807.0 && args.big == 9223372036854775806", "true")]
    [InlineData("int(args.big) > 0", "error: range error")]
    // overflow is an error
    [InlineData("9223372036854775807 + 1 > 0", "error: overflow")]
    [InlineData("-9223372036854775808 - 1 < 0", "error: overflow")]
    [InlineData("-(-9223372036854775808) > 0", "error: overflow")]
    [InlineData("-9223372036854775808 * -1 > 0", "error: overflow")]
    [InlineData("-9223372036854775808 / -1 > 0", "error: overflow")]
    [InlineData("5000000000 * 5000000000 > 0", "error: overflow")]
    [InlineData("18446744073709551615u + 1u > 0u", "error: overflow")]
    [InlineData("0u - 1u > 0u", "error: overflow")]
    [InlineData("5000000000u * 5000000000u > 0u", "error: overflow")]
    [InlineData("-9223372036854775808 < 0 && 18446744073709551615u > 0u", "true")]
    [InlineData("9223372036854775808 > 0", "compile: int literal out of range")]
    [InlineData("18446744073709551616u > 0u", "compile: uint literal out of range")]
    // division by zero is an error; doubles follow IEEE 754
    [InlineData("1 / 0 == 0", "error: division by zero")]
    [InlineData("1 % 0 == 0", "error: modulus by zero")]
    [InlineData("1u / 0u == 0u", "error: division by zero")]
    [InlineData("15.75 / 0.0 > 1.7e308 && -1.0 / 0.0 < -1.7e308", "true")]
    [InlineData("0.0 / 0.0 != 0.0 / 0.0 && !(0.0 / 0.0 == 0.0 / 0.0) && !(0.0 / 0.0 < 1.0) && !(dyn(1) > 0.0 / 0.0)", "true")]
    // heterogeneous comparison and equality (runtime, on one number line, exact at the 64-bit limits)
    [InlineData("dyn(1) == 1u && dyn(1) == 1.0 && dyn(1u) == 1.0 && dyn(2) != 1.0", "true")]
    [InlineData("dyn(1) < 2u && dyn(1u) < 2.0 && dyn(1.0) < 2 && dyn(-1) < 0u && !(dyn(1) < 1.0)", "true")]
    [InlineData("dyn(9223372036854775807) < 9223372036854775808.0", "false")]
    [InlineData("dyn(9223372036854775807) == 9223372036854775808.0 && dyn(9007199254740993) == 9007199254740992.0", "true")]
    [InlineData("dyn(9223372036854775807) < 9223372036854777857.0", "true")]
    [InlineData("dyn(-9223372036854775808) > -9223372036854777857.0", "true")]
    [InlineData("dyn(-9223372036854775808) <= -9223372036854775809.0", "true")]
    [InlineData("dyn(18446744073709551615u) < 18446744073709590000.0", "true")]
    [InlineData("dyn(18446744073709553665.0) > 18446744073709551615u", "true")]
    [InlineData("dyn(9223372036854775808u) > 1 && dyn(1u) > -9223372036854775808 && dyn(1) < 9223372036854775808u", "true")]
    [InlineData("dyn(3.0) in [1, 2, 3] && dyn(3) in [1.0, 2.0, 3.0] && dyn(3u) in [5, 4, 3]", "true")]
    [InlineData("[1.0, 2.0, 3] == [1u, 2, 3u] && {1: 1.0, 2u: 3u} == {1u: 1, 2: 3.0}", "true")]
    [InlineData("{1: 'a', 2u: 'b'}[2.0] == 'b' && {1: 'a', 2u: 'b'}[1u] == 'a'", "true")]
    [InlineData("{1: 'a'}[dyn(1.5)] == 'a'", "error: no such key")]
    [InlineData("{1: 'a'}[1.5] == 'a'", "compile: found no matching overload for '[]' applied to '(map(int, string), double)'")]
    // the checker wants one type on both sides of ==, and a list of the element's type for in (dyn defers to run time)
    [InlineData("1 == 1.0", "compile: found no matching overload for '==' applied to '(int, double)'")]
    [InlineData("2 in [1.0, 2.0]", "compile: found no matching overload for 'in'")]
    [InlineData("budget.spent == 10", "compile: found no matching overload for '==' applied to '(double, int)'")]
    [InlineData("budget.spent == 10.0 && cost < 1 && cost > 0u && budget.limit - budget.spent == 10.0", "true")]
    public void Evaluate_Numbers_FollowCelSpec(string expression, string expected) => CelCases.Check(expression, expected);
}
